"""A small JSON-RPC 2.0 client for the audit (any Ethereum node: CityLedger's, anvil, Besu).

The audit trusts nothing it receives here: every answer is checked against a header it hashed
itself. Requests are batched where the audit needs many answers (one HTTP round trip per batch).
"""

from __future__ import annotations

import http.client
import itertools
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

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
    """JSON-RPC over HTTP(S) with keep-alive (the standard library's ``http.client``: the audit
    starts a process per run, and an HTTP library's import would cost more than it saves)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RpcError("connect", 0, f"not an http(s) URL: {url!r}")
        self._parts = parts
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self._parts.hostname or "", self._parts.port, timeout=self.timeout)
        return self._connection

    def _post(self, method: str, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in (1, 2):  # a kept-alive connection the server closed is opened again, once
            connection = self._connect()
            try:
                connection.request("POST", self._path, body, headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2:
                    raise RpcError(method, 0, f"node {self.url} unavailable: {type(exc).__name__}: {exc}") from exc
        if response.status >= 400:
            raise RpcError(method, 0, f"node {self.url} unavailable: HTTP {response.status} {response.reason}")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise RpcError(method, 0, f"node {self.url} answered something that is not JSON: {exc}") from exc

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
