"""quoteflow: real-time financial market data in one package.

Ingest provider feeds, normalize them to one set of records, enrich, record and
deliver them. Start with :mod:`quoteflow.events` (the records),
:mod:`quoteflow.feeds` (providers) and :mod:`quoteflow.runtime` (the pipeline).
"""

from importlib.metadata import version

__version__ = version("quoteflow")

__all__ = ["__version__"]
