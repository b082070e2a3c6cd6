"""What every HTTP API of quoteflow shares: one JSON error shape."""

from quoteflow.http.errors import error_response, install_error_handlers

__all__ = ["error_response", "install_error_handlers"]
