"""Gateway test harness (fixtures registered in tests/conftest.py): a real chain (CityLedger's sealer,
anvil, or node 1 of four CometBFT validators), the address book ``scripts/deploy`` writes for it,
and the gateway app in-process (``create_app`` through ``httpx.ASGITransport``, lifespan included)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, CliProcess, DevNet, NodeProcess, free_port, sealer_process


def _deploy_module() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_contracts", ROOT / "scripts" / "deploy_contracts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_addressbook(node_url: str, genesis: Path, out: Path) -> Path:
    deploy = _deploy_module()
    book = deploy.from_genesis(deploy.Rpc(node_url), genesis)
    out.write_text(json.dumps(book, indent=2))
    return out


ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ANVIL_CHAIN_ID = 31337


@dataclass
class AnvilChain:
    """Foundry's anvil (a third-party EVM node, no seals) with the contracts deployed by
    ``scripts/deploy`` for the same development members: the gateway must need nothing but
    standard JSON-RPC."""

    url: str
    proc: subprocess.Popen[bytes]
    addressbook: Path
    kind: str = "anvil"

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        answer = httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []},
                            timeout=30).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def start_anvil(devnet: DevNet, workdir: Path) -> AnvilChain:
    """anvil on a free port (Prague, zero base fee and gas price, automine) and the contract set
    deployed for ``devnet``'s members (same order, so member ids match the CityLedger chain's)."""
    from eth_account import Account

    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--hardfork", "prague", "--base-fee", "0",
                             "--gas-price", "0", "--chain-id", str(ANVIL_CHAIN_ID), "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=2)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("anvil did not start") from None
            time.sleep(0.05)  # polling interval while the port opens, with a deadline
    genesis = json.loads(devnet.genesis_path.read_text())["registry"]
    consortium = {"chainId": ANVIL_CHAIN_ID, "threshold": genesis["threshold"], "admins": genesis["admins"],
                  "sealers": genesis["sealers"], "members": genesis["members"]}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "consortium.json").write_text(json.dumps(consortium))
    deployer = Account.create()
    httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance",
                          "params": [deployer.address, hex(10**21)]}, timeout=10)
    book = workdir / "addressbook.json"
    result = subprocess.run([sys.executable, "scripts/deploy_contracts.py", "--rpc", url, "--consortium",
                             str(workdir / "consortium.json"), "--key", deployer.key.hex(), "--out", str(book)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        proc.terminate()
        raise RuntimeError(f"deploy to anvil failed: {result.stderr}")
    devnet.keys["chainId"] = ANVIL_CHAIN_ID
    return AnvilChain(url, proc, book)


@dataclass
class CometChain:
    """Four CityLedger validators on CometBFT (``scripts/testnet`` over ``devnet``'s genesis and
    keys); the gateway talks to node 1, as it would to any one validator, and pins the network's
    CometBFT genesis (the validator set every block's commit is checked against)."""

    network: Any
    kind: str = "cometbft"

    @property
    def node(self) -> NodeProcess:
        return self.network.nodes[1]  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def cometbft_genesis(self) -> Path:
        return self.network.cometbft_genesis_path  # type: ignore[no-any-return]

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        return self.node.rpc(method, params)

    def stop(self) -> None:
        self.network.stop_all()


def start_cometbft(devnet: DevNet) -> CometChain:
    from cometbft_harness import Network

    network = Network(devnet.data_dir)  # reuses devnet's genesis.json and dev-keys.json
    try:
        network.start_all()
    except BaseException:
        network.stop_all()
        raise
    return CometChain(network)


@pytest.fixture(params=["cityledger", "anvil", "cometbft"])
def chain(request: pytest.FixtureRequest, devnet: DevNet, tmp_path: Path) -> Iterator[Any]:
    """The chain a gateway test runs against: CityLedger's own node (one sealer), anvil (no
    seals: the gateway needs nothing but standard JSON-RPC), and node 1 of a four-validator
    CometBFT network (commits in place of seals). Every gateway test runs on all three."""
    if request.param in ("anvil", "cometbft"):
        started = start_anvil(devnet, tmp_path / "anvil") if request.param == "anvil" else start_cometbft(devnet)
        try:
            yield started
        finally:
            started.stop()
        return
    proc = sealer_process(devnet, block_time=0.05, ws=False).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def addressbook(chain: Any, devnet: DevNet, tmp_path: Path) -> Path:
    if isinstance(chain, AnvilChain):
        return chain.addressbook
    return write_addressbook(chain.url, devnet.genesis_path, tmp_path / "addressbook.json")


def on_anvil(chain: Any) -> bool:
    return isinstance(chain, AnvilChain)


def on_cometbft(chain: Any) -> bool:
    return isinstance(chain, CometChain)


def assert_certified(chain: Any, devnet: DevNet, proof: dict[str, Any], header: Any) -> None:
    """``proof``'s block (its decoded ``header``) is certified the way ``chain`` certifies blocks:
    sealed by the development sealer, committed by more than 2/3 of the pinned CometBFT validators
    (the proof then carries the commit), or (anvil) not at all."""
    from gateway.chain.commit import CometGenesis, verify_commit
    from gateway.proofs import verify_seal

    if on_anvil(chain):
        assert "commit" not in proof
    elif on_cometbft(chain):
        genesis = CometGenesis.load(chain.cometbft_genesis)
        assert 3 * verify_commit(proof["commit"], bytes(header.hash), genesis) > 2 * sum(
            v.power for v in genesis.validators)
    else:
        sealer = bytes.fromhex(devnet.keys["sealer"]["address"][2:])
        assert verify_seal(header, [sealer]) == sealer


def gateway_settings(chain: Any, addressbook: Path, tmp_path: Path, **extra: Any) -> Any:
    """The gateway's settings for a test over ``chain`` (index and payloads under ``tmp_path/gw``)."""
    from gateway.settings import Settings

    if on_cometbft(chain):  # the network's CometBFT genesis pinned: commits are checked against it
        extra["cometbft_genesis"] = chain.cometbft_genesis
    return Settings(rpc_url=chain.url, data_dir=tmp_path / "gw", addressbook=addressbook, **extra)


def trust_documents(chain: Any, addressbook: Path) -> list[Any]:
    """What an auditor pins to verify a bundle from ``chain`` (``audit verify --trust``): the
    address book, and on CometBFT the network's CometBFT genesis (the validators of commits)."""
    documents = [json.loads(addressbook.read_text())]
    if on_cometbft(chain):
        documents.append(json.loads(chain.cometbft_genesis.read_text()))
    return documents


def consensus_args(chain: Any) -> list[str]:
    """``cityledger gateway run`` options for ``chain``'s consensus (see ``gateway_settings``)."""
    return ["--cometbft-genesis", str(chain.cometbft_genesis)] if on_cometbft(chain) else []


@asynccontextmanager
async def gateway_client(settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app for ``settings`` with its lifespan running, and a client bound to it."""
    from gateway.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield app, client


async def wait_indexed(app: Any, number: int, timeout: float = 30.0) -> None:
    await app.state.services.indexer.wait_for(number, timeout)


def receipt_code_of(app: Any, lot_id: int) -> str:
    """The receipt code a donor holds for lot ``lot_id`` (``XXXX-XXXX-XXXX-X``), as indexed."""
    from gateway import db
    from gateway.receipt_code import short_code
    from gateway.records.custody import Lot

    with db.session(app.state.services.engine) as s:
        lot = s.get(Lot, lot_id)
        assert lot is not None, f"lot {lot_id} is not indexed"
        return short_code(bytes.fromhex(lot.receipt_code[2:]))


async def trace_and_bundle(app: Any, client: httpx.AsyncClient, lot_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The donor's trace of lot ``lot_id`` and its evidence bundle (a download), as served."""
    trace = (await client.get(f"/v1/trace/{receipt_code_of(app, lot_id)}")).json()
    answer = await client.get(trace["evidence"])
    assert answer.status_code == 200, answer.text
    assert "attachment" in answer.headers["content-disposition"]
    return dict(trace), dict(answer.json())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class ChainActor:
    """A member acting on the chain directly over JSON-RPC with its development key (the tests'
    stand-in for the client, which relays through the gateway)."""

    def __init__(self, node_url: str, addressbook: Path, key: str, chain_id: int) -> None:
        from gateway.client.transactions import Signer, TxBuilder
        from gateway.contracts import AddressBook

        self.url = node_url
        self.builder = TxBuilder(ROOT / "contracts" / "artifacts", AddressBook.load(addressbook))
        self.signer = Signer(key, chain_id)
        self.client = httpx.Client(timeout=60)

    @property
    def address(self) -> str:
        return self.signer.address

    def rpc(self, method: str, params: list[Any]) -> Any:
        answer = self.client.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def send(self, contract: str, function: str, *args: Any, expect_revert: str | None = None) -> dict[str, Any]:
        """Sign and send ``contract.function(*args)``; wait for the receipt (status 1 expected)."""
        to, data = self.builder.call(contract, function, list(args))
        call = {"from": self.address, "to": "0x" + to.hex(), "data": "0x" + data.hex()}
        answer = self.client.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_estimateGas",
                                                  "params": [call]}).json()
        if "error" in answer:
            revert = bytes.fromhex(str(answer["error"].get("data", "0x"))[2:])
            decoded = self.builder.decode_error(revert)
            if expect_revert is not None and decoded is not None and decoded["error"] == expect_revert:
                return decoded
            raise RuntimeError(f"{contract}.{function} would revert: {decoded or answer['error']}")
        if expect_revert is not None:
            raise AssertionError(f"{contract}.{function} did not revert with {expect_revert}")
        return self._sign_and_wait(to, data, int(int(answer["result"], 16) * 1.3) + 50_000)

    def send_data(self, to: str, data: str) -> dict[str, Any]:
        """Sign calldata someone prepared (``to`` and ``data`` as 0x-hex, e.g. a gateway's anchor
        call) with the member's own key, send it, and wait for its receipt (status 1 expected)."""
        call = {"from": self.address, "to": to, "data": data}
        gas = int(self.rpc("eth_estimateGas", [call]), 16) * 2
        return self._sign_and_wait(bytes.fromhex(to[2:]), bytes.fromhex(data[2:]), gas)

    def _sign_and_wait(self, to: bytes, data: bytes, gas: int) -> dict[str, Any]:
        nonce = int(self.rpc("eth_getTransactionCount", [self.address, "pending"]), 16)
        raw = self.signer.sign(to, data, nonce=nonce, gas=gas)
        tx_hash = self.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                assert receipt["status"] == "0x1", receipt
                return dict(receipt)
            time.sleep(0.02)  # polling for our own receipt, with a deadline
        raise TimeoutError(f"no receipt for {tx_hash}")

    def call(self, contract: str, function: str, *args: Any) -> tuple[Any, ...]:
        fn = self.builder.function(contract, function)
        to, data = self.builder.call(contract, function, list(args))
        out = self.rpc("eth_call", [{"to": "0x" + to.hex(), "data": "0x" + data.hex()}, "latest"])
        return fn.decode_output(bytes.fromhex(out[2:]))

    def event_args(self, receipt: dict[str, Any], name: str) -> dict[str, Any]:
        """Arguments of the first log named ``name`` in ``receipt``."""
        from gateway.contracts import EventCodec

        codec = EventCodec(ROOT / "contracts" / "artifacts", self.builder.book)
        for log in receipt["logs"]:
            topics = tuple(bytes.fromhex(t[2:]) for t in log["topics"])
            abi = codec.lookup(bytes.fromhex(log["address"][2:]), topics)
            if abi is not None and abi.name == name:
                return abi.decode(topics, bytes.fromhex(log["data"][2:]))
        raise KeyError(f"no {name} log in {receipt['transactionHash']}")


def actor(chain: NodeProcess, devnet: DevNet, addressbook: Path, who: str) -> ChainActor:
    """The dev member whose name contains ``who`` (``"Health"``, ``"Red Cross"``…), or an admin
    (``"admin:0"``)."""
    if who.startswith("admin:"):
        entry = devnet.keys["admins"][int(who.split(":")[1])]
    else:
        entry = next(m for m in devnet.keys["members"] if who in m["name"])
    return ChainActor(chain.url, addressbook, entry["private_key"], devnet.chain_id)


def dump_index(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every index table (sign-in tables aside), sorted: two indexes built from the
    same chain must be equal."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            if table in ("auth_challenge", "auth_session", "payload_release"):
                continue
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).fetchall()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    engine.dispose()
    return out


@dataclass
class GatewayProcess(CliProcess):
    """A ``cityledger gateway run`` process on loopback."""

    WHAT = "gateway"
    READY_PATH = "/v1/status"

    args: list[str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> GatewayProcess:
        return self.launch(timeout)  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/v1/status", timeout=10).json())

    def wait_indexed(self, height: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.status()["indexedHeight"] < height:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not indexed to {height}: {self.status()}\n{self.log()}")
            time.sleep(0.05)  # polling the gateway's progress, with a deadline


def gateway_process(node_url: str, data_dir: Path, addressbook: Path, *extra: str) -> GatewayProcess:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    args = ["gateway", "run", "--rpc", node_url, "--data-dir", str(data_dir), "--addressbook", str(addressbook),
            "--listen", f"127.0.0.1:{port}", *extra]
    return GatewayProcess(args, port, data_dir / f"gateway-{port}.log")
