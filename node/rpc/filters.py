"""Polling filters (``eth_newFilter`` and friends), fed by the service's new-block events.

Filters live in memory, like every Ethereum client's; one not polled for ``ttl`` seconds is
removed, as go-ethereum does after five minutes. Changes are kept as domain objects (block hashes,
``LogEntry``) and formatted when polled.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from node.errors import LimitExceeded, ResourceNotFound
from node.index import LogEntry, LogFilter
from node.service import NewBlock

MAX_FILTERS = 1_000
MAX_BUFFER = 10_000


@dataclass
class _Filter:
    kind: str  # "block" | "logs"
    criteria: LogFilter | None
    last_poll: float
    changes: list[bytes | LogEntry] = field(default_factory=list)


class FilterRegistry:
    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._filters: dict[str, _Filter] = {}
        self._ttl = ttl
        self._clock = clock
        self._counter = itertools.count(1)

    def _new_id(self) -> str:
        return hex(int.from_bytes(secrets.token_bytes(15), "big") << 8 | next(self._counter) % 256)

    def add(self, kind: str, criteria: LogFilter | None = None) -> str:
        self._expire()
        if len(self._filters) >= MAX_FILTERS:
            raise LimitExceeded(f"too many filters installed (limit {MAX_FILTERS}); uninstall some first")
        filter_id = self._new_id()
        self._filters[filter_id] = _Filter(kind, criteria, self._clock())
        return filter_id

    def criteria(self, filter_id: str) -> LogFilter:
        flt = self._get(filter_id)
        if flt.criteria is None:
            raise ResourceNotFound(f"filter {filter_id} is not a log filter")
        return flt.criteria

    def poll(self, filter_id: str) -> list[bytes | LogEntry]:
        flt = self._get(filter_id)
        flt.last_poll = self._clock()
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
        cutoff = self._clock() - self._ttl
        for filter_id in [k for k, f in self._filters.items() if f.last_poll < cutoff]:
            del self._filters[filter_id]

    async def on_block(self, new_block: NewBlock) -> None:
        number = new_block.header.block_number
        for flt in self._filters.values():
            if flt.kind == "block":
                flt.changes.append(bytes(new_block.header.hash))
            elif flt.criteria is not None:
                crit = flt.criteria
                if isinstance(crit.to_block, int) and number > crit.to_block:
                    continue
                flt.changes.extend(entry for entry in new_block.logs if crit.matches(entry))
            del flt.changes[:-MAX_BUFFER]
