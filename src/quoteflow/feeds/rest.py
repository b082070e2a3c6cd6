"""GET requests to a provider's REST API: credentials, rate limits and retries in one place."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from quoteflow.errors import AuthenticationError, FeedConnectionError, FeedError
from quoteflow.feeds.connection import Backoff

__all__ = ["RestClient"]

log = logging.getLogger("quoteflow.feeds")

_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class RestClient:
    """Send GET requests to one provider API and return the body of each answer.

    Rate limits: a 429 answer waits for ``Retry-After`` (seconds) or
    ``X-RateLimit-Reset`` (epoch seconds) and tries again; an answer with
    ``X-RateLimit-Remaining: 0`` makes the next request wait for the reset, so
    the client does not run into the limit in the first place. Server errors
    and dropped connections are retried ``retries`` times with backoff;
    401 and 403 raise :class:`~quoteflow.errors.AuthenticationError` at once.
    Header values (the credentials) never appear in errors or logs.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        retries: int = 5,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.provider = provider
        self.retries = retries
        self.waited_s = 0.0
        self._http = http
        self._headers = dict(headers or {})
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """Return the body of ``GET base_url + path`` once it answers 200.

        Raises AuthenticationError (401, 403), FeedError (any other 4xx, with the
        provider's message) or FeedConnectionError (retries used up).
        """
        url = f"{self.base_url}{path}"
        last_problem = ""
        for _ in range(self.retries + 1):
            await self._wait(self._not_before - self._clock())
            try:
                async with self._http.get(url, params=params, headers=self._headers) as answer:
                    body = await answer.read()
                    self._note_limit(answer.headers)
                    if answer.status == 200:
                        self._backoff.reset()
                        return body
                    problem = f"HTTP {answer.status}: {_excerpt(body)}"
                    if answer.status in (401, 403):
                        raise AuthenticationError(f"{self.provider}: {path} refused the "
                                                  f"credentials ({problem})")  # fmt: skip
                    if answer.status not in _RETRIED_STATUSES:
                        raise FeedError(f"{self.provider}: GET {path}: {problem}")
                    delay = self._retry_delay(answer.status, answer.headers)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                delay = self._backoff.next_delay()
            last_problem = problem
            log.warning("%s: GET %s: %s; retrying in %.2f s", self.provider, path, problem, delay)
            await self._wait(delay)
        raise FeedConnectionError(
            f"{self.provider}: GET {path} failed {self.retries + 1} times; last: {last_problem}"
        )

    def _note_limit(self, headers: Mapping[str, str]) -> None:
        if headers.get("X-RateLimit-Remaining") == "0":
            reset = _number(headers.get("X-RateLimit-Reset"))
            if reset is not None:
                self._not_before = max(self._not_before, reset)

    def _retry_delay(self, status: int, headers: Mapping[str, str]) -> float:
        if status == 429:
            retry_after = _number(headers.get("Retry-After"))
            if retry_after is not None:
                return retry_after
            reset = _number(headers.get("X-RateLimit-Reset"))
            if reset is not None:
                return max(0.0, reset - self._clock())
        return self._backoff.next_delay()

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited_s += seconds
            await self._sleep(seconds)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else f"{text[:limit]}..."
