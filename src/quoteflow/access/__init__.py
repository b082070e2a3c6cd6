"""Who may use quoteflow's servers: API keys stored hashed, and checking them.

The gateway and the exchange both authenticate with these keys.
"""

from quoteflow.access.auth import Authenticator
from quoteflow.access.keys import ApiKey, KeyStore

__all__ = ["ApiKey", "Authenticator", "KeyStore"]
