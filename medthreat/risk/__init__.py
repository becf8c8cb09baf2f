"""Risk assessment: the policy (scales, matrices, acceptance criteria) that rates findings.

``RiskPolicy.load()`` gives the shipped default policy; ``RiskPolicy.load(path)`` a
manufacturer's own. ``policy.risk(exploitability, severity, dimension)`` looks a rating up and
the returned :class:`RiskCell` explains which cell gave it.
"""

from .assess import HARM, Assessment, Factor, RiskRegister, Score, assess
from .policy import (
    DIMENSIONS,
    SCALE_NAMES,
    Acceptability,
    Control,
    Level,
    PolicyError,
    RiskCell,
    RiskLevel,
    RiskPolicy,
    Scale,
    default_policy_path,
)

__all__ = [
    "DIMENSIONS",
    "HARM",
    "SCALE_NAMES",
    "Acceptability",
    "Assessment",
    "Control",
    "Factor",
    "Level",
    "PolicyError",
    "RiskCell",
    "RiskLevel",
    "RiskPolicy",
    "RiskRegister",
    "Scale",
    "Score",
    "assess",
    "default_policy_path",
]
