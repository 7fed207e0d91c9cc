"""Shared fixtures: development chains, and real node processes started on loopback.

Servers a test needs are started here and stopped after the test. Readiness is awaited by polling
the server's health endpoint with a deadline (a condition, not a sleep).
"""

from __future__ import annotations

import os

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from scripts.contract_driver import ARTIFACTS, ROOT, DevNet, artifact, make_devnet  # noqa: E402

__all__ = ["ARTIFACTS", "ROOT", "DevNet", "artifact", "make_devnet"]

NODE_BIN = ROOT / "node_modules" / ".bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def devnet(tmp_path: Path) -> DevNet:
    return make_devnet(tmp_path / "node")


class CliProcess:
    """A ``cityledger …`` child process on loopback, ready once ``url + READY_PATH`` answers 200.
    Subclasses (dataclasses) give ``args``, ``log_path``, ``proc`` and ``url``."""

    WHAT = "process"
    READY_PATH = "/health"

    def launch(self, timeout: float) -> Any:
        log = self.log_path.open("ab")  # type: ignore[attr-defined]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityledger_cli", *self.args], stdout=log,  # type: ignore[attr-defined]
            stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.WHAT} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + self.READY_PATH, timeout=1.0).status_code == 200:  # type: ignore[attr-defined]
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # polling interval while waiting for the port to open, not a sync sleep
        raise RuntimeError(f"{self.WHAT} did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        path: Path = self.log_path  # type: ignore[attr-defined]
        return path.read_text(errors="replace")[-20_000:] if path.exists() else ""


@dataclass
class NodeProcess(CliProcess):
    """A ``cityledger node run|follow`` process on loopback."""

    WHAT = "node"

    args: list[str]
    port: int
    ws_port: int | None
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port or self.port}"

    def start(self, timeout: float = 60.0) -> NodeProcess:
        self.starts += 1
        return self.launch(timeout)

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        answer = httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                            "params": params or []}, timeout=30).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


def sealer_process(devnet: DevNet, block_time: float = 0.2, ws: bool = True) -> NodeProcess:
    port = free_port()
    ws_port = free_port() if ws else None
    args = ["node", "run", "--data-dir", str(devnet.data_dir), "--http", f"127.0.0.1:{port}",
            "--block-time", str(block_time)]
    if ws_port:
        args += ["--ws", f"127.0.0.1:{ws_port}"]
    return NodeProcess(args, port, ws_port, devnet.data_dir.parent / f"node-{port}.log")


def replica_process(devnet: DevNet, data_dir: Path, upstream: str) -> NodeProcess:
    port = free_port()
    args = ["node", "follow", "--data-dir", str(data_dir), "--genesis", str(devnet.genesis_path),
            "--upstream", upstream, "--http", f"127.0.0.1:{port}"]
    data_dir.mkdir(parents=True, exist_ok=True)
    return NodeProcess(args, port, None, data_dir.parent / f"replica-{port}.log")


@pytest.fixture
def node(devnet: DevNet) -> Iterator[NodeProcess]:
    proc = sealer_process(devnet).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def w3(node: NodeProcess) -> Any:
    from web3 import Web3
    from web3.middleware import ExtraDataToPOAMiddleware

    client = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    client.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return client


# Gateway fixtures (a node process, its address book, the app in-process) live in their own module.
from gateway_harness import addressbook, chain  # noqa: E402,F401
from pg_harness import postgres_server, postgres_url  # noqa: E402,F401
# One demo city (`scripts/start --demo`, the README's walkthrough) shared by the end-to-end tests.
from demo_harness import demo_city  # noqa: E402,F401
