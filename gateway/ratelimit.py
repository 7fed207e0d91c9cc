"""Per-client rate limit for public (unauthenticated) routes: a token bucket per address.

The bucket holds ``limit`` tokens and refills at ``limit`` per minute; an empty bucket answers
429 with ``Retry-After`` (RFC 6585, RFC 9110 section 10.2.3).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import GatewayError

MAX_CLIENTS = 100_000


@dataclass
class RateLimited(GatewayError):
    """Raised when a client sends public requests faster than the gateway's limit."""

    limit_per_minute: int
    retry_after: int
    status = 429
    slug = "rate-limited"

    def __str__(self) -> str:
        return f"more than {self.limit_per_minute} requests per minute from this address; retry in {self.retry_after} s"


class RateLimiter:
    """Token buckets by client address; ``limit`` 0 turns the limiter off."""

    def __init__(self, limit_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit_per_minute
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, client: str) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        rate = self.limit / 60.0
        tokens, stamp = self._buckets.pop(client, (float(self.limit), now))
        tokens = min(float(self.limit), tokens + (now - stamp) * rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            raise RateLimited(self.limit, max(1, math.ceil((1.0 - tokens) / rate)))
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
