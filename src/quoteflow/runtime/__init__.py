"""Wiring stages together: the embedded pipeline and the operator contract."""

from quoteflow.runtime.pipeline import Operator, Pipeline, Sink, Stage, install_stop_signals

__all__ = ["Operator", "Pipeline", "Sink", "Stage", "install_stop_signals"]
