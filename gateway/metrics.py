"""Prometheus metrics of one gateway (text format at ``GET /metrics``).

Each app has its own registry, so several gateways in one test process never share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The gateway's instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cityledger_gateway_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("cityledger_gateway_request_seconds", "HTTP request latency by route",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.indexed_height = Gauge("cityledger_gateway_indexed_height", "Highest indexed block",
                                    registry=self.registry)
        self.chain_head = Gauge("cityledger_gateway_chain_head", "Chain head seen by the indexer",
                                registry=self.registry)
        self.indexer_lag = Gauge("cityledger_gateway_indexer_lag_blocks", "Chain head minus indexed height",
                                 registry=self.registry)
        self.index_seconds = Histogram("cityledger_gateway_index_batch_seconds", "Time to index one batch of blocks",
                                       registry=self.registry)
        self.proof_failures = Counter("cityledger_gateway_proof_self_check_failures",
                                      "Records whose stored proof failed the gateway's own check",
                                      ["check"], registry=self.registry)
