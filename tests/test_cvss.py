"""CVSS vectors to exploitability levels (mapping documented in medthreat.risk.cvss)."""

from __future__ import annotations

import pytest

import medthreat as mt
from medthreat.lifecycle import Decision, Decisions
from medthreat.risk import assess
from medthreat.risk.cvss import cvss_exploitability

# CVSS 3.1 exploitability = 8.22 x AV x AC x PR x UI with the specification's weights.
AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
AC = {"L": 0.77, "H": 0.44}
PR = {"N": 0.85, "L": 0.62, "H": 0.27}  # scope unchanged
UI = {"N": 0.85, "R": 0.62}


@pytest.mark.parametrize(
    ("metrics", "rank"),
    [
        ("AV:N/AC:L/PR:N/UI:N", 5),  # 3.89
        ("AV:A/AC:L/PR:N/UI:N", 4),  # 2.84
        ("AV:N/AC:H/PR:N/UI:N", 3),  # 2.22
        ("AV:L/AC:L/PR:L/UI:N", 3),  # 1.83
        ("AV:L/AC:H/PR:N/UI:R", 2),  # 1.05
        ("AV:P/AC:L/PR:N/UI:N", 2),  # 0.91
        ("AV:P/AC:H/PR:H/UI:R", 1),  # 0.12
    ],
)
def test_cvss3_bands(metrics: str, rank: int) -> None:
    parts = dict(p.split(":") for p in metrics.split("/"))
    score = round(8.22 * AV[parts["AV"]] * AC[parts["AC"]] * PR[parts["PR"]] * UI[parts["UI"]],
                  2)
    expected = 5 if score >= 3.5 else 4 if score >= 2.5 else 3 if score >= 1.5 else \
        2 if score >= 0.7 else 1
    got, why = cvss_exploitability(f"CVSS:3.1/{metrics}/S:U/C:H/I:H/A:H")
    assert got == expected == rank
    assert f"exploitability sub-score {score}" in why


def test_cvss4_uses_exploitability_metrics_only() -> None:
    easy = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N"
    hard = "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"
    assert cvss_exploitability(easy)[0] == 5  # low impact does not lower exploitability
    assert "score 9.3" in cvss_exploitability(easy)[1]
    assert cvss_exploitability(hard)[0] == 1  # high impact does not raise it
    adjacent = "CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert cvss_exploitability(adjacent)[0] == 4


@pytest.mark.parametrize("vector", ["CVSS:3.1/AV:X", "AV:N/AC:L", "CVSS:2.0/AV:N"])
def test_invalid_vectors(vector: str) -> None:
    with pytest.raises(ValueError, match="CVSS"):
        cvss_exploitability(vector)


def test_a_decision_cvss_vector_replaces_the_derived_exploitability() -> None:
    m = mt.Model("Pump")
    home = m.boundary("Home", kind="home_network", id="home")
    m.component("insulin_pump", "Pump", boundary=home, id="pump",
                functions=["therapy_delivery"])
    analysis = mt.analyze(m)
    plain = assess(analysis).get("MT-DEV-003@pump")
    assert plain is not None and plain.exploitability.level == "high"
    decisions = Decisions(decisions={"MT-DEV-003@pump": Decision(
        status="open", cvss="CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:H/A:H")})
    scored = assess(analysis, decisions=decisions).get("MT-DEV-003@pump")
    assert scored is not None
    assert (scored.exploitability.rank, scored.exploitability.level) == (1, "very_low")
    assert scored.exploitability.factors[0].name == "CVSS"
    assert "replaces the derived level high" in scored.exploitability.factors[0].reason
    assert scored.risk.rank < plain.risk.rank
