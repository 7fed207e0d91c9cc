"""JSON-RPC 2.0 over HTTP (batches included) and WebSocket (with ``eth_subscribe``).

This module is the only place where node errors become JSON-RPC error objects (``error_object``).
Methods are looked up in explicit per-namespace tables, so no request can reach anything that
is not a published method. The items of a batch are served concurrently (JSON-RPC 2.0 section 6
leaves the order of processing open; answers keep the batch's order), which lets a batch of
``eth_sendRawTransaction`` reach the sealer as one message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from node.errors import (
    ExecutionReverted,
    InvalidParams,
    LimitExceeded,
    NodeError,
    ResourceNotFound,
    SealerUnavailable,
    TransactionRejected,
    UpstreamError,
    UpstreamUnavailable,
)
from node.index import LogFilter
from node.rpc import cityledger, debug, eth, net
from node.rpc.context import Handler, RpcContext
from node.rpc.filters import FilterRegistry
from node.rpc.formatters import header_json, log_json, status_json
from node.service import ChainService, NewBlock

log = logging.getLogger("cityledger.rpc")

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_BATCH = 1_000
MAX_WS_SUBSCRIPTIONS = 100
MAX_WS_QUEUE = 10_000

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32001
RESOURCE_UNAVAILABLE = -32002
TRANSACTION_REJECTED = -32003
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3

METHODS: dict[str, Handler] = {**eth.METHODS, **net.METHODS, **debug.METHODS, **cityledger.METHODS}


def error_object(exc: BaseException) -> dict[str, Any]:
    """Map an exception to a JSON-RPC error object (JSON-RPC 2.0 section 5.1, EIP-1474,
    execution-apis: code 3 carries revert data)."""
    if isinstance(exc, ExecutionReverted):
        return {"code": EXECUTION_REVERTED, "message": str(exc), "data": "0x" + exc.data.hex()}
    if isinstance(exc, InvalidParams):
        return {"code": INVALID_PARAMS, "message": f"invalid params: {exc}"}
    if isinstance(exc, TransactionRejected):
        return {"code": TRANSACTION_REJECTED, "message": exc.message, "data": {"reason": exc.reason}}
    if isinstance(exc, ResourceNotFound):
        return {"code": RESOURCE_NOT_FOUND, "message": str(exc)}
    if isinstance(exc, LimitExceeded):
        return {"code": LIMIT_EXCEEDED, "message": str(exc)}
    if isinstance(exc, UpstreamError):
        out: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            out["data"] = exc.data
        return out
    if isinstance(exc, (UpstreamUnavailable, SealerUnavailable)):
        return {"code": RESOURCE_UNAVAILABLE, "message": str(exc)}
    if isinstance(exc, NodeError):
        return {"code": INTERNAL_ERROR, "message": str(exc)}
    log.exception("internal error", exc_info=exc)
    return {"code": INTERNAL_ERROR, "message": f"internal error: {type(exc).__name__}"}


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class RpcServer:
    """Dispatches decoded JSON-RPC payloads against a :class:`RpcContext`."""

    def __init__(self, ctx: RpcContext, extra: dict[str, Handler] | None = None) -> None:
        self.ctx = ctx
        self.methods = dict(METHODS)
        if extra:
            self.methods.update(extra)

    async def handle_payload(self, payload: Any, connection: _WsConnection | None = None) -> Any:
        """One decoded request or batch; returns the response (None when nothing is due)."""
        if isinstance(payload, list):
            if not payload:
                return _error(INVALID_REQUEST, "invalid request: empty batch")
            if len(payload) > MAX_BATCH:
                return _error(LIMIT_EXCEEDED, f"batch of {len(payload)} exceeds the limit of {MAX_BATCH}")
            responses = await asyncio.gather(*(self.handle_one(item, connection) for item in payload))
            kept = [r for r in responses if r is not None]
            return kept or None
        return await self.handle_one(payload, connection)

    async def handle_one(self, request: Any, connection: _WsConnection | None = None) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(INVALID_REQUEST, "invalid request: expected a JSON object")
        request_id = request.get("id")
        is_notification = "id" not in request
        if request.get("jsonrpc") != "2.0":
            return _error(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"', request_id)
        if request_id is not None and not isinstance(request_id, (str, int, float)):
            return _error(INVALID_REQUEST, "invalid request: id must be a string, number or null")
        method = request.get("method")
        if not isinstance(method, str):
            return _error(INVALID_REQUEST, 'invalid request: "method" must be a string', request_id)
        params = request.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(INVALID_PARAMS, "invalid params: params must be an array", request_id)
        metrics = self.ctx.service.metrics
        started = time.perf_counter()
        try:
            if connection is not None and method in ("eth_subscribe", "eth_unsubscribe"):
                result = await connection.subscription_call(method, params)
            else:
                handler = self.methods.get(method)
                if handler is None:
                    metrics.rpc_requests.labels("(unknown)", str(METHOD_NOT_FOUND)).inc()
                    return _error(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available",
                                  request_id)
                result = await handler(self.ctx, params)
        except Exception as exc:
            error = error_object(exc)
            metrics.rpc_requests.labels(method, str(error["code"])).inc()
            metrics.rpc_seconds.labels(method).observe(time.perf_counter() - started)
            if is_notification:
                return None
            return {"jsonrpc": "2.0", "id": request_id, "error": error}
        metrics.rpc_requests.labels(method, "0").inc()
        metrics.rpc_seconds.labels(method).observe(time.perf_counter() - started)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


class _WsConnection:
    """One WebSocket client: its subscriptions and an outbound queue drained by a sender task."""

    def __init__(self, socket: WebSocket, service: ChainService) -> None:
        self.socket = socket
        self.service = service
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(MAX_WS_QUEUE)
        self.subscriptions: dict[str, tuple[str, LogFilter | None]] = {}
        self.overflowed = False

    async def subscription_call(self, method: str, params: list[Any]) -> Any:
        if method == "eth_unsubscribe":
            (sub_id,) = _arity(params, 1)
            return self.subscriptions.pop(sub_id, None) is not None
        if not params:
            raise InvalidParams("eth_subscribe: subscription type required")
        kind = params[0]
        criteria: LogFilter | None = None
        if kind == "newHeads":
            _arity(params, 1)
        elif kind == "logs":
            if len(params) > 2:
                raise InvalidParams("eth_subscribe logs: expected at most a filter object")
            criteria = eth.parse_log_filter(params[1] if len(params) > 1 else {})
            if criteria.block_hash is not None:
                raise InvalidParams("eth_subscribe logs: blockHash is not allowed")
        else:
            raise InvalidParams(f"eth_subscribe: unsupported subscription type {kind!r} (newHeads, logs)")
        if len(self.subscriptions) >= MAX_WS_SUBSCRIPTIONS:
            raise LimitExceeded(f"at most {MAX_WS_SUBSCRIPTIONS} subscriptions per connection")
        sub_id = "0x" + secrets.token_hex(16)
        self.subscriptions[sub_id] = (kind, criteria)
        return sub_id

    async def on_block(self, new_block: NewBlock) -> None:
        header: dict[str, Any] | None = None
        for sub_id, (kind, criteria) in list(self.subscriptions.items()):
            if kind == "newHeads":
                header = header or header_json(new_block.header)
                self._push(sub_id, header)
            elif criteria is not None:
                for entry in new_block.logs:
                    if criteria.matches(entry):
                        self._push(sub_id, log_json(entry))

    def _push(self, sub_id: str, result: Any) -> None:
        message = json.dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                              "params": {"subscription": sub_id, "result": result}})
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True

    async def sender(self) -> None:
        while True:
            message = await self.queue.get()
            if message is None:
                return
            await self.socket.send_text(message)


def _arity(params: list[Any], n: int) -> list[Any]:
    if len(params) != n:
        raise InvalidParams(f"expected {n} parameters, got {len(params)}")
    return params


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def create_rpc_app(
    service: ChainService,
    client_version: str,
    *,
    extra_methods: dict[str, Handler] | None = None,
    manage_service: bool = True,
) -> Starlette:
    """The node's ASGI app: JSON-RPC on ``POST /`` and WebSocket ``/``; ``GET /health``."""
    filters = FilterRegistry()
    ctx = RpcContext(service=service, filters=filters, client_version=client_version)
    server = RpcServer(ctx, extra_methods)

    async def http_endpoint(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return JSONResponse(
                _error(LIMIT_EXCEEDED, f"request body exceeds the limit of {MAX_BODY_BYTES} bytes"),
                status_code=413)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return JSONResponse(_error(PARSE_ERROR, f"parse error: {exc}"))
        response = await server.handle_payload(payload)
        if response is None:
            return Response(status_code=204)
        return JSONResponse(response)

    async def health(request: Request) -> Response:
        return JSONResponse(status_json(await service.status()))

    async def ws_endpoint(socket: WebSocket) -> None:
        await socket.accept()
        connection = _WsConnection(socket, service)
        service.add_listener(connection.on_block)
        sender = asyncio.create_task(connection.sender())
        try:
            while True:
                # Clients may send text or binary frames (web3.py's WebSocketProvider sends binary).
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000))
                text: str | bytes | None = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                if len(text) > MAX_BODY_BYTES:
                    reply: Any = _error(LIMIT_EXCEEDED, f"message exceeds the limit of {MAX_BODY_BYTES} bytes")
                else:
                    try:
                        payload = json.loads(text)
                    except ValueError as exc:
                        reply = _error(PARSE_ERROR, f"parse error: {exc}")
                    else:
                        reply = await server.handle_payload(payload, connection)
                if reply is not None:
                    await connection.queue.put(json.dumps(reply))
                if connection.overflowed:
                    await socket.close(code=1008, reason="subscriber too slow; notifications dropped")
                    break
        except WebSocketDisconnect:
            pass
        finally:
            service.remove_listener(connection.on_block)
            sender.cancel()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.add_listener(filters.on_block)
        if manage_service:
            await service.start()
        try:
            yield
        finally:
            service.remove_listener(filters.on_block)
            if manage_service:
                await service.stop()

    return Starlette(
        routes=[
            Route("/", http_endpoint, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            WebSocketRoute("/", ws_endpoint),
        ],
        lifespan=lifespan,
    )
