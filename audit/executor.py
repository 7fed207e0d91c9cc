"""The differential executor: every block re-executed by an EVM other than the node's.

The executor is go-ethereum's ``evm t8n`` (the state-transition tool of an independent Ethereum
implementation, built at a pinned version by ``scripts/build-evm``), so a py-evm bug cannot hide
in both the node and its audit. When no ``evm`` binary is available the fallback is py-evm in a
separate process (``scripts/pyevm-t8n``, the same command-line contract): the audit package itself
never imports py-evm, and the report names the executor that judged each block.

How a chain is fed to t8n (a tool that runs one block on a given state):

* **State.** py-evm keeps no address or slot preimages, so the node cannot hand out its state as
  an allocation. The audit starts from the genesis allocation (``audit.genesis``), and chains
  t8n's post-state allocation block to block: the allocation t8n writes for block ``n`` is the
  input of block ``n + 1``, file to file, never parsed in Python.
* **Environment** from the header: coinbase, number, timestamp, gas limit, ``mixHash`` as
  PREVRANDAO, ``currentBaseFee`` (0 on CityLedger), excess blob gas, parent beacon root, and the
  last 256 block hashes (BLOCKHASH, and EIP-2935 where its contract exists).
* **Transactions** as the RLP list of their signed EIP-2718 encodings. t8n silently drops a
  transaction it cannot apply and lists it under ``rejected``; a block with any rejection is a
  disagreement (a sealed block may drop nothing).
* **Prague's request contracts.** t8n (v1.17.10) refuses a Prague block when the EIP-7002
  withdrawal-queue or EIP-7251 consolidation-queue contract has no code (EIP-2935 and EIP-4788
  calls to absent contracts are skipped, as on CityLedger and anvil). The audit therefore places
  a one-byte ``STOP`` at both addresses for the execution run: the system calls succeed, return
  nothing and write nothing, so no request is produced (t8n skips empty outputs) and the block's
  transactions, receipts, gas and logs are exactly Prague's. Those two accounts are not in the
  audited chain's state, so the state root is taken from a second t8n run over the post-state
  without them and without transactions (Shanghai rules: no system call runs). Receipts, gas,
  bloom and transaction root come from the first run, the state root from the second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.chain import Header, encode_block_body
from audit.errors import AuditError

EVM_VERSION = "v1.17.10"
WITHDRAWAL_QUEUE = "0x00000961ef480eb55e80d19ad83579a64c007002"
CONSOLIDATION_QUEUE = "0x0000bbddc7ce488642fb579f8b00f3a590007251"
REQUEST_STUBS = {WITHDRAWAL_QUEUE: {"balance": "0x0", "code": "0x00"},
                 CONSOLIDATION_QUEUE: {"balance": "0x0", "code": "0x00"}}
ROOT = Path(__file__).resolve().parents[1]


class ExecutorError(AuditError):
    """Raised when the executor cannot run a block at all (the tool is missing, crashes, or
    writes no result): not a disagreement about the chain, a failure of the audit's tool.
    ``executor`` names it, ``detail`` holds its error output."""

    executor: str
    detail: str

    def __init__(self, executor: str, detail: str) -> None:
        self.executor = executor
        self.detail = detail
        super().__init__(f"{executor}: {detail}")


@dataclass(frozen=True)
class Execution:
    """What the executor computed for one block."""

    number: int
    executor: str
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    gas_used: int
    requests_hash: bytes | None
    #: Transactions the executor could not apply: (index, error).
    rejected: tuple[tuple[int, str], ...]
    #: EIP-658 status of each applied transaction.
    statuses: tuple[int, ...]


def find_evm(explicit: str | None = None) -> str | None:
    """The ``evm`` binary: an explicit path, ``.tools/bin/evm`` (``scripts/build-evm``), or PATH."""
    if explicit:
        return explicit
    local = ROOT / ".tools" / "bin" / "evm"
    if local.exists():
        return str(local)
    return shutil.which("evm")


def executor_command(kind: str, evm: str | None) -> tuple[list[str], str]:
    """The command line of the t8n tool and the executor's name for the report."""
    if kind in ("t8n", "auto"):
        binary = find_evm(evm)
        if binary is not None:
            return [binary, "t8n"], f"go-ethereum evm t8n {EVM_VERSION}"
        if kind == "t8n":
            raise ExecutorError("evm t8n", "no evm binary (run scripts/build-evm or pass --evm)")
    script = ROOT / "scripts" / "pyevm-t8n"
    if not script.exists():
        raise ExecutorError("py-evm", f"the py-evm fallback {script} is missing")
    return [sys.executable, str(script), "t8n"], "py-evm (fallback, separate process)"


@dataclass
class _Running:
    number: int
    header: Header
    process: subprocess.Popen[bytes] | None
    workdir: Path
    first: dict[str, Any] = field(default_factory=dict)
    root: bytes | None = None


def _without_stubs(text: str) -> str:
    """t8n's allocation JSON without the two request stubs, cut out of the text (a large state is
    megabytes of JSON; parsing it to drop two small objects would cost more than the root run).
    Falls back to parsing when the text is not laid out as expected."""
    import re

    out = text
    for stub in REQUEST_STUBS:
        out, count = re.subn(rf'"{stub}"\s*:\s*\{{[^{{}}]*\}}\s*,?\s*', "", out, flags=re.IGNORECASE)
        if count > 1:
            break
    out = re.sub(r",\s*\}\s*$", "}", out)
    try:
        parsed = json.loads(out)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or any(stub in (k.lower() for k in parsed) for stub in REQUEST_STUBS):
        alloc = {k: v for k, v in json.loads(text).items() if k.lower() not in REQUEST_STUBS}
        return json.dumps(alloc)
    return out


def _be(value: int) -> bytes:
    """A scalar as RLP wants it: big-endian without leading zeroes (0 is the empty string)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


#: Post-states up to this size (t8n's allocation JSON) get their root from ``audit.trie`` here.
PYTHON_ROOT_LIMIT = 2 * 1024 * 1024


#: Account leaves already built, keyed by the account's canonical JSON: between two blocks most
#: accounts do not change, so their storage tries are not built again (bounded; cleared when full).
_ACCOUNT_LEAVES: dict[str, tuple[bytes, bytes] | None] = {}
_ACCOUNT_LEAVES_LIMIT = 65_536


def state_root(alloc: dict[str, Any]) -> bytes:
    """The state root of an allocation (Yellow Paper 4.1): the trie of accounts under
    keccak256(address) holding RLP([nonce, balance, storage root, code hash]), each storage trie
    holding RLP(value) under keccak256(slot); zero values and empty accounts (EIP-161) absent."""
    from audit.trie import Trie

    if len(_ACCOUNT_LEAVES) > _ACCOUNT_LEAVES_LIMIT:
        _ACCOUNT_LEAVES.clear()
    accounts = []
    for address, account in alloc.items():
        key = address.lower() + json.dumps(account, sort_keys=True, separators=(",", ":"))
        if key not in _ACCOUNT_LEAVES:
            _ACCOUNT_LEAVES[key] = _account_leaf(address, account)
        leaf = _ACCOUNT_LEAVES[key]
        if leaf is not None:
            accounts.append(leaf)
    return Trie(accounts).root


def _account_leaf(address: str, account: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """An account's (key, RLP body) in the state trie, or ``None`` for an empty account."""
    from eth_hash.auto import keccak

    from audit.trie import Trie, encode

    def scalar(text: Any) -> int:
        return int(text, 16) if isinstance(text, str) else int(text or 0)

    code = bytes.fromhex(str(account.get("code") or "0x")[2:])
    nonce, balance = scalar(account.get("nonce")), scalar(account.get("balance"))
    slots = [(keccak(scalar(k).to_bytes(32, "big")), encode(_be(scalar(v))))
             for k, v in (account.get("storage") or {}).items() if scalar(v)]
    if not (nonce or balance or code or slots):
        return None
    body = encode([_be(nonce), _be(balance), Trie(slots).root, keccak(code)])
    return keccak(bytes.fromhex(address[2:])), body


class T8nExecutor:
    """Runs blocks in order through a t8n tool, chaining the post-state allocation."""

    def __init__(self, command: list[str], name: str, chain_id: int, workdir: Path) -> None:
        self.command = command
        self.name = name
        self.chain_id = chain_id
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._alloc: Path | None = None
        self._hashes: deque[tuple[int, bytes]] = deque(maxlen=256)
        self._pending: _Running | None = None
        self._roots: deque[_Running] = deque()
        self._done: list[Execution] = []

    # ---------------------------------------------------------------- one t8n run
    def _args(self, directory: Path, alloc: Path, env: Path, txs: Path, fork: str) -> list[str]:
        return [*self.command, "--input.alloc", str(alloc), "--input.env", str(env), "--input.txs", str(txs),
                "--output.basedir", str(directory), "--output.result", "result.json", "--output.alloc", "alloc.json",
                "--state.fork", fork, "--state.chainid", str(self.chain_id), "--state.reward", "-1"]

    def _run(self, directory: Path, alloc: Path, env: dict[str, Any], txs: list[bytes], fork: str) -> dict[str, Any]:
        process = self._spawn(directory, alloc, env, txs, fork)
        return self._finish(process, directory)

    def _spawn(self, directory: Path, alloc: Path, env: dict[str, Any], txs: list[bytes], fork: str) -> subprocess.Popen[bytes]:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "env.json").write_text(json.dumps(env))
        (directory / "txs.rlp").write_text(json.dumps("0x" + encode_block_body(txs).hex()))
        return subprocess.Popen(self._args(directory, alloc, directory / "env.json", directory / "txs.rlp", fork),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _finish(self, process: subprocess.Popen[bytes], directory: Path) -> dict[str, Any]:
        _out, err = process.communicate()
        if process.returncode != 0:
            raise ExecutorError(self.name, err.decode(errors="replace")[-2000:])
        result: dict[str, Any] = json.loads((directory / "result.json").read_text())
        return result

    # ---------------------------------------------------------------- genesis
    def derive_genesis(self, deployments: list[tuple[bytes, bytes]], plain: dict[str, Any], env: dict[str, Any],
                       together: bool = True) -> dict[str, Any]:
        """The genesis allocation: ``plain`` accounts, then each ``(address, init code)`` run as
        its constructor *at that address* (what CityLedger's genesis does with a CREATE message
        that has a fixed target, which no transaction can do).

        Each constructor runs through a tiny proxy installed at the target address: the proxy
        DELEGATECALLs the init code (held at a scratch address) so that ``address(this)``, storage
        and the created contract's nonce are the target's, then emits the returned runtime code as
        the data of a LOG0; the audit installs that code at the target and drops the scratch
        account and the transaction's sender. ``together`` runs every constructor in one t8n run
        (one transaction each, in genesis order); a constructor that calls a contract deployed
        before it would then meet that contract's proxy, so the caller checks the derived state
        root and, when it differs, derives again one contract per run."""
        from eth_hash.auto import keccak
        from eth_keys import keys

        import rlp  # type: ignore[import-untyped, unused-ignore]

        key = keys.PrivateKey(keccak(b"cityledger audit genesis deployer"))
        sender = "0x" + key.public_key.to_canonical_address().hex()
        alloc = {k.lower(): v for k, v in plain.items()}
        gas = int(env["currentGasLimit"], 16)
        groups = [list(enumerate(deployments))] if together else [[item] for item in enumerate(deployments)]
        for group in groups:
            pre = dict(alloc)
            txs, scratches = [], []
            for nonce, (step, (address, init_code)) in enumerate(group):
                scratch = (0xC1700100 + step).to_bytes(20, "big")
                proxy = (bytes([0x5F] * 4) + b"\x73" + scratch + bytes.fromhex("5af415602757")  # DELEGATECALL, jump on failure
                         + bytes.fromhex("3d5f5f3e3d5fa000")  # copy the return data, LOG0 it, STOP
                         + bytes.fromhex("5b3d5f5f3e3d5ffd"))  # failure: revert with the return data
                pre["0x" + address.hex()] = {"balance": "0x0", "nonce": "0x1", "code": "0x" + proxy.hex()}
                pre["0x" + scratch.hex()] = {"balance": "0x0", "code": "0x" + init_code.hex()}
                scratches.append("0x" + scratch.hex())
                unsigned = [nonce, 0, gas // len(group), address, 0, b""]
                signature = key.sign_msg_hash(keccak(rlp.encode([*unsigned, self.chain_id, 0, 0])))
                txs.append(rlp.encode([*unsigned, signature.v + 35 + 2 * self.chain_id, signature.r, signature.s]))
            pre[sender] = {"balance": "0x0", "nonce": "0x0"}
            pre.update(REQUEST_STUBS)
            directory = self.workdir / f"genesis-{group[0][0]}"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "pre.json").write_text(json.dumps(pre))
            result = self._run(directory, directory / "pre.json", env, txs, "Prague")
            receipts = result.get("receipts") or []
            post = {k.lower(): v for k, v in json.loads((directory / "alloc.json").read_text()).items()}
            for (step, (address, _init)), receipt in zip(group, receipts + [{}] * len(group)):
                target = "0x" + address.hex()
                if result.get("rejected") or receipt.get("status") != "0x1":
                    raise ExecutorError(self.name, f"the genesis constructor at {target} failed: {result.get('rejected') or receipt}")
                code = [entry for entry in receipt.get("logs") or []
                        if not entry["topics"] and entry["address"].lower() == target][-1]["data"]
                post[target]["code"] = code
            for drop in (*scratches, sender, *REQUEST_STUBS):
                post.pop(drop, None)
            alloc = post
        return alloc

    def state_root_of(self, alloc: dict[str, Any], env: dict[str, Any]) -> bytes:
        """The state root of an allocation, as t8n computes it (a run without transactions)."""
        directory = self.workdir / "root-check"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "pre.json").write_text(json.dumps(alloc))
        result = self._run(directory, directory / "pre.json", _root_env(env), [], "Shanghai")
        return bytes.fromhex(result["stateRoot"][2:])

    # ---------------------------------------------------------------- blocks
    def start(self, alloc: dict[str, Any], genesis: Header) -> None:
        """Begin at the genesis state ``alloc`` (block 0 is ``genesis``)."""
        path = self.workdir / "alloc-0.json"
        path.write_text(json.dumps({**alloc, **REQUEST_STUBS}))
        self._alloc = path
        self._hashes.append((genesis.number, genesis.hash))

    def submit(self, header: Header, transactions: list[bytes]) -> None:
        """Start executing the next block. The previous block's execution run is awaited first
        (its post-state is this block's input); this block's run is started at once, and only then
        the previous block's state root built (here, or by a root-only t8n run in the background),
        so t8n and the audit's own work share the cores."""
        assert self._alloc is not None, "start() first"
        finished = self._collect()
        directory = self.workdir / f"block-{header.number % 4}"
        process = self._spawn(directory, self._alloc, block_env(header, self._hashes), transactions, "Prague")
        self._pending = _Running(header.number, header, process, directory)
        if finished is not None:
            self._start_root(*finished)

    def _advance(self) -> None:
        finished = self._collect()
        if finished is not None:
            self._start_root(*finished)

    def _collect(self) -> tuple[_Running, Path, dict[str, Any]] | None:
        """Await the block being executed and chain its post-state; returns it with that post-state
        file and the environment of its root-only run."""
        running = self._pending
        if running is None:
            return None
        self._pending = None
        assert running.process is not None
        running.first = self._finish(running.process, running.workdir)
        chained = self.workdir / f"alloc-{running.number % 2 + 1}.json"
        os.replace(running.workdir / "alloc.json", chained)
        self._alloc = chained
        env = _root_env(block_env(running.header, self._hashes))
        self._hashes.append((running.number, running.header.hash))
        return running, chained, env

    def _start_root(self, running: _Running, chained: Path, env: dict[str, Any]) -> None:
        while len(self._roots) >= 8:  # bound the state-root runs in flight (and their directories)
            self._done.append(self._complete(self._roots.popleft()))
        root_dir = self.workdir / f"root-{running.number % 16}"
        root_dir.mkdir(parents=True, exist_ok=True)
        if chained.stat().st_size <= PYTHON_ROOT_LIMIT:
            # A small state's root is cheaper to build here (audit.trie) than to start a process for.
            alloc = {k: v for k, v in json.loads(chained.read_text()).items() if k.lower() not in REQUEST_STUBS}
            running.root = state_root(alloc)
            running.process = None
        else:
            (root_dir / "pre.json").write_text(_without_stubs(chained.read_text()))
            running.process = self._spawn(root_dir, root_dir / "pre.json", env, [], "Shanghai")
            running.workdir = root_dir
        self._roots.append(running)

    def ready(self, wait: bool = False) -> list[Execution]:
        """Executions whose state-root run has finished (all of them, in order, when ``wait``;
        ``wait`` also finishes the block still executing)."""
        if wait:
            self._advance()
        out, self._done = self._done, []
        while self._roots and (wait or self._roots[0].process is None or self._roots[0].process.poll() is not None):
            out.append(self._complete(self._roots.popleft()))
        return out

    def _complete(self, running: _Running) -> Execution:
        if running.process is not None:
            running.root = bytes.fromhex(self._finish(running.process, running.workdir)["stateRoot"][2:])
        assert running.root is not None
        first = running.first
        requests_hash = first.get("requestsHash")
        return Execution(
                number=running.number, executor=self.name, state_root=running.root,
                transactions_root=bytes.fromhex(first["txRoot"][2:]), receipts_root=bytes.fromhex(first["receiptsRoot"][2:]),
                logs_bloom=bytes.fromhex(first["logsBloom"][2:]), gas_used=int(first["gasUsed"], 16),
                requests_hash=None if requests_hash is None else bytes.fromhex(requests_hash[2:]),
                rejected=tuple((int(r["index"]), str(r["error"])) for r in first.get("rejected") or []),
            statuses=tuple(int(r.get("status", "0x0"), 16) for r in first.get("receipts") or []))

    def final_alloc(self) -> dict[str, Any]:
        """The executor's own post-state after the last collected block (stubs removed)."""
        assert self._alloc is not None
        alloc: dict[str, Any] = json.loads(self._alloc.read_text())
        return {k.lower(): v for k, v in alloc.items() if k.lower() not in REQUEST_STUBS}


def block_env(header: Header, hashes: Any) -> dict[str, Any]:
    """t8n's ``env`` for a block, from its header and the hashes of the blocks before it."""
    def h(name: str) -> str:
        return "0x" + header.field(name).hex()

    env: dict[str, Any] = {
        "currentCoinbase": h("miner"), "currentGasLimit": hex(header.num("gasLimit")),
        "currentNumber": hex(header.number), "currentTimestamp": hex(header.timestamp),
        "currentRandom": "0x" + header.field("mixHash").rjust(32, b"\0").hex(),
        "currentDifficulty": None, "currentBaseFee": hex(header.num("baseFeePerGas")),
        "currentExcessBlobGas": hex(header.num("excessBlobGas")), "withdrawals": [],
        "blockHashes": {str(n): "0x" + b.hex() for n, b in hashes},
    }
    if len(header.fields) > 19:
        env["parentBeaconBlockRoot"] = h("parentBeaconBlockRoot")
    return env


def _root_env(env: dict[str, Any]) -> dict[str, Any]:
    """The environment of a root-only run: Shanghai rules, no system call, no blob fields."""
    return {k: v for k, v in env.items() if k not in ("parentBeaconBlockRoot", "currentExcessBlobGas", "blockHashes")}


def genesis_env(chain_id: int, gas_limit: int, timestamp: int) -> dict[str, Any]:
    """The environment genesis constructors run in: block 0 at the genesis timestamp."""
    del chain_id
    return {"currentCoinbase": "0x" + "00" * 20, "currentGasLimit": hex(gas_limit), "currentNumber": "0x0",
            "currentTimestamp": hex(timestamp), "currentRandom": "0x" + "00" * 32, "currentDifficulty": None,
            "currentBaseFee": "0x0", "currentExcessBlobGas": "0x0", "withdrawals": [], "parentBeaconBlockRoot": "0x" + "00" * 32}
