"""The analysis pipeline: stages, batching, progress, cancellation, aggregation."""

from core.engine.device import autocast, select_device
from core.engine.pipeline import AnalysisSettings, Progress, analyze

__all__ = ["AnalysisSettings", "Progress", "analyze", "autocast", "select_device"]
