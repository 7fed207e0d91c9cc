"""The built verifier's other parts against the Python code they mirror, run under Node.js:
payload CIDs and SHA-256 of streamed files (gateway/payloads/unixfs.py, Kubo's import settings),
USCC and receipt codes (gateway/uscc.py, gateway/receipt_code.py), the positional batch tree of
contracts/README.md, and the proofs of the records of a served trace."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from gateway.payloads.cids import cid_text
from gateway.payloads.unixfs import import_bytes
from gateway.receipt_code import InvalidReceiptCode, parse_code, short_code
from gateway.uscc import InvalidUscc, parse_uscc
from portal_vectors import VECTORS, run_node

# (size, chunk size, max links): one leaf, exact chunks, the balanced layout one, two and three
# levels deep (small chunks and fan-out stand in for 256 KiB and 174), and Kubo's own parameters.
SHAPES = [(0, None, None), (1, None, None), (262_144, None, None), (262_145, None, None), (5 * 2**20 + 3, None, None),
          (1000, 16, 3), (175 * 1024, 1024, 174), (174 * 1024, 1024, 174), (4096, 7, 5)]


def test_payload_cids_and_hashes_match_the_gateway(tmp_path: Path) -> None:
    cases, expected = [], []
    for i, (size, chunk, links) in enumerate(SHAPES):
        data = os.urandom(size)
        path = tmp_path / f"payload-{i}.bin"
        path.write_bytes(data)
        kwargs: dict[str, Any] = {}
        if chunk:
            kwargs.update(chunk_size=chunk, max_links=links)
        expected.append({"size": size, "sha256": "0x" + hashlib.sha256(data).hexdigest(),
                         "cid": cid_text(import_bytes(data, **kwargs).cid)})
        cases.append({"path": str(path), "chunkSize": chunk, "maxLinks": links})
    got = run_node("payloads", stdin=cases)
    assert [{k: g[k] for k in ("size", "sha256", "cid")} for g in got] == expected
    assert all(g["check"] == {"check": "payload", "ok": True} for g in got)


def test_a_payload_that_differs_fails_the_payload_check(tmp_path: Path) -> None:
    path = tmp_path / "payload.bin"
    path.write_bytes(b"hello world\n")
    # Kubo's CIDv1 of these 12 bytes (NOTES "IPFS"); the second case claims another file's hash.
    good = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    got = run_node("payloads", stdin=[{"path": str(path), "expectCid": good},
                                      {"path": str(path), "expectSha256": "0x" + "00" * 32}])
    assert got[0]["cid"] == good and got[0]["check"]["ok"]
    assert got[1]["check"] == {"check": "payload", "ok": False}


USCCS = ["91350100M000100Y43", "91350100m000100y43", " 91350100M000100Y43 ", "91350100M000100Y44", "91350100M000100Y4",
         "91350100M00O100Y43", "913501000000100S43", "911100001000000009", "ABCDEFGHJKLMNPQRTU"]


def test_uscc_validation_matches_the_gateway() -> None:
    receipts = [short_code(keccak(bytes([i]))) for i in range(5)]
    typed = [*receipts, receipts[0].lower().replace("-", ""), receipts[1].replace("1", "I").replace("0", "O"),
             receipts[2][:-1] + ("0" if receipts[2][-1] != "0" else "1"), receipts[3][1] + receipts[3][0] + receipts[3][2:],
             "ABCD-EFGH-JKMN", "UUUU-UUUU-UUUU-U"]
    got = run_node("codes", stdin={"uscc": USCCS, "receipt": typed, "short": ["0x" + keccak(bytes([i])).hex() for i in range(5)]})
    for text, answer in zip(USCCS, got["uscc"]):
        try:
            expected = {"ok": True, "code": parse_uscc(text), "position": None, "reason": None}
        except InvalidUscc as exc:
            expected = {"ok": False, "code": text.strip().upper(), "position": exc.position, "reason": exc.reason}
        assert {k: answer[k] for k in ("ok", "code", "position", "reason")} == expected, text
    for text, answer in zip(typed, got["receipt"]):
        try:
            canonical, prefix = parse_code(text)
            expected = {"ok": True, "code": canonical, "prefix": str(prefix)}
        except InvalidReceiptCode:
            expected = {"ok": False, "code": None, "prefix": None}
        assert {k: answer[k] for k in ("ok", "code", "prefix")} == expected, text
    assert got["short"] == receipts


def _leaf(i: int) -> dict[str, Any]:
    return {"issuerMemberId": 9, "category": 1, "indexInBatch": i, "isPublic": True, "uscc": "91350100M000100Y43",
            "severity": 2, "effectiveDate": 1_700_000_000 + i, "expiryDate": 0, "amount": str(10**20 + i),
            "summaryHash": "0x" + keccak(b"summary %d" % i).hex(), "evidenceCidHash": "0x" + keccak(b"cid").hex(),
            "subjectTag": "0x" + "00" * 32, "commitment": "0x" + "00" * 32}


def _leaf_hash(leaf: dict[str, Any]) -> bytes:
    """contracts/README.md "Batch leaves", written out here independently of the JavaScript."""
    words = abi_encode(
        ["uint256", "uint8", "uint256", "bool", "bytes18", "uint8", "uint64", "uint64", "uint256", "bytes32", "bytes32",
         "bytes32", "bytes32"],
        [leaf["issuerMemberId"], leaf["category"], leaf["indexInBatch"], leaf["isPublic"], leaf["uscc"].encode(),
         leaf["severity"], leaf["effectiveDate"], leaf["expiryDate"], int(leaf["amount"])]
        + [bytes.fromhex(leaf[k][2:]) for k in ("summaryHash", "evidenceCidHash", "subjectTag", "commitment")])
    return keccak(keccak(words))


@pytest.mark.parametrize(("count", "index"), [(1, 0), (3, 2), (5, 4), (8, 3)])
def test_batch_tree_matches_the_positional_spec(count: int, index: int) -> None:
    leaves = [_leaf(i) for i in range(count)]
    hashes = [_leaf_hash(leaf) for leaf in leaves]
    level = hashes + [b"\0" * 32] * ((1 << (count - 1).bit_length()) - count)
    path = []
    position = index
    while len(level) > 1:
        path.append(level[position ^ 1])
        level = [keccak(level[j] + level[j + 1]) for j in range(0, len(level), 2)]
        position //= 2
    got = run_node("batch", stdin={"leaves": leaves, "index": index})
    assert got["leaves"] == ["0x" + h.hex() for h in hashes]
    assert got["root"] == "0x" + level[0].hex() and got["path"] == ["0x" + p.hex() for p in path]
    assert got["verifies"] and (count == 1 or not got["wrongIndex"])


def test_node_verifies_each_served_trace_record() -> None:
    found = run_node("records", str(VECTORS))
    trace = json.loads((VECTORS / "records" / "trace.json").read_text())
    assert [(r["ok"], r["event"]) for r in found["records"]] == [(True, e["kind"]) for e in trace["events"]]
    assert [found[k]["check"] for k in ("tampered", "wrongKind", "noSealers")] == ["receipt-proof", "log-content", "seal"]
