"""A small JSON-RPC 2.0 client for the audit (any Ethereum node: CityLedger's, anvil, Besu).

The audit trusts nothing it receives here: every answer is checked against a header it hashed
itself. Requests are batched where the audit needs many answers (one HTTP round trip per batch).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx

from audit.errors import AuditError

METHOD_NOT_FOUND = -32601


class RpcError(AuditError):
    """Raised when the node cannot be reached or answers a request with a JSON-RPC error object.
    ``method`` is the method called, ``code`` the JSON-RPC error code (0 when the node was
    unreachable or answered something that is not JSON-RPC), ``message`` its message."""

    method: str
    code: int
    message: str

    def __init__(self, method: str, code: int, message: str) -> None:
        self.method = method
        self.code = code
        self.message = message
        super().__init__(f"{method}: {message}" + (f" (JSON-RPC error {code})" if code else ""))


class RpcClient:
    """JSON-RPC over HTTP with keep-alive."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self._ids = itertools.count(1)
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _post(self, method: str, payload: Any) -> Any:
        try:
            response = self._client.post(self.url, json=payload)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RpcError(method, 0, f"node {self.url} unavailable: {type(exc).__name__}: {exc}") from exc

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        answer = self._post(method, {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        return _result(method, answer)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several requests in one batch; results in order (an error object raises)."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in zip(ids, calls)]
        answers = self._post(calls[0][0], payload)
        if not isinstance(answers, list):
            _result(calls[0][0], answers)
            raise RpcError(calls[0][0], 0, "a batch was answered with a single object")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        return [_result(m, by_id.get(i)) for i, (m, _) in zip(ids, calls)]

    def supports(self, method: str, params: Sequence[Any]) -> bool:
        """Whether the node serves ``method`` (a method-not-found error says it does not)."""
        try:
            self.call(method, params)
        except RpcError as exc:
            if exc.code in (METHOD_NOT_FOUND, -32600, -32602):
                return False
            raise
        return True


def _result(method: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        raise RpcError(method, 0, "no answer for this request")
    error = answer.get("error")
    if error is not None:
        if isinstance(error, dict):
            raise RpcError(method, int(error.get("code", 0) or 0), str(error.get("message", "")))
        raise RpcError(method, 0, str(error))
    return answer.get("result")
