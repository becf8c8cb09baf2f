"""CVSS vectors (3.0, 3.1, 4.0) to the policy's 5-level exploitability, via the ``cvss`` package.

A finding may carry a CVSS vector (in its decision) when someone has scored it as a concrete
vulnerability. Only the exploitability part is used; impact stays with medthreat's own severity,
privacy and business scales, which a CVSS impact cannot express (patient harm).

Mapping, documented in docs/risk-assessment.md:

- CVSS 3.x: the exploitability sub-score ``8.22 x AV x AC x PR x UI`` (0.12 to 3.89):
  >= 3.5 very high (5), >= 2.5 high (4), >= 1.5 moderate (3), >= 0.7 low (2), else very low (1).
- CVSS 4.0 has no exploitability sub-score: the vector's exploitability metrics (AV, AC, AT,
  PR, UI) are scored with the vulnerable system's impact fixed at high and no subsequent-system
  impact, which isolates how easy the attack is (from 5.4 for a physical, hard, attack-
  requirement-present, high-privilege, active-interaction attack up to 9.3 for the easiest):
  >= 9.0 very high, >= 8.0 high, >= 7.0 moderate, >= 6.0 low, else very low.
"""

from __future__ import annotations

from typing import Any

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

__all__ = ["CVSS3_BANDS", "CVSS4_BANDS", "cvss_exploitability", "parse_cvss"]

#: (lowest score, exploitability rank), highest band first.
CVSS3_BANDS = ((3.5, 5), (2.5, 4), (1.5, 3), (0.7, 2), (0.0, 1))
CVSS4_BANDS = ((9.0, 5), (8.0, 4), (7.0, 3), (6.0, 2), (0.0, 1))
_CVSS4_EXPLOITABILITY = ("AV", "AC", "AT", "PR", "UI")


def parse_cvss(vector: str) -> Any:
    """The ``cvss`` package's object for a 3.x or 4.0 vector; ValueError when invalid."""
    try:
        if vector.startswith("CVSS:4.0/"):
            return CVSS4(vector)
        if vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            return CVSS3(vector)
    except CVSSError as exc:
        raise ValueError(f"invalid CVSS vector {vector!r}: {exc}") from None
    raise ValueError(f"{vector!r} is not a CVSS 3.0, 3.1 or 4.0 vector (it should start with "
                     "CVSS:3.1/ or CVSS:4.0/)")


def _band(score: float, bands: tuple[tuple[float, int], ...]) -> int:
    return next(rank for floor, rank in bands if score >= floor)


def cvss_exploitability(vector: str) -> tuple[int, str]:
    """Exploitability rank (1-5) of a CVSS vector and the reason, in words."""
    parsed = parse_cvss(vector)
    if isinstance(parsed, CVSS3):
        score = round(float(parsed.esc), 2)
        return _band(score, CVSS3_BANDS), f"CVSS {vector}: exploitability sub-score {score}"
    metrics = dict(part.split(":", 1) for part in parsed.vector.split("/")[1:])
    probe = "CVSS:4.0/" + "/".join(f"{m}:{metrics[m]}" for m in _CVSS4_EXPLOITABILITY)
    probe += "/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    score = float(CVSS4(probe).base_score)
    return _band(score, CVSS4_BANDS), (f"CVSS {vector}: exploitability metrics score {score} "
                                       "with the vulnerable system's impact held at high")
