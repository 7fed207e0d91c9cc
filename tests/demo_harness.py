"""One demo city for the whole session (registered in tests/conftest.py): the README's first
walkthrough command (``scripts/start --demo``) run once, as written, into a temporary data
directory on free ports, shared by every end-to-end test of the client and of ``cityledger up``.

The README's walkthrough is read here, so the README and the tests cannot drift apart: the
commands between ``<!-- walkthrough`` and ``<!-- /walkthrough -->`` are the ones that run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, free_port

README = ROOT / "README.md"
#: Generous: the command installs first (a no-op when nothing changed), then starts both services
#: and plays the whole demo, 10,000-entry batch included; on the shared 2-core machine that is
#: usually under half a minute.
START_TIMEOUT = 600.0
READY = "ready; Ctrl-C stops"


def walkthrough_commands(text: str | None = None) -> list[str]:
    """The shell commands of the README's walkthrough, in order (continuation lines joined,
    comments and blank lines dropped)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(r"<!-- walkthrough.*?-->(.*?)<!-- /walkthrough -->", text, re.S)
    if match is None:
        raise AssertionError("README.md has no <!-- walkthrough --> … <!-- /walkthrough --> section")
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", match.group(1), re.S):
        pending = ""
        for line in block.splitlines():
            line = pending + line.strip() if pending else line.strip()
            if line.endswith("\\"):
                pending = line[:-1].rstrip() + " "
                continue
            pending = ""
            if line and not line.startswith("#"):
                commands.append(re.sub(r"\s+#\s.*$", "", line))
    return commands


class DemoFiles:
    """What a demo city's data directory (``self.data_dir``) holds: ``scripts/start --demo``'s facts
    (``demo.json``) and the development keys file."""

    data_dir: Path

    @property
    def doc(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "demo.json").read_text(encoding="utf-8")))

    @property
    def keys(self) -> Path:
        return self.data_dir / "dev-keys.json"


@dataclass
class DemoCity(DemoFiles):
    """``scripts/start --demo`` (the walkthrough's first command) running on free ports."""

    root: Path
    start_command: str
    node_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "dev"

    @property
    def log_path(self) -> Path:
        return self.root / f"start-{self.starts}.log"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def rpc(self) -> str:
        return f"http://127.0.0.1:{self.node_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment commands run in: the demo's directory and ports instead of the defaults
        (data/dev, 8545, 8080), fast blocks, and a sign-in token cache of its own (not
        ``XDG_CACHE_HOME``: the install step keeps its Kubo build there)."""
        return {**os.environ, "CITYLEDGER_DATA": str(self.data_dir), "CITYLEDGER_NODE_PORT": str(self.node_port),
                "CITYLEDGER_WS_PORT": str(self.ws_port), "CITYLEDGER_GATEWAY_PORT": str(self.gateway_port),
                "CITYLEDGER_BLOCK_TIME": "0.1", "CITYLEDGER_GATEWAY": self.gateway,
                "CITYLEDGER_CACHE": str(self.root / "client-cache"), "PYTHONUNBUFFERED": "1"}


    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = START_TIMEOUT) -> DemoCity:
        self.starts += 1
        log = self.log_path.open("wb")
        # `exec` in scripts/start makes this process `cityledger up` itself: signals reach it.
        self.proc = subprocess.Popen(["bash", "-c", f"exec {self.start_command}"], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while READY not in self.output():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.start_command!r} exited with {self.proc.returncode}:\n{self.output()[-6000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.start_command!r} was not ready within {timeout:.0f} s:\n{self.output()[-6000:]}")
            time.sleep(0.2)  # polling the command's output for its ready line, bounded by the deadline
        return self

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal ``cityledger up`` and wait for it (it stops the gateway and the node first)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCity]:
    city = DemoCity(tmp_path_factory.mktemp("demo-city"), walkthrough_commands()[0])
    city.start()
    try:
        yield city
    finally:
        city.stop()
