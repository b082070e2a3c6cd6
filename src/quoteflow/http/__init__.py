"""What every HTTP server of quoteflow shares: one JSON error shape and the uvicorn wrapper."""

from quoteflow.http.errors import error_response, install_error_handlers

__all__ = ["error_response", "install_error_handlers"]
