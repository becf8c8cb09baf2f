"""medthreat: threat modeling and security risk documentation for medical devices.

The public API is small::

    import medthreat as mt
    model = mt.load_model("notebooks/models/ai_patient_monitoring.yaml")
    result = mt.analyze(model)
    for finding in result.findings:
        print(finding.id, finding.stride.value, finding.title)
"""

from .catalog import Catalog
from .engine import Analysis, Finding, analyze
from .errors import CatalogError, MedthreatError, ModelError
from .model import Model, load_model, save_model

__all__ = [
    "Analysis",
    "Catalog",
    "CatalogError",
    "Finding",
    "MedthreatError",
    "Model",
    "ModelError",
    "analyze",
    "load_model",
    "save_model",
]

__version__ = "0.1.0"
