"""medthreat: threat modeling and security risk documentation for medical devices.

The public API is small::

    import medthreat as mt
    model = mt.load_model("notebooks/models/ai_patient_monitoring.yaml")
    result = mt.analyze(model)
    for finding in result.findings:
        print(finding.id, finding.stride.value, finding.title)
    register = mt.assess(result)          # exploitability x impact, before and after controls
    print(len(register.unacceptable()), "unacceptable residual risks")
"""

from .catalog import Catalog
from .engine import Analysis, Finding, analyze
from .errors import CatalogError, DecisionsError, MedthreatError, ModelError, PolicyError
from .lifecycle import Decisions, load_decisions
from .model import Model, load_model, save_model
from .risk import RiskPolicy, RiskRegister, assess

__all__ = [
    "Analysis",
    "Catalog",
    "CatalogError",
    "Decisions",
    "DecisionsError",
    "Finding",
    "MedthreatError",
    "Model",
    "ModelError",
    "PolicyError",
    "RiskPolicy",
    "RiskRegister",
    "analyze",
    "assess",
    "load_decisions",
    "load_model",
    "save_model",
]

__version__ = "0.1.0"
