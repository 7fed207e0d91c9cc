"""A real Kubo (IPFS) node for the tests, started offline on loopback and stopped after.

``scripts/install`` builds Kubo at the version pinned in ``tools/kubo/go.mod`` and links it at
``.tools/bin/ipfs`` (``scripts/build-kubo``). The node gets a fresh repository in a temporary
directory (``ipfs init --profile test --empty-repo``), no bootstrap peers, its RPC API on a free
loopback port, and runs ``ipfs daemon --offline``; readiness is awaited by polling the API with a
deadline. Test modules import the ``kubo`` fixture (module scope: one node per module).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, free_port

KUBO = ROOT / ".tools" / "bin" / "ipfs"


@dataclass
class KuboNode:
    """A running ``ipfs daemon --offline`` with its repository at ``repo``."""

    repo: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "IPFS_PATH": str(self.repo)}

    def ipfs(self, *args: str, input: bytes | None = None, timeout: float = 120) -> bytes:
        """Run the ``ipfs`` command line against this node (it finds the daemon through the repo)."""
        result = subprocess.run([str(KUBO), *args], env=self.env, input=input, capture_output=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"ipfs {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
        return result.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-10_000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_kubo(workdir: Path, timeout: float = 60.0) -> KuboNode:
    if not KUBO.exists():
        raise RuntimeError(f"Kubo is not built: {KUBO} is missing (scripts/install runs scripts/build-kubo)")
    repo = workdir / "ipfs-repo"
    env = {**os.environ, "IPFS_PATH": str(repo)}
    subprocess.run([str(KUBO), "init", "--profile", "test", "--empty-repo"], env=env, check=True,
                   capture_output=True, timeout=60)
    port = free_port()
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Addresses"]["API"] = f"/ip4/127.0.0.1/tcp/{port}"
    config["Addresses"]["Gateway"] = []
    config["Addresses"]["Swarm"] = []
    config["Bootstrap"] = []
    config_path.write_text(json.dumps(config, indent=2))
    log_path = workdir / "kubo.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([str(KUBO), "daemon", "--offline"], env=env, stdout=log, stderr=subprocess.STDOUT)
    node = KuboNode(repo, port, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Kubo exited with {proc.returncode}:\n{node.log()}")
        try:
            if httpx.post(f"{node.url}/api/v0/version", timeout=1.0).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling interval while the daemon opens its API, not a synchronisation sleep
    node.stop()
    raise RuntimeError(f"Kubo did not become ready within {timeout} s:\n{node.log()}")


@pytest.fixture(scope="module")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboNode]:
    node = start_kubo(tmp_path_factory.mktemp("kubo"))
    try:
        yield node
    finally:
        node.stop()
