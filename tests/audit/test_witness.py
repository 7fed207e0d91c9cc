"""Witnessed checkpoints end to end, with real node and gateway processes: a registered witness
checks the chain and cosigns, the gateway stores and serves the cosignature, evidence bundles carry
the checkpoint and ``audit verify`` checks it (demanding M cosignatures, or pinning only witness
keys); a cosignature by a key that is not a witness's is refused and named; a sealer that forks
history is caught by the witness, which writes proofs of equivocation that ``audit verify`` accepts."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_abi import encode as abi_encode

from audit import tlog
from conftest import ROOT, DevNet, NodeProcess, make_devnet, sealer_process
from gateway.receipt_code import short_code
from gateway_flows import custody_flow
from gateway_harness import actor, gateway_process, write_addressbook


def cli(*args: str) -> tuple[int, str]:
    process = subprocess.run([sys.executable, "-m", "cityledger_cli", "audit", *args], capture_output=True, text=True,
                             cwd=ROOT, timeout=300)
    return process.returncode, process.stdout + process.stderr


def set_witnesses(node: NodeProcess, devnet: DevNet, book: Path, accounts: list[str]) -> None:
    """Two of three admins put ``accounts`` in the registry's witness set (SetWitnesses = 7)."""
    admin0, admin1 = actor(node, devnet, book, "admin:0"), actor(node, devnet, book, "admin:1")
    receipt = admin0.send("MemberRegistry", "propose", 7, abi_encode(["address[]"], [accounts]))
    admin1.send("MemberRegistry", "approveProposal", admin0.event_args(receipt, "ProposalCreated")["proposalId"])


def witness_key(node: NodeProcess, devnet: DevNet, where: Path, name: str, kind: str = "auditor") -> tuple[Path, str]:
    member = next(m for m in devnet.keys["members"] if m["kind"] == kind)
    account_key = where / f"{kind}.key"
    account_key.write_text(member["private_key"])
    key_file = where / f"{kind}-witness.json"
    code, output = cli("witness-key", "--rpc", node.url, "--name", name, "--account-key", str(account_key), "--out", str(key_file))
    assert code == 0, output
    return key_file, output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("witness")
    devnet = make_devnet(root / "node")
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    gateway = None
    try:
        book = write_addressbook(node.url, devnet.genesis_path, root / "addressbook.json")
        auditor = next(m for m in devnet.keys["members"] if m["kind"] == "auditor")
        set_witnesses(node, devnet, book, [auditor["address"]])
        lots = custody_flow(node, devnet, book)
        gateway = gateway_process(node.url, root / "gateway", book).start()
        gateway.wait_indexed(int(node.rpc("eth_blockNumber"), 16))
        yield {"root": root, "devnet": devnet, "node": node, "book": book, "gateway": gateway, "lots": lots}
    finally:
        if gateway is not None:
            gateway.stop()
        node.stop()


@pytest.fixture(scope="module")
def cosigned(world: dict[str, Any]) -> dict[str, Any]:
    root, node, gateway = world["root"], world["node"], world["gateway"]
    key_file, vkey = witness_key(node, world["devnet"], root, "audit-ngo.example/w1")
    code, output = cli("witness", "--rpc", node.url, "--gateway", gateway.url, "--key", str(key_file), "--once")
    assert code == 0 and "cosigned checkpoint" in output, output
    red_cross = actor(node, world["devnet"], world["book"], "Red Cross")
    lot = red_cross.call("SupplyCustody", "getLot", world["lots"]["lot"])[0]
    code_text = short_code(bytes(lot[13]))
    trace = httpx.get(f"{gateway.url}/v1/trace/{code_text}", timeout=30).json()
    bundle = httpx.get(f"{gateway.url}{trace['evidence']}", timeout=60).json()
    path = root / "bundle.json"
    path.write_text(json.dumps(bundle))
    return {"vkey": vkey, "bundle": bundle, "path": path, "key_file": key_file}


def test_the_gateway_serves_the_witness_cosignature(world: dict[str, Any], cosigned: dict[str, Any]) -> None:
    latest = httpx.get(f"{world['gateway'].url}/v1/checkpoints/latest", timeout=30).json()
    head = int(world["node"].rpc("eth_blockNumber"), 16)
    assert latest["size"] == head + 1
    (cosignature,) = latest["cosignatures"]
    auditor = next(m for m in world["devnet"].keys["members"] if m["kind"] == "auditor")
    assert cosignature["name"] == "audit-ngo.example/w1" and cosignature["account"] == auditor["address"].lower()
    note = tlog.parse_note(latest["note"])
    assert tlog.parse_checkpoint(note.text).origin.startswith("cityledger/17228/0x") and len(note.signatures) == 2
    assert httpx.get(f"{world['gateway'].url}/v1/checkpoints/{latest['size']}", timeout=30).json()["note"] == latest["note"]


def test_a_bundle_verifies_with_its_witnessed_checkpoint(world: dict[str, Any], cosigned: dict[str, Any]) -> None:
    trust = ["--trust", str(world["devnet"].genesis_path), "--trust", str(world["book"])]
    code, output = cli("verify", str(cosigned["path"]), *trust, "--min-cosignatures", "1")
    assert code == 0, output
    assert "ok   cosignature" in output and "ok   inclusion" in output and "VALID" in output
    # Only the witness key pinned: the witnessed checkpoint names the chain and its genesis.
    code, output = cli("verify", str(cosigned["path"]), "--witness-key", cosigned["vkey"], "--min-cosignatures", "1", "--json")
    assert code == 0, output
    assert json.loads(output)["ok"]
    code, output = cli("verify", str(cosigned["path"]), *trust, "--min-cosignatures", "2")
    assert code == 1 and "FAIL cosignature" in output and "2 demanded" in output


def test_a_cosignature_by_a_key_that_is_not_a_witness_is_refused_and_named(world: dict[str, Any], cosigned: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    bundle = copy.deepcopy(cosigned["bundle"])
    section = bundle["checkpoint"]
    note = tlog.parse_note(section["note"])
    origin = tlog.parse_checkpoint(note.text).origin
    health = next(m for m in world["devnet"].keys["members"] if "Health" in m["name"])
    private = Ed25519PrivateKey.generate()
    key = tlog.WitnessKey("health.example/w", private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    binding = tlog.KeyBinding.make(origin, bytes.fromhex(health["private_key"][2:]), key)
    line = tlog.cosign(note.text, key.name, private, 1_800_000_000)
    # The gateway refuses it: Health is a member, not a registered witness.
    answer = httpx.post(f"{world['gateway'].url}/v1/checkpoints/{section['size']}/cosignatures",
                        json={"cosignature": line.render(), "binding": binding.to_json()}, timeout=30)
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")
    assert "not in the registry's witness set" in answer.json()["detail"]
    # Slipped into a bundle, the verifier names it.
    section["note"] = note.with_signatures([line]).render()
    section["witnesses"]["bindings"].append(binding.to_json())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(bundle))
    code, output = cli("verify", str(forged), "--trust", str(world["devnet"].genesis_path), "--trust", str(world["book"]))
    assert code == 1
    (line,) = [x for x in output.splitlines() if "health.example/w" in x]
    assert line.startswith("FAIL cosignature") and "not in the registry's witness set" in line


def test_a_witness_catches_a_sealer_that_forks_history(tmp_path: Path) -> None:
    devnet = make_devnet(tmp_path / "node")
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    try:
        book = write_addressbook(node.url, devnet.genesis_path, tmp_path / "addressbook.json")
        auditor = next(m for m in devnet.keys["members"] if m["kind"] == "auditor")
        set_witnesses(node, devnet, book, [auditor["address"]])
        key_file, _vkey = witness_key(node, devnet, tmp_path, "audit-ngo.example/w1")
        node.stop()
        fork_dir = tmp_path / "fork"
        shutil.copytree(devnet.data_dir, fork_dir, ignore=shutil.ignore_patterns("*.lock", "node-*.log"))
        node.start()
        for title in ("Hospital beds", "Ambulance dispatches", "Clinic visits"):
            actor(node, devnet, book, "Health").send("DataSharing", "registerDataset", title, 1, "bafkschema")
        code, output = cli("witness", "--rpc", node.url, "--key", str(key_file), "--once")
        assert code == 0 and "cosigned checkpoint" in output, output
    finally:
        node.stop()
    # The same sealer key now seals another history from the same parent and serves it.
    fork = DevNet(fork_dir, devnet.keys)
    forked = sealer_process(fork, block_time=0.05, ws=False).start()
    try:
        for title in ("Road closures", "Bus lanes", "Ferry schedules", "Parking"):
            actor(forked, fork, book, "Transport").send("DataSharing", "registerDataset", title, 1, "bafkschema")
        code, output = cli("witness", "--rpc", forked.url, "--key", str(key_file), "--once")
    finally:
        forked.stop()
    assert code == 1 and "EQUIVOCATION" in output, output
    proofs = sorted(key_file.parent.glob("equivocation-*.json"))
    assert [p.name.split("-")[1] for p in proofs] == ["block", "checkpoints"], proofs
    for proof in proofs:
        code, checked = cli("verify", str(proof), "--trust", str(devnet.genesis_path))
        assert code == 0 and "PROVEN" in checked, checked
        doc = json.loads(proof.read_text())
        if doc["kind"] == "headers":
            doc["headers"][1] = doc["headers"][0]
            proof.write_text(json.dumps(doc))
            code, checked = cli("verify", str(proof))
            assert code == 1 and "FAIL equivocation" in checked


def test_the_witness_checks_consistency_before_cosigning_again(world: dict[str, Any], cosigned: dict[str, Any]) -> None:
    node = world["node"]
    old = httpx.get(f"{world['gateway'].url}/v1/checkpoints/latest", timeout=30).json()
    actor(node, world["devnet"], world["book"], "Health").send("DataSharing", "registerDataset", "Beds", 1, "bafkschema")
    head = int(node.rpc("eth_blockNumber"), 16)
    code, output = cli("witness", "--rpc", node.url, "--gateway", world["gateway"].url, "--key", str(cosigned["key_file"]), "--once")
    assert code == 0 and f"cosigned checkpoint {head + 1}" in output, output
    # The node's proofs, checked here too: the old tree is a prefix of the new one.
    new = tlog.parse_checkpoint(tlog.parse_note(node.rpc("cityledger_checkpoint", [hex(head + 1)])["note"]).text)
    proof = [bytes.fromhex(h[2:]) for h in node.rpc("cityledger_consistencyProof", [hex(old["size"]), hex(new.size)])]
    tlog.verify_consistency(old["size"], new.size, bytes.fromhex(old["root"][2:]), new.root, proof)
    inclusion = node.rpc("cityledger_inclusionProof", [hex(head), hex(new.size)])
    tlog.verify_inclusion(bytes.fromhex(inclusion["blockHash"][2:]), head, new.size,
                          [bytes.fromhex(h[2:]) for h in inclusion["proof"]], new.root)


def test_audit_run_checks_the_gateways_cosignatures(world: dict[str, Any], cosigned: dict[str, Any], tmp_path: Path) -> None:
    process = subprocess.run([sys.executable, "-m", "cityledger_cli", "audit", "run", "--rpc", world["node"].url, "--gateway",
                              world["gateway"].url, "--out", str(tmp_path), "--quiet"], capture_output=True, text=True,
                             cwd=ROOT, timeout=300)
    assert process.returncode == 0, process.stdout + process.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["checks"]["cosignature"] == 1
    assert any("1 valid witness cosignature(s): audit-ngo.example/w1" in note for note in report["notes"]), report["notes"]
