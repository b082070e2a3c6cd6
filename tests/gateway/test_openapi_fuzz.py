"""The REST API fuzzed from its own OpenAPI spec: no request makes it answer 5xx."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from quoteflow.access.keys import KeyStore
from quoteflow.app.gateway import lake_bars
from quoteflow.gateway.app import create_app
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.service import Gateway
from quoteflow.storage import LakeRoot
from tests.gateway.conftest import CHANNELS, publish

_directory = Path(tempfile.mkdtemp(prefix="quoteflow-fuzz-"))
_keys = KeyStore(_directory / "keys.db")
_, API_KEY = _keys.create("fuzz", channels=["*"], instruments=["*"])
_gateway = Gateway(Hub(), _keys, CHANNELS, bars=lake_bars(LakeRoot.open(_directory / "lake")))
publish(_gateway, ["AMZN", "BTC/USD", "CS.D.BITCOIN.CFE.IP"])
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_gateway))


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    for headers in ({"Authorization": f"Bearer {API_KEY}"}, {}):
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
