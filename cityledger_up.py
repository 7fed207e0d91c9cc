"""``cityledger up``: the whole product with one command, and ``cityledger demo show``.

``up`` initialises a development chain in DIR when there is none (``cityledger node init --dev``),
starts the node and the gateway as child processes on the embedded defaults (JSON-RPC on
127.0.0.1:8545, WebSocket on 8546, the gateway on 127.0.0.1:8080), waits until both answer, prints
the URLs and runs until Ctrl-C or SIGTERM, then stops the gateway and the node cleanly (SIGTERM,
then SIGKILL after a grace period). If either child exits on its own, the other is stopped and
``up`` exits 1, naming the log to read. With ``--demo`` it then plays the demo city through the
gateway with the members' client (``cityledger_demo``) and writes ``DIR/demo.json``; a DIR that
already holds a demo is only started, and its ``demo.json`` printed again.

This module sits beside ``cityledger_cli`` above the three packages: it starts the node and the
gateway as processes (they never import each other) and drives the gateway over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

ROOT = Path(__file__).resolve().parent


class UpError(Exception):
    """Raised when ``cityledger up`` cannot start or keep the product running (a child that does
    not answer in time, or exits)."""

    exit_code = 1


class _Stop(BaseException):
    """Raised by the signal handlers to unwind to the shutdown code."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class Child:
    """A child process (the node or the gateway) with its log file."""

    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # A session of its own: Ctrl-C reaches `up` only, which stops the children in order.
        self.proc = subprocess.Popen([sys.executable, "-m", "cityledger_cli", *self.args], cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when `up` dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def wait_until(child: Child, url: str, ready: Any, timeout: float) -> None:
    """Poll ``url`` until ``ready(response)`` holds, the child exits, or ``timeout`` passes."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if not child.alive():
            raise UpError(f"the {child.name} exited with {child.proc.returncode if child.proc else '?'} before it "
                          f"answered; its log {child.log_path} ends:\n{child.tail()}")
        try:
            if ready(httpx.get(url, timeout=2.0)):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise UpError(f"the {child.name} did not answer at {url} within {timeout:.0f} s; see {child.log_path}")
        time.sleep(0.1)  # polling interval while the port opens, bounded by the deadline


def _node_ready(response: Any) -> bool:
    return bool(response.status_code == 200)


def _gateway_ready(response: Any) -> bool:
    if response.status_code != 200:
        return False
    status = response.json()
    return bool(status.get("indexerError") is None and status.get("lag", 1) == 0)


@click.command(name="up", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/dev"),
              show_default=True, envvar="CITYLEDGER_DATA", show_envvar=True,
              help="The chain's directory: a development chain is initialised there when it has no genesis.json.")
@click.option("--node-port", type=click.IntRange(1, 65535), default=8545, show_default=True,
              envvar="CITYLEDGER_NODE_PORT", show_envvar=True, help="The node's JSON-RPC port (HTTP, on 127.0.0.1).")
@click.option("--ws-port", type=click.IntRange(0, 65535), default=8546, show_default=True,
              envvar="CITYLEDGER_WS_PORT", show_envvar=True, help="The node's WebSocket port (0: no WebSocket).")
@click.option("--gateway-port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              envvar="CITYLEDGER_GATEWAY_PORT", show_envvar=True, help="The gateway's port (on 127.0.0.1).")
@click.option("--block-time", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              envvar="CITYLEDGER_BLOCK_TIME", show_envvar=True,
              help="Seal at most one block every this many seconds (the node's --block-time).")
@click.option("--demo", is_flag=True, help="Then play the demo city through the gateway and write DIR/demo.json "
                                           "(skipped when DIR/demo.json exists: its content is printed again).")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds to wait for each service to answer.")
def up(data_dir: Path, node_port: int, ws_port: int, gateway_port: int, block_time: float, demo: bool,
       timeout: float) -> int:
    """Start the node and the gateway together (a development chain in DIR if there is none), wait
    until both answer, print their URLs, and run until Ctrl-C (or SIGTERM), which stops both."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    genesis = data_dir / "genesis.json"
    if not genesis.exists():
        done = subprocess.run([sys.executable, "-m", "cityledger_cli", "node", "init", "--dev", "--data-dir",
                               str(data_dir)], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise UpError(f"cityledger node init --dev failed: {done.stderr.strip() or done.stdout.strip()}")
        click.echo(done.stdout.strip())
    rpc = f"http://127.0.0.1:{node_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    node_args = ["node", "run", "--data-dir", str(data_dir), "--http", f"127.0.0.1:{node_port}",
                 "--block-time", str(block_time)]
    if ws_port:
        node_args += ["--ws", f"127.0.0.1:{ws_port}"]
    node = Child("node", node_args, data_dir / "logs" / "node.log")
    gateway = Child("gateway", ["gateway", "run", "--rpc", rpc, "--data-dir", str(data_dir / "gateway"), "--genesis",
                                str(genesis), "--listen", f"127.0.0.1:{gateway_port}", "--rebuild-outdated-index"],
                    data_dir / "logs" / "gateway.log")
    children = [node, gateway]

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise _Stop(signum)

    def on_child(_signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                raise UpError(f"the {child.name} exited with {child.proc.returncode}; its log {child.log_path} ends:\n"
                              f"{child.tail()}")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        node.start()
        wait_until(node, rpc + "/health", _node_ready, timeout)
        gateway.start()
        wait_until(gateway, gateway_url + "/v1/status", _gateway_ready, timeout)
        signal.signal(signal.SIGCHLD, on_child)
        click.echo(f"node     JSON-RPC {rpc}" + (f"  WebSocket ws://127.0.0.1:{ws_port}" if ws_port else "")
                   + f"  (pid {node.pid}, log {node.log_path})")
        click.echo(f"gateway  {gateway_url}  (API {gateway_url}/docs; pid {gateway.pid}, log {gateway.log_path})")
        click.echo(f"keys     {data_dir / 'dev-keys.json'} (DEVELOPMENT ONLY)")
        if demo:
            run_demo(data_dir, gateway_url, rpc)
        click.echo("ready; Ctrl-C stops the gateway and the node", err=True)
        while True:
            signal.pause()
    except _Stop as stop:
        click.echo(f"stopping ({signal.Signals(stop.signum).name})", err=True)
        return 130 if stop.signum == signal.SIGINT else 0
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for s, handler in previous.items():
            signal.signal(s, handler)
        for child in reversed(children):
            child.stop()


def run_demo(data_dir: Path, gateway_url: str, rpc: str) -> None:
    """Play the demo unless DIR already holds one; print demo.json either way."""
    path = data_dir / "demo.json"
    if path.exists():
        click.echo(f"demo     already played in {data_dir}; {path}:")
    else:
        import cityledger_demo

        click.echo("demo     playing the demo city through the gateway:")
        started = time.monotonic()
        try:
            cityledger_demo.play(gateway_url, rpc, data_dir, say=click.echo)
        except Exception as exc:
            from gateway.errors import GatewayError

            if not isinstance(exc, GatewayError):
                raise
            raise UpError(f"the demo stopped: {exc} (the services keep the records made so far; a new data "
                          "directory starts afresh)") from exc
        click.echo(f"demo     done in {time.monotonic() - started:.1f} s; {path}:")
    click.echo(path.read_text(encoding="utf-8").rstrip())


# ------------------------------------------------------------------------------------ demo show
@click.group(name="demo", context_settings={"help_option_names": ["-h", "--help"]})
def demo() -> None:
    """What the demo city left in DIR/demo.json (written by `cityledger up --demo`)."""


@demo.command("show")
@click.argument("key", required=False)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/dev"),
              show_default=True, envvar="CITYLEDGER_DATA", show_envvar=True, help="The demo chain's directory.")
def show(key: str | None, data_dir: Path) -> None:
    """Print demo.json, or one value of it by a dotted KEY (`receipt_codes.0`, `grants.0.id`,
    `uscc.0`, `keys`): text as is, anything else as JSON, so it fits in a shell command."""
    path = data_dir / "demo.json"
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise UpError(f"{path} does not exist: run `cityledger up --demo` (or scripts/start --demo) first") from None
    except ValueError as exc:
        raise UpError(f"{path} is not JSON: {exc}") from None
    value = doc
    for part in (key.split(".") if key else []):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise click.BadParameter(f"demo.json has no {key!r}", param_hint="KEY")
    click.echo(value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------------------- demo key-files
def write_key_files(keys_file: Path, member: str, out: Path, password: str, scrypt_n: int = 1 << 14) -> tuple[Path, Path | None]:
    """A demo member's keys as a person opens them in the portal's console: its signing key as an
    encrypted Ethereum keystore (scrypt, work factor ``scrypt_n``) and, when it has one, its
    encryption key as an age key file (for payloads delivered to it). Returns both paths."""
    import re

    from eth_account import Account

    from gateway.client.keys import load_dev_keys, dev_entry

    entry = dev_entry(load_dev_keys(keys_file), member, str(keys_file))
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"\W+", "-", str(entry.get("name") or member)).strip("-").lower()
    keystore = out / f"{stem}.keystore.json"
    secret = bytes.fromhex(str(entry["private_key"]).removeprefix("0x"))
    doc = Account.encrypt(secret, password, kdf="scrypt", iterations=scrypt_n)
    fd = os.open(keystore, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
    age_key = None
    if entry.get("encryption_private_key"):
        from gateway.payloads.encryption import key_pair_from_private_key, write_key_file

        age_key = out / f"{stem}.age.key"
        write_key_file(key_pair_from_private_key(str(entry["encryption_private_key"])), age_key)
    return keystore, age_key


@demo.command("key-files")
@click.argument("member")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory to write to.")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The keystore's password (first line); asked for when not given.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/dev"),
              show_default=True, envvar="CITYLEDGER_DATA", show_envvar=True, help="The demo chain's directory.")
def key_files(member: str, out: Path, password_file: Path | None, data_dir: Path) -> None:
    """Write MEMBER's development keys (a name, part of one, an id or an address) as the files a
    person opens in the portal's member console (/console): an encrypted keystore and an age key.
    Development keys only: they are in DIR/dev-keys.json in the clear."""
    keys_file = data_dir / "dev-keys.json"
    if not keys_file.exists():
        raise UpError(f"{keys_file} does not exist: run `cityledger up` (or scripts/start) first")
    password = (password_file.read_text(encoding="utf-8").splitlines() or [""])[0] if password_file else \
        click.prompt("keystore password", hide_input=True, confirmation_prompt=True)
    keystore, age_key = write_key_files(keys_file, member, out, password)
    click.echo(f"keystore {keystore}")
    if age_key is not None:
        click.echo(f"age key  {age_key}")
