"""What every live feed shares: backoff with jitter, metrics, and REST retries."""

import random

import aiohttp
import pytest
from aiohttp import web

from quoteflow.errors import FeedConnectionError, FeedError
from quoteflow.events import Bar, Quote
from quoteflow.feeds.base import Normalized
from quoteflow.feeds.connection import Backoff, FeedMetrics
from quoteflow.feeds.rest import RestClient
from tests.feeds.servers import serving


def test_backoff_delays_stay_below_a_doubling_cap_and_start_over_after_reset():
    backoff = Backoff(0.5, 8.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(12)]
    caps = [min(8.0, 0.5 * 2**n) for n in range(12)]
    assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len(set(delays)) == len(delays)  # jitter: no two clients retry in step
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_feed_metrics_count_records_and_take_lag_from_live_records_only():
    metrics = FeedMetrics("test")
    quotes = [Quote("P", "A", ts * 1_000_000, 0, bid_price=1.0, ask_price=1.1) for ts in range(10)]
    bar = Bar("P", "A", 0, 0, "1m", 1, 1, 1, 1, 1)  # a bar's ts_event is its start: no lag
    metrics.observe(Normalized([*quotes, bar]), ts_recv_ns=20_000_000)
    summary = metrics.summary()
    assert summary["records"] == 11 and summary["frames"] == 1
    assert 10.0 <= summary["lag_p50_ms"] <= 20.0 and summary["lag_p99_ms"] <= 20.0
    assert "11 records" in metrics.line()


async def test_rest_client_retries_server_errors_and_reports_client_errors():
    answers = [500, 503, 200]

    async def flaky(request):
        return web.json_response({"ok": True}, status=answers.pop(0))

    async def refused(request):
        return web.json_response({"message": "bad symbol"}, status=422)

    app = web.Application()
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/refused", refused)
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    async with serving(app) as base, aiohttp.ClientSession() as http:
        rest = RestClient(http, base, provider="test", sleep=sleep, retries=2)
        assert await rest.get("/flaky") == b'{"ok": true}'
        assert len(slept) == 2
        with pytest.raises(FeedError, match=r"HTTP 422.*bad symbol"):
            await rest.get("/refused")
        answers[:] = [500, 500, 500]
        with pytest.raises(FeedConnectionError, match="failed 3 times"):
            await rest.get("/flaky")
