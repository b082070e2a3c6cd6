import os
from datetime import date

import pytest

from quoteflow.events import Quote, Trade
from quoteflow.feeds.synthetic import SyntheticMarket
from quoteflow.lake import LakeRoot

S = 1_000_000_000


def market_events(seconds: int = 1800, instruments=("A", "B/C"), seed: int = 3) -> list:
    """Synthetic quotes and trades of one session morning (2024-04-01)."""
    market = SyntheticMarket(list(instruments), start=date(2024, 4, 1), rate_per_s=2, seed=seed)
    return [e for e in market.advance(seconds * S) if isinstance(e, (Quote, Trade))]


@pytest.fixture
def lake(tmp_path) -> LakeRoot:
    return LakeRoot.open(tmp_path / "lake")


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback, with fake credentials; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server, request) -> str:
    """A fresh bucket on the moto server; returns s3://<bucket>/lake."""
    import boto3

    name = "lake-" + request.node.name.lower().replace("_", "-")[:40]
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=name)
    return f"s3://{name}/lake"
