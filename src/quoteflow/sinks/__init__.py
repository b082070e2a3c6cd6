"""Where records leave the pipeline: the base of every sink, files, JSON lines, a summary."""

from quoteflow.sinks.base import Sink
from quoteflow.sinks.json_lines import JsonLinesSink
from quoteflow.sinks.record_files import RecordFilesSink
from quoteflow.sinks.summary import SummarySink

__all__ = ["JsonLinesSink", "RecordFilesSink", "Sink", "SummarySink"]
