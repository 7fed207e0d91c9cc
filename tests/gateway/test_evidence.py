"""Evidence bundles: served by the gateway, valid against the published schema, verified by the
audit package's independent code (it imports nothing from gateway/), and refused by check name
when a byte is changed."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from audit.bundle import Trust, verify_bundle
from conftest import ROOT, DevNet, NodeProcess, make_devnet, sealer_process
from gateway.settings import Settings
from gateway_flows import custody_flow
from gateway_harness import gateway_client, run, trace_and_bundle, wait_indexed, write_addressbook

SCHEMAS = ROOT / "gateway" / "schemas"


def validate(doc: dict[str, Any], schema_name: str) -> None:
    proof = json.loads((SCHEMAS / "proof.schema.json").read_text())
    registry = Registry().with_resource(proof["$id"], Resource.from_contents(proof))
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema_name).read_text()), registry=registry).validate(doc)


def _flip(hex_text: str) -> str:
    return hex_text[:-2] + ("00" if hex_text[-2:] != "00" else "01")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, DevNet, Path]]:
    """One chain for the module: a dev network, its node and its address book."""
    root = tmp_path_factory.mktemp("evidence")
    devnet = make_devnet(root / "node")
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    try:
        yield node, devnet, write_addressbook(node.url, devnet.genesis_path, root / "addressbook.json")
    finally:
        node.stop()


@pytest.fixture(scope="module")
def devnet(world: tuple[NodeProcess, DevNet, Path]) -> DevNet:
    return world[1]


@pytest.fixture(scope="module")
def addressbook(world: tuple[NodeProcess, DevNet, Path]) -> Path:
    return world[2]


@pytest.fixture(scope="module")
def trace_bundle(world: tuple[NodeProcess, DevNet, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    chain, devnet, addressbook = world
    lots = custody_flow(chain, devnet, addressbook)
    settings = Settings(rpc_url=chain.url, data_dir=tmp_path_factory.mktemp("gw"), addressbook=addressbook)

    async def fetch() -> dict[str, Any]:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            _trace, doc = await trace_and_bundle(app, client, lots["lot"])
            return doc

    return run(fetch())


def _trust(addressbook: Path, devnet: DevNet) -> Trust:
    book = json.loads(addressbook.read_text())
    genesis = json.loads(devnet.genesis_path.read_text())
    return Trust(chain_id=book["chainId"], genesis_hash=bytes.fromhex(book["deployment"]["blockHash"][2:]),
                 genesis_sealers=tuple(bytes.fromhex(a[2:]) for a in genesis["registry"]["sealers"]))


def test_bundle_is_valid_and_verifies_offline(trace_bundle: dict[str, Any], addressbook: Path, devnet: DevNet) -> None:
    validate(trace_bundle, "evidence.schema.json")
    for event in trace_bundle["events"]:
        validate(event["proof"], "proof.schema.json")
    assert trace_bundle["record"]["kind"] == "trace" and len(trace_bundle["events"]) == 11
    report = verify_bundle(trace_bundle, _trust(addressbook, devnet))
    assert report.ok, report.failures
    # The chain signs a checkpoint every block (genesis default), so the bundle carries one; no
    # witness has cosigned it in this module (tests/audit/test_checkpoints_witness.py does).
    assert {r.check for r in report.results} == {"genesis", "event", "checkpoint", "inclusion"}


@pytest.mark.parametrize(("tamper", "check"), [
    (lambda b: b["events"][3]["proof"].__setitem__("receiptProof", [*b["events"][3]["proof"]["receiptProof"][:-1],
                                                                       _flip(b["events"][3]["proof"]["receiptProof"][-1])]), "receipt-proof"),
    (lambda b: b["events"][3]["proof"].__setitem__("txProof", [_flip(b["events"][3]["proof"]["txProof"][0])]), "tx-proof"),
    (lambda b: b["events"][2]["proof"].__setitem__("header", _flip(b["events"][2]["proof"]["header"])), "header-hash"),
    (lambda b: b["events"][3]["args"].__setitem__("received", 600), "log-content"),
    (lambda b: b["events"][3]["proof"].__setitem__("logIndex", 7), "log-index"),
    (lambda b: b["events"][0]["proof"].__setitem__("txHash", "0x" + "00" * 32), "tx-hash"),
    (lambda b: b["genesis"].__setitem__("sealers", ["0x" + "11" * 20]), "genesis"),
])
def test_each_tampering_fails_by_name(trace_bundle: dict[str, Any], addressbook: Path, devnet: DevNet,
                                      tamper: Any, check: str) -> None:
    bundle = copy.deepcopy(trace_bundle)
    tamper(bundle)
    report = verify_bundle(bundle, _trust(addressbook, devnet))
    assert not report.ok
    assert check in {f.check for f in report.failures}, report.failures


def test_a_bundle_from_another_genesis_is_refused(trace_bundle: dict[str, Any], addressbook: Path, devnet: DevNet) -> None:
    trust = _trust(addressbook, devnet)
    other = Trust(trust.chain_id, b"\x42" * 32, None)
    report = verify_bundle(trace_bundle, other)
    assert [f.check for f in report.failures][:1] == ["genesis"]
    # A seal by a key outside the pinned sealer set fails every event's seal check.
    stranger = Trust(trust.chain_id, trust.genesis_hash, (b"\x22" * 20,))
    assert "genesis" in {f.check for f in verify_bundle(trace_bundle, stranger).failures}
