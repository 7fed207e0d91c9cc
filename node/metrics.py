"""Operator metrics in Prometheus text format (``--metrics HOST:PORT``), with ``prometheus_client``.

One registry per node (not the library's global one), so several nodes in one process (tests)
keep their figures apart.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NodeMetrics:
    """Every metric the node exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.head = Gauge("cityledger_head_block", "Number of the chain's head block.", registry=r)
        self.sealed_transactions = Counter(
            "cityledger_sealed_transactions", "Transactions included in blocks this node sealed.", registry=r)
        self.pool_size = Gauge("cityledger_pool_transactions", "Transactions waiting to be sealed.", registry=r)
        self.seal_seconds = Histogram(
            "cityledger_seal_seconds", "Time to finalise, seal and commit one block.", buckets=_SECONDS, registry=r)
        self.import_seconds = Histogram(
            "cityledger_import_seconds", "Time to verify and commit one imported block (replicas).",
            buckets=_SECONDS, registry=r)
        self.rpc_requests = Counter(
            "cityledger_rpc_requests", "JSON-RPC requests by method and error code (0: success).",
            ["method", "code"], registry=r)
        self.rpc_seconds = Histogram(
            "cityledger_rpc_seconds", "JSON-RPC request latency by method.", ["method"], buckets=_SECONDS,
            registry=r)
        self.replica_lag = Gauge(
            "cityledger_replica_lag_blocks", "Blocks the replica is behind its upstream.", registry=r)
        self.refused_blocks = Counter(
            "cityledger_refused_blocks", "Blocks the replica refused, by failed check.", ["check"], registry=r)

    def exposition(self) -> tuple[bytes, str]:
        """The current figures in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def metrics_app(metrics: NodeMetrics) -> Any:
    """An ASGI app serving ``GET /metrics`` (and ``/``) in Prometheus text format."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def scrape(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return Starlette(routes=[Route("/metrics", scrape, methods=["GET"]), Route("/", scrape, methods=["GET"])])
