"""Polling filters (``eth_newFilter`` and friends), fed by the service's new-block events.

Filters live in memory, like every Ethereum client's; one not polled for ``ttl`` seconds is
removed, as go-ethereum does after five minutes.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from node.errors import ResourceNotFound
from node.service import NewBlock

MAX_FILTERS = 1_000
MAX_BUFFER = 10_000


@dataclass
class LogCriteria:
    addresses: frozenset[str] | None
    topics: list[frozenset[str] | None]
    from_block: int | str
    to_block: int | str

    def matches(self, log: dict[str, Any]) -> bool:
        if self.addresses is not None and log["address"].lower() not in self.addresses:
            return False
        log_topics = log["topics"]
        for position, wanted in enumerate(self.topics):
            if wanted is None:
                continue
            if position >= len(log_topics) or log_topics[position] not in wanted:
                return False
        return True


@dataclass
class _Filter:
    kind: str  # "block" | "logs"
    criteria: LogCriteria | None
    last_poll: float
    changes: list[Any] = field(default_factory=list)


class FilterRegistry:
    def __init__(self, ttl: float = 300.0) -> None:
        self._filters: dict[str, _Filter] = {}
        self._ttl = ttl
        self._counter = itertools.count(1)

    def _new_id(self) -> str:
        return hex(int.from_bytes(secrets.token_bytes(15), "big") << 8 | next(self._counter) % 256)

    def add(self, kind: str, criteria: LogCriteria | None = None) -> str:
        self._expire()
        if len(self._filters) >= MAX_FILTERS:
            raise ResourceNotFound("too many filters installed; uninstall some first")
        filter_id = self._new_id()
        self._filters[filter_id] = _Filter(kind, criteria, time.monotonic())
        return filter_id

    def criteria(self, filter_id: str) -> LogCriteria:
        flt = self._get(filter_id)
        if flt.criteria is None:
            raise ResourceNotFound(f"filter {filter_id} is not a log filter")
        return flt.criteria

    def poll(self, filter_id: str) -> list[Any]:
        flt = self._get(filter_id)
        flt.last_poll = time.monotonic()
        changes, flt.changes = flt.changes, []
        return changes

    def remove(self, filter_id: str) -> bool:
        return self._filters.pop(filter_id, None) is not None

    def _get(self, filter_id: str) -> _Filter:
        self._expire()
        flt = self._filters.get(filter_id)
        if flt is None:
            raise ResourceNotFound(f"filter not found: {filter_id}")
        return flt

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl
        for filter_id in [k for k, f in self._filters.items() if f.last_poll < cutoff]:
            del self._filters[filter_id]

    async def on_block(self, new_block: NewBlock) -> None:
        number = new_block.block.header.block_number
        for flt in self._filters.values():
            if flt.kind == "block":
                flt.changes.append(new_block.header["hash"])
            elif flt.criteria is not None:
                crit = flt.criteria
                if isinstance(crit.to_block, int) and number > crit.to_block:
                    continue
                flt.changes.extend(log for log in new_block.logs if crit.matches(log))
            del flt.changes[:-MAX_BUFFER]
