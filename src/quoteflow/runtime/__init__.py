"""Wiring stages together: the embedded pipeline and the operator contract."""

from quoteflow.runtime.pipeline import Operator, Pipeline, Stage, install_stop_signals

__all__ = ["Operator", "Pipeline", "Stage", "install_stop_signals"]
