"""quoteflow: real-time financial market data in one package.

Ingest provider feeds, normalize them to one set of records, enrich, record and
deliver them. Start with :mod:`quoteflow.events` (the records),
:mod:`quoteflow.feeds` (providers) and :mod:`quoteflow.runtime` (the pipeline).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
