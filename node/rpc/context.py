"""What a JSON-RPC handler may use: the running service and the filter registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from node.rpc.filters import FilterRegistry
from node.service import ChainService


@dataclass
class RpcContext:
    service: ChainService
    filters: FilterRegistry
    client_version: str


Handler = Callable[[RpcContext, list[Any]], Awaitable[Any]]
