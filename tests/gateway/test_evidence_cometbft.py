"""The gateway over one validator of a four-validator CometBFT network (real processes on
loopback): it checks each block's commit itself (``consensus: cometbft``), stores it with the
proofs, serves it in every proof and bundle with the genesis validator set as trust anchor; and
``cityledger audit verify`` (the audit's own code) checks a ``commit`` per block in place of
``seal``, failing ``commit`` by name when a signature byte or a validator is changed."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cometbft_harness import Network, head, running_network
from conftest import ROOT, DevNet, free_port
from gateway import db
from gateway.contracts import ConfigurationInvalid
from gateway.settings import Settings
from gateway_flows import custody_flow
from gateway_harness import GatewayProcess, gateway_client, run, trace_and_bundle, wait_indexed, write_addressbook

SCHEMAS = ROOT / "gateway" / "schemas"


def validate(doc: dict[str, Any], schema_name: str) -> None:
    import jsonschema
    from referencing import Registry, Resource

    proof = json.loads((SCHEMAS / "proof.schema.json").read_text())
    registry = Registry().with_resource(proof["$id"], Resource.from_contents(proof))
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema_name).read_text()), registry=registry).validate(doc)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(tmp_path_factory.mktemp("testnet")) as network:
        yield network


@pytest.fixture(scope="module")
def served(net: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The custody flow written through validator 1; the gateway, in-process over that validator
    with the network's CometBFT genesis pinned, answers the donor's trace and its bundle."""
    node = net.nodes[1]
    work = tmp_path_factory.mktemp("gw-cometbft")
    book = write_addressbook(node.url, net.root / "genesis.json", work / "addressbook.json")
    lots = custody_flow(node, DevNet(net.root, net.keys), book)
    settings = Settings(rpc_url=node.url, data_dir=work / "gw", addressbook=book,
                        cometbft_genesis=net.cometbft_genesis_path)

    async def scenario() -> dict[str, Any]:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, head(node), timeout=60)
            services = app.state.services
            status = (await client.get("/v1/status")).json()
            portal_book = (await client.get("/portal/addressbook.json")).json()
            trace, bundle = await trace_and_bundle(app, client, lots["lot"])
            event = trace["events"][0]
            single = (await client.get(event["evidence"])).json()
            # The gateway's own check of a stored commit: one signature byte changed in the index
            # and the same proof is no longer served as verified.
            from gateway.routers.common import proofs

            number = event["proof"]["blockNumber"]
            with db.session(services.engine) as s:
                row = s.get(db.BlockCommit, number)
                assert row is not None
                certificate = json.loads(row.certificate)
                _flip_signature(certificate)
                row.certificate = json.dumps(certificate)
                s.add(row)
                s.commit()
                position = next(e.block_log_index for e in s.exec(
                    select(db.ChainEvent).where(db.ChainEvent.block_number == number)))
                _proof, tampered = proofs(services).receipt_proof(s, number, position)
            return {"status": status, "trace": trace, "bundle": bundle, "single": single,
                    "tampered": tampered, "book": book,
                    "portal_book": portal_book}

    return dict(run(scenario()))


def _flip_signature(certificate: dict[str, Any]) -> None:
    sig = next(s for s in certificate["signedHeader"]["commit"]["signatures"] if s["block_id_flag"] == 2)
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()


def _audit_verify(bundle: dict[str, Any], trust: list[Path], where: Path) -> tuple[int, dict[str, Any]]:
    path = where / "bundle.json"
    path.write_text(json.dumps(bundle))
    args = [sys.executable, "-m", "cityledger_cli", "audit", "verify", str(path), "--json"]
    for t in trust:
        args += ["--trust", str(t)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def test_gateway_checks_commits_and_says_verified(served: dict[str, Any], net: Network) -> None:
    assert served["status"]["consensus"] == "cometbft" and served["status"]["indexerError"] is None
    trace = served["trace"]
    assert trace["verified"] is True
    assert trace["totals"] == {"donated": 1000, "consumed": 150, "lost": 10, "held": 840, "inTransit": 0}
    for event in trace["events"]:
        assert event["verified"] is True, event.get("failedCheck")
        validate(event["proof"], "proof.schema.json")
        commit = event["proof"]["commit"]
        assert commit["blockHash"] == event["proof"]["blockHash"]
        assert commit["signedHeader"]["header"]["app_hash"].lower() == event["proof"]["blockHash"][2:]
    assert served["single"]["consensus"] == "cometbft"
    # What a browser pins on first use carries the validator set its commits are checked against.
    portal_book = served["portal_book"]
    assert portal_book["consensus"] == "cometbft"
    assert portal_book["cometbft"]["validators"] == net.cometbft_genesis["validators"]
    tampered = served["tampered"]
    assert not tampered.verified and tampered.failed_check == "commit", tampered


def test_bundle_carries_commits_and_the_genesis_validators(served: dict[str, Any], net: Network) -> None:
    bundle = served["bundle"]
    validate(bundle, "evidence.schema.json")
    assert bundle["consensus"] == "cometbft"
    assert bundle["cometbft"]["chainId"] == net.cometbft_genesis["chain_id"]
    assert bundle["cometbft"]["validators"] == net.cometbft_genesis["validators"]
    assert "commit" in bundle["checks"] and "seal" not in bundle["checks"]
    assert bundle["sealerChanges"] == [] and bundle["checkpoint"] is None
    assert all(isinstance(e["proof"]["commit"], dict) for e in bundle["events"])


def test_audit_verify_checks_a_commit_per_block(served: dict[str, Any], net: Network, tmp_path: Path) -> None:
    bundle = served["bundle"]
    code, report = _audit_verify(bundle, [net.cometbft_genesis_path], tmp_path)
    assert code == 0 and report["ok"], report
    checks = [r["check"] for r in report["results"]]
    blocks = {e["proof"]["blockNumber"] for e in bundle["events"]}
    assert "seal" not in checks
    assert sorted(r["subject"] for r in report["results"] if r["check"] == "commit") == \
        sorted(f"block {n}" for n in blocks)
    assert {"genesis", "event", "commit"} <= set(checks)
    # With the address book as well (it pins the same genesis hash), still every check holds.
    code, report = _audit_verify(bundle, [net.cometbft_genesis_path, served["book"]], tmp_path)
    assert code == 0, report


def _drop_certificate_validator(bundle: dict[str, Any]) -> None:
    bundle["events"][0]["proof"]["commit"]["validators"].pop()


def _drop_anchor_validator(bundle: dict[str, Any]) -> None:
    bundle["cometbft"]["validators"].pop()


def _flip_first_signature(bundle: dict[str, Any]) -> None:
    _flip_signature(bundle["events"][-1]["proof"]["commit"])


@pytest.mark.parametrize("tamper", [_flip_first_signature, _drop_certificate_validator, _drop_anchor_validator])
def test_a_changed_commit_fails_commit_by_name(served: dict[str, Any], net: Network, tmp_path: Path,
                                              tamper: Any) -> None:
    bundle = copy.deepcopy(served["bundle"])
    tamper(bundle)
    code, report = _audit_verify(bundle, [net.cometbft_genesis_path], tmp_path)
    assert code == 1
    failed = {r["check"] for r in report["results"] if not r["ok"]}
    assert failed == {"commit"}, report


def test_without_the_cometbft_genesis_no_commit_holds(served: dict[str, Any], tmp_path: Path) -> None:
    code, report = _audit_verify(served["bundle"], [served["book"]], tmp_path)
    assert code == 1
    failures = [r for r in report["results"] if not r["ok"]]
    assert failures and all(r["check"] == "commit" and "pinned" in r["detail"] for r in failures), failures


def test_gateway_refuses_to_treat_a_validator_as_a_sealer(served: dict[str, Any], net: Network, tmp_path: Path) -> None:
    book = json.loads(Path(served["book"]).read_text())
    book.pop("consensus", None)
    path = tmp_path / "addressbook.json"
    path.write_text(json.dumps(book))
    settings = Settings(rpc_url=net.nodes[1].url, data_dir=tmp_path / "gw", addressbook=path)

    async def start() -> None:
        async with gateway_client(settings):
            pass

    with pytest.raises(ConfigurationInvalid, match="CometBFT validator"):
        run(start())


def test_gateway_run_from_the_genesis_against_one_validator(served: dict[str, Any], net: Network, tmp_path: Path) -> None:
    """What the README tells an operator to run: ``gateway run --genesis … --cometbft-genesis …``
    against one validator pins an address book that says ``consensus: cometbft`` and serves the
    donor's trace as verified; its log has no line per JSON-RPC call."""
    import httpx

    port = free_port()
    gateway = GatewayProcess(["gateway", "run", "--rpc", net.nodes[2].url, "--data-dir", str(tmp_path / "gw"),
                              "--genesis", str(net.root / "genesis.json"), "--cometbft-genesis",
                              str(net.cometbft_genesis_path), "--listen", f"127.0.0.1:{port}"],
                             port, tmp_path / "gateway.log").start()
    try:
        gateway.wait_indexed(head(net.nodes[2]))
        status = gateway.status()
        assert status["consensus"] == "cometbft" and status["indexerError"] is None, status
        assert json.loads((tmp_path / "gw" / "addressbook.json").read_text())["consensus"] == "cometbft"
        trace = httpx.get(f"{gateway.url}/v1/trace/{served['trace']['receiptCode']}", timeout=30).json()
        assert trace["verified"] is True and len(trace["events"]) == len(served["trace"]["events"])
    finally:
        gateway.stop()
    assert "HTTP Request" not in gateway.log()
