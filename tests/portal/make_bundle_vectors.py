"""Make the shared evidence-bundle vectors (tests/vectors/bundles/) from a real development chain.

Runs what the gateway tests run (tests/gateway_harness.py, tests/gateway_flows.py): a dev network
and its node process on loopback, the address book ``scripts/deploy`` writes for it, a sealer-set
change by two admins (so bundles carry a proven ``sealerChanges`` entry), the custody, credit and
data-sharing flows, and the gateway app in-process answering ``/v1/trace``, ``/v1/evidence/...``.
The bundles it serves are the valid vectors; each tampered vector changes one thing in a copy and
states in ``expected.json`` which checks must fail. ``audit.bundle.verify_bundle`` must reproduce
every ``expected.json`` before anything is written (the script refuses otherwise), and
tests/portal/ checks that the browser library gives the same verdicts.

Vectors are made once and committed; running this again makes a new chain (new keys, hashes and
timestamps), so commit the whole directory it writes. Usage: scripts/make-bundle-vectors [--out DIR];
``--cometbft`` makes tests/vectors/cometbft_bundle/ instead, from a four-validator CometBFT network.
(it lives with the tests, not under scripts/, because it drives the tests' own harness and flows).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import rlp  # noqa: E402
from eth_abi import encode as abi_encode  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from eth_keys import keys  # noqa: E402

from audit import tlog  # noqa: E402
from audit.bundle import Trust, verify_bundle  # noqa: E402

SEED = b"cityledger bundle vectors"
REGISTRY_SET_SEALERS = 6  # MemberRegistry.Action.SetSealers

Bundle = dict[str, Any]


def batch_csv() -> str:
    """A credit batch's file (``POST /v1/credit/batches``): five penalties, entry 1 restricted."""
    from gateway.uscc import check_character

    rows = []
    for i in range(5):
        stem = f"9133010000000{i:04d}"
        visibility = "restricted" if i == 1 else "public"
        rows.append(f"{stem}{check_character(stem)},2,2024-03-0{i + 1},2027-01-01,{(i + 1) * 1000},第{i}号处罚决定,"
                    f"bafkreibatch{i},{visibility}\n")
    return "uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n" + "".join(rows)


def trust_of(spec: Any, addressbook: dict[str, Any], genesis: dict[str, Any]) -> Trust:
    """The Trust an ``expected.json`` names (the README of the vectors describes the forms)."""
    if isinstance(spec, dict):
        return Trust(chain_id=spec.get("chainId"),
                     genesis_hash=bytes.fromhex(spec["genesisHash"][2:]) if spec.get("genesisHash") else None,
                     genesis_sealers=tuple(bytes.fromhex(a[2:]) for a in spec["genesisSealers"])
                     if spec.get("genesisSealers") is not None else None,
                     witness_keys=tuple(tlog.parse_vkey(k) for k in spec.get("witnessKeys", [])),
                     min_cosignatures=int(spec.get("minCosignatures", 0)))
    use_book = spec in ("both", "addressbook")
    use_genesis = spec in ("both", "genesis")
    return Trust(chain_id=addressbook["chainId"],
                 genesis_hash=bytes.fromhex(addressbook["deployment"]["blockHash"][2:]) if use_book else None,
                 genesis_sealers=tuple(bytes.fromhex(a[2:]) for a in genesis["registry"]["sealers"]) if use_genesis else None)


def _flip(hex_text: str) -> str:
    """Change the last byte of a 0x-hex string."""
    return hex_text[:-2] + ("00" if hex_text[-2:] != "00" else "01")


def reseal(proof: dict[str, Any], key: keys.PrivateKey) -> None:
    """Seal ``proof``'s header again with ``key`` (EIP-225 layout) and fix ``blockHash``: every
    check but the seal still holds, so only who sealed it decides."""
    fields = rlp.decode(bytes.fromhex(proof["header"][2:]))
    vanity = fields[12][:32]
    fields[12] = vanity
    digest = keccak(rlp.encode(fields))
    fields[12] = vanity + key.sign_msg_hash(digest).to_bytes()
    raw = rlp.encode(fields)
    proof["header"] = "0x" + raw.hex()
    proof["blockHash"] = "0x" + keccak(raw).hex()


def edit_header_and_rehash(proof: dict[str, Any]) -> None:
    """Change the header's timestamp and fix ``blockHash``: the seal no longer covers the header."""
    fields = rlp.decode(bytes.fromhex(proof["header"][2:]))
    fields[11] = (int.from_bytes(fields[11], "big") + 1).to_bytes(8, "big").lstrip(b"\0")
    raw = rlp.encode(fields)
    proof["header"] = "0x" + raw.hex()
    proof["blockHash"] = "0x" + keccak(raw).hex()


def move_indexed_flag(event: dict[str, Any]) -> None:
    """Claim the first indexed input is not indexed and the last plain one is: same signature,
    same topic count, but a topic is now decoded as another type."""
    inputs = event["inputs"]
    first = next(p for p in inputs if p.get("indexed"))
    last = [p for p in inputs if not p.get("indexed")][-1]
    first["indexed"], last["indexed"] = False, True


def without_checkpoint(bundle: dict[str, Any]) -> None:
    """Leave the checkpoint out: a tamper that re-hashes a block would otherwise also fail its
    inclusion in the witnessed tree, and the vector is about something else."""
    bundle["checkpoint"] = None


def edit_note(bundle: dict[str, Any], edit: Callable[[tlog.Note], tlog.Note]) -> None:
    section = bundle["checkpoint"]
    section["note"] = edit(tlog.parse_note(section["note"])).render()


def other_root(note: tlog.Note) -> tlog.Note:
    """The checkpoint text with one byte of its root changed (the signatures left as they were)."""
    point = tlog.parse_checkpoint(note.text)
    root = bytes([point.root[0] ^ 1]) + point.root[1:]
    return tlog.Note(tlog.Checkpoint(point.origin, point.size, root).text, note.signatures)


def build(out: Path) -> None:
    from conftest import make_devnet, sealer_process
    from gateway import db
    from gateway.records.credit import CreditEntry
    from gateway.settings import Settings
    from gateway_flows import credit_flow, custody_flow, share_flow
    from gateway_harness import actor, gateway_client, receipt_code_of, wait_indexed, write_addressbook
    from sqlmodel import select

    work = Path(tempfile.mkdtemp(prefix="bundle-vectors-"))
    try:
        devnet = make_devnet(work / "node", seed=SEED)
        node = sealer_process(devnet, block_time=0.05, ws=False).start()
        try:
            book_path = write_addressbook(node.url, devnet.genesis_path, work / "addressbook.json")
            # A second sealer (admin 0's account) joins: bundles then carry a proven sealer change.
            admin0, admin1 = actor(node, devnet, book_path, "admin:0"), actor(node, devnet, book_path, "admin:1")
            second = devnet.keys["admins"][0]
            sealers = [devnet.keys["sealer"]["address"], second["address"]]
            receipt = admin0.send("MemberRegistry", "propose", REGISTRY_SET_SEALERS, abi_encode(["address[]"], [sealers]))
            admin1.send("MemberRegistry", "approveProposal", admin0.event_args(receipt, "ProposalCreated")["proposalId"])
            lots = custody_flow(node, devnet, book_path)
            credit = credit_flow(node, devnet, book_path)
            share = share_flow(node, devnet, book_path)
            regulator = actor(node, devnet, book_path, "Market Supervision")
            settings = Settings(rpc_url=node.url, data_dir=work / "gateway", addressbook=book_path,
                                test_member_header=True)

            async def fetch() -> dict[str, Any]:
                async with gateway_client(settings) as (app, client):
                    await wait_indexed(app, int(node.rpc("eth_blockNumber"), 16))
                    code = receipt_code_of(app, lots["lot"])
                    with db.session(app.state.services.engine) as s:
                        entry = s.get(CreditEntry, credit["entry"])
                        assert entry is not None
                        share_event = next(e for e in s.exec(select(db.ChainEvent)).all()
                                           if e.name == "RequestSubmitted")
                    trace = (await client.get(f"/v1/trace/{code}")).json()
                    got = {"trace": trace}
                    for name, url in (("trace", trace["evidence"]), ("credit", f"/v1/evidence/credit-entry/{credit['entry']}"),
                                      ("share", f"/v1/evidence/event/{share_event.block_number}/{share_event.block_log_index}")):
                        answer = await client.get(url)
                        assert answer.status_code == 200, answer.text
                        got[f"{name}-bundle"] = answer.json()
                    got["credit-record"] = (await client.get(f"/v1/credit/entries/{credit['entry']}")).json()
                    # A credit batch of 5 (entry 1 restricted), anchored by the regulator's own key.
                    uploaded = await client.post("/v1/credit/batches?category=Penalty", content=batch_csv(), headers={
                        "X-CityLedger-Test-Member": regulator.address, "content-type": "text/csv"})
                    assert uploaded.status_code == 201, uploaded.text
                    anchored = regulator.send_data(uploaded.json()["anchor"]["to"], uploaded.json()["anchor"]["data"])
                    batch_id = regulator.event_args(anchored, "BatchAnchored")["batchId"]
                    await wait_indexed(app, int(anchored["blockNumber"], 16))
                    assert await app.state.services.extras["credit-batches"].worker.wait_for(batch_id) == "indexed"
                    answer = await client.get(f"/v1/evidence/credit-batch-entry/{batch_id}/2")
                    assert answer.status_code == 200, answer.text
                    got["batch-bundle"] = answer.json()
                    return got

            fetched = asyncio.run(fetch())
        finally:
            node.stop()
        addressbook = json.loads(book_path.read_text())
        genesis = json.loads(devnet.genesis_path.read_text())
        write_vectors(out, addressbook, genesis, fetched, devnet.keys, share)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_vectors(out: Path, addressbook: dict[str, Any], genesis: dict[str, Any], fetched: dict[str, Any],
                  dev_keys: dict[str, Any], share: dict[str, Any]) -> None:
    trace, credit, shared = fetched["trace-bundle"], fetched["credit-bundle"], fetched["share-bundle"]
    batch = fetched["batch-bundle"]
    assert trace["sealerChanges"], "the trace bundle should carry the sealer change"
    second_sealer = keys.PrivateKey(bytes.fromhex(dev_keys["admins"][0]["private_key"][2:]))
    stranger = keys.PrivateKey(bytes.fromhex(next(m for m in dev_keys["members"] if "Red Cross" in m["name"])["private_key"][2:]))

    def events_named(bundle: Bundle, name: str) -> int:
        return next(i for i, e in enumerate(bundle["events"]) if e["event"] == name)

    accepted = events_named(trace, "TransferAccepted")
    assert trace["checkpoint"], "the trace bundle should carry a checkpoint covering its blocks"
    # A witness (a fixed Ed25519 key) cosigns the trace bundle's checkpoint; the auditor pins its key.
    witness_private = Ed25519PrivateKey.from_private_bytes(keccak(SEED + b" witness"))
    witness = tlog.WitnessKey("audit-ngo.example/w1", witness_private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    note_text = tlog.parse_note(trace["checkpoint"]["note"]).text
    cosignature = tlog.cosign(note_text, witness.name, witness_private, 1_764_460_800)
    broken = tlog.SignatureLine(cosignature.name, cosignature.key_id,
                                cosignature.signature[:-1] + bytes([cosignature.signature[-1] ^ 1]))
    pinned = {"chainId": trace["chainId"], "genesisHash": addressbook["deployment"]["blockHash"]}
    witnessed = {**pinned, "witnessKeys": [witness.vkey], "minCosignatures": 1}
    stranger_key = bytes.fromhex(next(m for m in dev_keys["members"] if "Red Cross" in m["name"])["private_key"][2:])

    def set_(path: Callable[[Bundle], dict[str, Any]], key: str, value: Callable[[Any], Any]) -> Callable[[Bundle], None]:
        def tamper(b: Bundle) -> None:
            target = path(b)
            target[key] = value(target[key])
        return tamper

    ev = lambda i: (lambda b: b["events"][i])  # noqa: E731
    proof = lambda i: (lambda b: b["events"][i]["proof"])  # noqa: E731
    change = lambda b: b["sealerChanges"][0]  # noqa: E731
    entry = lambda b: b["batchEntries"][0]  # noqa: E731
    leaf = lambda b: b["batchEntries"][0]["leaf"]  # noqa: E731

    def other_check_character(uscc: str) -> str:  # 0x-hex of 18 ASCII characters; the last one changed
        last = bytes.fromhex(uscc[-2:])
        return uscc[:-2] + (b"1" if last != b"1" else b"2").hex()

    # name: (base bundle, tamper or None, trust, description)
    cases: dict[str, tuple[Bundle, Callable[[Bundle], None] | None, Any, str]] = {
        "valid-trace": (trace, None, "both", "A donor's trace as the gateway serves it: 11 custody events, one sealer change and the newest checkpoint covering their blocks, pinned by the address book and the genesis document."),
        "valid-trace-addressbook-only": (trace, None, "addressbook", "The same bundle, trusting only the genesis hash from the address book."),
        "valid-trace-genesis-only": (trace, None, "genesis", "The same bundle, trusting only the sealer set of the genesis document."),
        "valid-credit-entry": (credit, None, "both", "A public credit entry: an EntryIssued event whose Entry tuple holds bytes18, strings, enums and integers."),
        "valid-share-request": (shared, None, "both", "A data-sharing request: RequestSubmitted with a ShareRequest tuple (strings, a string[]) and bytes."),
        "valid-second-sealer": (trace, lambda b: (reseal(proof(0)(b), second_sealer), without_checkpoint(b)), "both",
                                "Event 0's block sealed by the sealer the change admitted: valid, because the change is proven (no checkpoint: resealing changed the block's hash)."),
        "valid-no-seals": (trace, lambda b: (b.__setitem__("consensus", "none"), without_checkpoint(b)), "addressbook",
                           "Read as a chain without seals (as on anvil): the genesis hash alone anchors it (no checkpoint: without a sealer set nobody could have signed one)."),
        "no-seals-hash-not-pinned": (trace, lambda b: (b.__setitem__("consensus", "none"), without_checkpoint(b)), "genesis",
                                     "A chain without seals with only a sealer set pinned: nothing anchors it."),
        "nothing-pinned": (trace, None, "none", "Nothing pinned: the bundle proves nothing to this auditor."),
        "other-genesis": (trace, None, {"chainId": trace["chainId"], "genesisHash": "0x" + "42" * 32}, "The auditor pinned another genesis hash."),
        "other-chain": (trace, None, {"chainId": trace["chainId"] + 1, "genesisHash": addressbook["deployment"]["blockHash"]}, "The auditor pinned another chain id."),
        "format-version": (trace, lambda b: b.__setitem__("format", "cityledger-evidence/0"), "both", "An unknown bundle format."),
        "no-events": (trace, lambda b: b.__setitem__("events", []), "both", "A bundle that proves no event."),
        "receipt-proof-node-byte": (trace, set_(proof(3), "receiptProof", lambda n: [*n[:-1], _flip(n[-1])]), "both", "One byte of event 3's last receipt-trie node changed."),
        "tx-proof-node-byte": (trace, set_(proof(3), "txProof", lambda n: [_flip(n[0]), *n[1:]]), "both", "One byte of event 3's root transaction-trie node changed."),
        "header-byte": (trace, set_(proof(2), "header", _flip), "both", "One byte of event 2's header changed (blockHash left as it was)."),
        "header-edited-rehashed": (trace, lambda b: edit_header_and_rehash(proof(2)(b)), "both", "Event 2's header timestamp changed and blockHash recomputed: the seal no longer covers it."),
        "block-number": (trace, set_(proof(2), "blockNumber", lambda n: n + 1), "both", "Event 2's proof claims another block number."),
        "log-content-arg": (trace, set_(ev(accepted), "args", lambda a: {**a, "received": 600}), "both", "The TransferAccepted event claims 600 received (the chain says 590)."),
        "log-content-address": (trace, set_(ev(0), "address", lambda a: "0x" + "00" * 19 + "01"), "both", "Event 0 claims to come from another contract."),
        "log-index": (trace, set_(proof(3), "logIndex", lambda _: 7), "both", "Event 3's proof points past the receipt's logs."),
        "log-index-other-log": (trace, set_(proof(accepted), "logIndex", lambda i: i + 1 if i == 0 else i - 1), "both", "The TransferAccepted proof points at another log of the same receipt."),
        "tx-hash": (trace, set_(proof(0), "txHash", lambda _: "0x" + "00" * 32), "both", "Event 0 claims another transaction hash."),
        "genesis-sealers": (trace, lambda b: b["genesis"].__setitem__("sealers", ["0x" + "11" * 20]), "both", "The bundle states another genesis sealer set than its state proof proves."),
        "genesis-state-proof-byte": (trace, set_(lambda b: b["genesis"]["sealersProof"]["account"], "accountProof", lambda n: [*n[:-1], _flip(n[-1])]), "both", "One byte of the registry's account proof changed."),
        "seal-by-non-sealer": (trace, lambda b: reseal(proof(0)(b), stranger), "both", "Event 0's block sealed again by a member key that was never a sealer."),
        "second-sealer-without-change": (trace, lambda b: (reseal(proof(0)(b), second_sealer), b.__setitem__("sealerChanges", [])), "both",
                                         "Event 0 sealed by the second sealer, with the change that admitted it left out."),
        "sealer-change-sealers": (trace, set_(change, "sealers", lambda s: [*s, "0x" + "33" * 20]), "both", "The sealer change claims a sealer its proven log does not list."),
        "sealer-change-proof-byte": (trace, set_(lambda b: b["sealerChanges"][0]["proof"], "receiptProof", lambda n: [*n[:-1], _flip(n[-1])]), "both", "One byte of the sealer change's receipt proof changed."),
        "sealer-change-sealed-by-newcomer": (trace, lambda b: reseal(change(b)["proof"], second_sealer), "both",
                                             "The change's own block sealed by the sealer it admits, who was not yet in force."),
        "checkpoint-root": (trace, lambda b: edit_note(b, other_root), "both",
                            "One byte of the checkpoint's root changed: the head is not in that tree and the sealer did not sign it."),
        "checkpoint-inclusion-proof-byte": (trace, lambda b: b["checkpoint"]["inclusions"][0].__setitem__(
            "proof", [_flip(b["checkpoint"]["inclusions"][0]["proof"][0]), *b["checkpoint"]["inclusions"][0]["proof"][1:]]), "both",
            "One byte of the first block's inclusion proof in the checkpoint's tree changed."),
        "checkpoint-signed-by-non-sealer": (trace, lambda b: edit_note(b, lambda n: tlog.sign_checkpoint(tlog.parse_checkpoint(n.text), stranger_key)), "both",
                                            "The checkpoint signed again by a member key that was never a sealer, the sealer's signature dropped."),
        "valid-witness-cosigned": (trace, lambda b: edit_note(b, lambda n: n.with_signatures([cosignature])), witnessed,
                                   "The checkpoint cosigned by a witness whose key the auditor pinned, one cosignature demanded."),
        "valid-witness-only": (trace, lambda b: edit_note(b, lambda n: n.with_signatures([cosignature])),
                               {"chainId": trace["chainId"], "witnessKeys": [witness.vkey], "minCosignatures": 1},
                               "Only the witness key pinned: its cosignature on the checkpoint pins the chain and genesis its origin names."),
        "cosignature-byte": (trace, lambda b: edit_note(b, lambda n: n.with_signatures([broken])), witnessed,
                             "The witness's cosignature with one byte changed."),
        "cosignature-missing": (trace, None, witnessed, "One witness cosignature demanded, none on the checkpoint."),
        "indexed-flag-moved": (credit, lambda b: move_indexed_flag(b["events"][0]), "both",
                               "The credit event's ABI moves an indexed flag: same signature, but a topic now decodes as bytes18 with non-zero padding."),
        "credit-entry-tuple-field": (credit, set_(ev(0), "args", lambda a: {**a, "entry": {**a["entry"], "amount": a["entry"]["amount"] + 1}}), "both",
                                     "The credit entry tuple claims another amount."),
        "valid-credit-batch-entry": (batch, None, "both",
                                     "A public entry of an anchored credit batch: its leaf and Merkle path lead to the root of the proven BatchAnchored event."),
        "batch-entry-leaf-amount": (batch, set_(leaf, "amount", lambda a: type(a)(int(a) + 1)), "both",
                                    "The batch entry's leaf claims another amount: its path no longer leads to the anchored root."),
        "batch-entry-path-sibling": (batch, set_(entry, "path", lambda p: [_flip(p[0]), *p[1:]]), "both",
                                     "One byte of the first sibling on the entry's Merkle path changed."),
        "batch-entry-path-short": (batch, set_(entry, "path", lambda p: p[:-1]), "both",
                                   "The entry's Merkle path is one sibling short of the batch's depth."),
        "batch-entry-other-index": (batch, set_(entry, "index", lambda i: i + 1), "both",
                                    "The entry claims another position in the batch than its leaf commits to."),
        "batch-entry-uscc-check-character": (batch, set_(leaf, "uscc", other_check_character), "both",
                                             "The public leaf's USCC has a wrong check character (GB 32100-2015)."),
        "batch-entry-no-anchor": (batch, set_(entry, "anchorEvent", lambda _: 9), "both",
                                  "The entry names an anchor event the bundle does not prove."),
        "batch-entry-leaf-field-missing": (batch, lambda b: leaf(b).pop("commitment"), "both",
                                           "The entry's leaf lacks one of the 13 BatchLeaf fields."),
        "share-request-fields": (shared, set_(ev(0), "args", lambda a: {**a, "request": {**a["request"], "fields": [*a["request"]["fields"][:-1], "passport"]}}), "both",
                                 "The share request claims another field in its string[] (inside the ShareRequest tuple)."),
    }

    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    (out / "addressbook.json").write_text(json.dumps(addressbook, indent=2) + "\n")
    (out / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    records = out / "records"
    records.mkdir()
    (records / "trace.json").write_text(json.dumps(fetched["trace"], indent=1) + "\n")
    (records / "credit-entry.json").write_text(json.dumps(fetched["credit-record"], indent=1) + "\n")
    for name, (base, tamper, trust, description) in cases.items():
        bundle = copy.deepcopy(base)
        if tamper is not None:
            tamper(bundle)
        report = verify_bundle(bundle, trust_of(trust, addressbook, genesis))
        failing = sorted({f.check for f in report.failures})
        valid = name.startswith("valid")
        if valid != report.ok or (not valid and not failing):
            raise SystemExit(f"make-bundle-vectors: {name}: audit says ok={report.ok} {failing}; not what the vector means")
        folder = out / name
        folder.mkdir()
        (folder / "bundle.json").write_text(json.dumps(bundle, separators=(",", ":")) + "\n")
        (folder / "expected.json").write_text(json.dumps(
            {"description": description, "trust": trust, "ok": report.ok, "failing": failing}, indent=2) + "\n")
        print(f"{name:36} ok={report.ok!s:5} failing={failing}")


def build_cometbft(out: Path) -> None:
    """The CometBFT vector (tests/vectors/cometbft_bundle/): a donor's trace bundle served by the
    gateway over validator 1 of a four-validator network, after the custody flow, with the
    network's CometBFT genesis pinned; audit must find it valid before anything is written."""
    from audit.verify import trust_from
    from cometbft_harness import head, running_network
    from conftest import DevNet
    from gateway.settings import Settings
    from gateway_flows import custody_flow
    from gateway_harness import gateway_client, trace_and_bundle, wait_indexed, write_addressbook

    work = Path(tempfile.mkdtemp(prefix="cometbft-vector-"))
    try:
        with running_network(work / "testnet") as net:
            node = net.nodes[1]
            book_path = write_addressbook(node.url, net.root / "genesis.json", work / "addressbook.json")
            lots = custody_flow(node, DevNet(net.root, net.keys), book_path)
            settings = Settings(rpc_url=node.url, data_dir=work / "gateway", addressbook=book_path,
                                cometbft_genesis=net.cometbft_genesis_path)

            async def fetch() -> dict[str, Any]:
                async with gateway_client(settings) as (app, client):
                    await wait_indexed(app, head(node), timeout=60)
                    return (await trace_and_bundle(app, client, lots["lot"]))[1]

            bundle = asyncio.run(fetch())
        addressbook = json.loads(book_path.read_text())
        report = verify_bundle(bundle, trust_from([addressbook, net.cometbft_genesis]))
        if not report.ok or "commit" not in {r.check for r in report.results}:
            raise SystemExit(f"make-bundle-vectors --cometbft: audit says ok={report.ok} {report.failures}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "bundle.json").write_text(json.dumps(bundle, indent=4) + "\n")
        (out / "addressbook.json").write_text(json.dumps(addressbook, indent=2) + "\n")
        (out / "cometbft-genesis.json").write_text(json.dumps(net.cometbft_genesis, indent=2) + "\n")
        print(f"cometbft_bundle: {len(bundle['events'])} events, ok, written to {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: tests/vectors/bundles, or tests/vectors/cometbft_bundle with --cometbft")
    parser.add_argument("--cometbft", action="store_true",
                        help="make the CometBFT vector (a four-validator network) instead of the bundle vectors")
    args = parser.parse_args(argv)
    if args.cometbft:
        build_cometbft(args.out or ROOT / "tests" / "vectors" / "cometbft_bundle")
    else:
        build(args.out or ROOT / "tests" / "vectors" / "bundles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
