"""The order entry API fuzzed from its own OpenAPI spec: no request makes it answer 5xx."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from quoteflow.exchange.app import create_exchange_app
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from quoteflow.gateway.auth import Authenticator
from quoteflow.gateway.keys import KeyStore
from tests.exchange.test_service import INSTRUMENTS, Clock

_directory = Path(tempfile.mkdtemp(prefix="quoteflow-exchange-fuzz-"))
_keys = KeyStore(_directory / "keys.db")
_, API_KEY = _keys.create("fuzz", channels=["*"], instruments=["*"])
_exchange = Exchange(INSTRUMENTS, CommandStore(_directory / "x.db"), clock=Clock())
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_exchange_app(_exchange, Authenticator(_keys))
)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    for headers in ({"Authorization": f"Bearer {API_KEY}"}, {}):
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
