"""A small asynchronous JSON-RPC 2.0 client for the chain node (any Ethereum client).

Batches are used wherever the gateway needs many answers (web3.py's per-call overhead is 1–2 ms
here, NOTES.md); each error object becomes an ``UpstreamRpcError`` naming the method.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx

from gateway.errors import UpstreamRpcError, UpstreamUnavailable

METHOD_NOT_FOUND = -32601


class RpcClient:
    """JSON-RPC over HTTP with keep-alive; one instance per gateway process."""

    def __init__(self, url: str, *, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self._ids = itertools.count(1)
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport,
                                         limits=httpx.Limits(max_keepalive_connections=8))

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, payload: Any) -> Any:
        try:
            response = await self._client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 404:
            raise UpstreamUnavailable(self.url, f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamUnavailable(self.url, f"answer is not JSON: {exc}") from exc

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One request; the result, or ``UpstreamRpcError``."""
        answer = await self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                   "params": list(params)})
        return _result(method, answer)

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several requests in one JSON-RPC batch; results in the order of ``calls``."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)}
                   for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = await self._post(payload)
        if not isinstance(answers, list):
            # A node that refuses the whole batch answers with one error object.
            _result(calls[0][0], answers)
            raise UpstreamUnavailable(self.url, "batch answered with a single object")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        return [_result(method, by_id.get(first + i)) for i, (method, _) in enumerate(calls)]


def _result(method: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        raise UpstreamRpcError(method, -32603, "no answer for this request")
    error = answer.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise UpstreamRpcError(method, -32603, str(error))
        raise UpstreamRpcError(method, int(error.get("code", -32603)), str(error.get("message", "")),
                               error.get("data"))
    return answer.get("result")
