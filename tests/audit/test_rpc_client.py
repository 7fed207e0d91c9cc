"""The audit's JSON-RPC client against real sockets: a node that is not there, one that answers
something that is not JSON-RPC, and a kept-alive connection the server closed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audit.rpc import RpcClient, RpcError
from conftest import ROOT, free_port


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode = self.server.mode  # type: ignore[attr-defined]
        if mode == "html":
            body, status = b"<html>gateway error</html>", 200
        elif mode == "500":
            body, status = b"oops", 500
        else:
            answer = lambda r: {"jsonrpc": "2.0", "id": r["id"], "result": r["method"]}  # noqa: E731
            body = json.dumps([answer(r) for r in request] if isinstance(request, list) else answer(request)).encode()
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if mode == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.mode = "ok"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/"


def test_calls_and_batches_over_one_connection_and_again_after_the_server_closed_it(server: ThreadingHTTPServer) -> None:
    client = RpcClient(url(server))
    assert client.call("eth_chainId") == "eth_chainId"
    assert client.batch([("a", []), ("b", [1])]) == ["a", "b"]
    server.mode = "close"  # type: ignore[attr-defined]
    assert client.call("eth_blockNumber") == "eth_blockNumber"  # the server closes after answering
    server.mode = "ok"  # type: ignore[attr-defined]
    assert client.call("eth_blockNumber") == "eth_blockNumber"  # a new connection, transparently
    client.close()


@pytest.mark.parametrize("mode, words", [("html", "not JSON"), ("500", "HTTP 500")])
def test_an_answer_that_is_not_json_rpc_is_named(server: ThreadingHTTPServer, mode: str, words: str) -> None:
    server.mode = mode  # type: ignore[attr-defined]
    with pytest.raises(RpcError) as caught:
        RpcClient(url(server)).call("eth_chainId")
    assert caught.value.code == 0 and words in str(caught.value) and "eth_chainId" in str(caught.value)


def test_a_node_that_is_not_there() -> None:
    with pytest.raises(RpcError) as caught:
        RpcClient(f"http://127.0.0.1:{free_port()}").call("eth_chainId")
    assert "unavailable" in str(caught.value)
    with pytest.raises(RpcError):
        RpcClient("ftp://example.org/")


def test_audit_run_against_no_node_fails_with_a_clear_message(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cityledger_cli", "audit", "run", "--rpc", f"http://127.0.0.1:{free_port()}",
                           "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode != 0
    assert "unavailable" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
