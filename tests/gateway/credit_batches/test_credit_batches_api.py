"""Credit batches end to end on a real node, on SQLite and on PostgreSQL: a regulator uploads a
CSV, signs the ``anchorBatch`` calldata the gateway returns with its own key, the gateway indexes
the anchored batch in the background and serves each entry with a proof that the contract's own
``verifyBatchEntry`` accepts, lists batch entries in a subject's history with their corrections,
opens restricted entries to authorised members only, and flags batches whose file does not match
their anchor or cannot be fetched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from audit.bundle import verify_bundle
from audit.verify import trust_from
from conftest import DevNet, NodeProcess
from gateway.credit_batches.leaves import BatchLeaf, keccak256
from gateway.credit_batches.restricted import RestrictedContent
from gateway.credit_batches.tree import process_path
from gateway.proofs import ReceiptProof, verify_receipt_proof
from gateway_flows import authorise_regulator
from gateway_harness import actor, gateway_client, gateway_settings, run, trust_documents, wait_indexed

SCHEMAS = Path(__file__).resolve().parents[3] / "gateway" / "schemas"


def validate(doc: dict[str, Any], schema_name: str) -> None:
    import jsonschema
    from referencing import Registry, Resource

    proof = json.loads((SCHEMAS / "proof.schema.json").read_text())
    registry = Registry().with_resource(proof["$id"], Resource.from_contents(proof))
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema_name).read_text()), registry=registry).validate(doc)

HEADER = "uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"
SUBJECT = "91350100M000100Y43"
TEST_MEMBER = "X-CityLedger-Test-Member"


def _uscc(stem: str) -> str:
    from gateway.uscc import check_character

    return stem + check_character(stem)


def _batch_csv(count: int) -> str:
    rows = []
    for i in range(count):
        code = SUBJECT if i % 50 == 7 else _uscc(f"91330100{i:09d}")
        visibility = "restricted" if i in (3, 120) else "public"
        rows.append(f"{code},{1 + i % 3},2024-01-{1 + i % 28:02d},{'' if i % 2 else '2027-01-01'},{i * 100},"
                    f"\"第{i}号处罚决定, 罚款\",bafkreievidence{i},{visibility}\n")
    return HEADER + "".join(rows)


def _leaf(proof_entry: dict[str, Any], issuer: int, category: int) -> BatchLeaf:
    if proof_entry["isPublic"]:
        return BatchLeaf(issuer, category, proof_entry["index"], True, proof_entry["uscc"].encode(),
                         proof_entry["severity"], proof_entry["effectiveDate"], proof_entry["expiryDate"] or 0,
                         int(proof_entry["amount"]), bytes.fromhex(proof_entry["summaryHash"][2:]),
                         bytes.fromhex(proof_entry["evidenceCidHash"][2:]))
    return BatchLeaf(issuer, category, proof_entry["index"], False,
                     subject_tag=bytes.fromhex(proof_entry["subjectTag"][2:]),
                     commitment=bytes.fromhex(proof_entry["commitment"][2:]))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def test_batches_upload_anchor_index_and_serve_with_proofs(chain: NodeProcess, addressbook: Path, tmp_path: Path,
                                                           devnet: DevNet, database_url: str | None) -> None:
    authorise_regulator(chain, devnet, addressbook, 1)
    regulator = actor(chain, devnet, addressbook, "Market Supervision")
    auditor = actor(chain, devnet, addressbook, "Audit NGO")
    department = actor(chain, devnet, addressbook, "Health")
    reg_id = next(m["id"] for m in devnet.keys["members"] if m["kind"] == "regulator")
    settings = gateway_settings(chain, addressbook, tmp_path, database_url=database_url, test_member_header=True,
                                max_batch_upload_bytes=2_000_000)
    as_regulator = {TEST_MEMBER: regulator.address, "content-type": "text/csv"}
    count = 300

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            worker = app.state.services.extras["credit-batches"].worker
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))

            # Refusals: not a regulator; a bad row (the whole file, rows named); too large.
            refused = await client.post("/v1/credit/batches?category=Penalty", content=_batch_csv(3),
                                        headers={**as_regulator, TEST_MEMBER: department.address})
            assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
            bad = _batch_csv(5).replace(_uscc("91330100000000002"), "91330100000000002X")
            rejected = await client.post("/v1/credit/batches?category=Penalty", content=bad, headers=as_regulator)
            assert rejected.status_code == 422, rejected.text
            assert rejected.json()["rejected_rows"] == 1 and rejected.json()["rows"][0]["line"] == 4
            big = await client.post("/v1/credit/batches?category=Penalty", content=b"x" * 2_000_001,
                                    headers=as_regulator)
            assert big.status_code == 413
            assert (await client.post("/v1/credit/batches?category=Colour", content=_batch_csv(2),
                                      headers=as_regulator)).status_code == 422

            # Upload; the regulator signs the returned calldata with its own key.
            uploaded = await client.post("/v1/credit/batches?category=Penalty", content=_batch_csv(count),
                                         headers=as_regulator)
            assert uploaded.status_code == 201, uploaded.text
            built = uploaded.json()
            assert (built["entryCount"], built["depth"], built["restrictedEntries"]) == (count, 9, 2)
            receipt = regulator.send_data(built["anchor"]["to"], built["anchor"]["data"])
            anchored = regulator.event_args(receipt, "BatchAnchored")
            assert anchored["merkleRoot"] == built["merkleRoot"]
            assert anchored["batchFileCid"] == built["batchFileCid"]
            batch_id = anchored["batchId"]
            await wait_indexed(app, int(receipt["blockNumber"], 16))
            assert await worker.wait_for(batch_id) == "indexed"
            status = (await client.get(f"/v1/credit/batches/{batch_id}")).json()
            assert status["state"] == "indexed" and status["verified"] is True

            # Each entry is served with a proof the contract itself accepts.
            for index in (0, 3, 7, 150, count - 1):
                answer = await client.get(f"/v1/credit/batches/{batch_id}/entries/{index}")
                assert answer.status_code == 200, answer.text
                entry = answer.json()
                proof = entry["proof"]
                assert entry["verified"] is True and proof["type"] == "batch" and proof["index"] == index
                leaf = _leaf(entry, reg_id, 1)
                assert "0x" + leaf.hash().hex() == proof["leaf"]
                siblings = [bytes.fromhex(h[2:]) for h in proof["path"]]
                assert "0x" + process_path(leaf.hash(), index, siblings).hex() == proof["root"] == built["merkleRoot"]
                assert regulator.call("Credit", "verifyBatchEntry", batch_id, siblings, leaf.as_abi()) == (True,)
                assert regulator.call("Credit", "batchLeafHash", leaf.as_abi()) == (leaf.hash(),)
                verify_receipt_proof(ReceiptProof.from_json(proof["anchor"]))
                assert entry["isPublic"] is (index not in (3, 120))
            public = (await client.get(f"/v1/credit/batches/{batch_id}/entries/0")).json()
            assert public["summary"] == "第0号处罚决定, 罚款" and public["summaryHash"] == "0x" + keccak256(
                "第0号处罚决定, 罚款".encode()).hex()
            assert (await client.get(f"/v1/credit/batches/{batch_id}/entries/{count}")).status_code == 404
            assert (await client.get("/v1/credit/batches/99/entries/0")).status_code == 404

            # The subject's history lists its batch entries in chain order; correct one on chain.
            history = (await client.get(f"/v1/credit/{SUBJECT.lower()}")).json()
            batch_items = [e for e in history["entries"] if e["source"] == "batch"]
            assert [e["index"] for e in batch_items] == [i for i in range(count) if i % 50 == 7]
            assert history["verified"] is True
            target = (await client.get(f"/v1/credit/batches/{batch_id}/entries/57")).json()
            leaf = _leaf(target, reg_id, 1)
            ref = {"entryId": 0, "batchId": batch_id, "proof": [bytes.fromhex(h[2:]) for h in target["proof"]["path"]],
                   "leaf": dict(zip(("issuerMemberId", "category", "indexInBatch", "isPublic", "uscc", "severity",
                                     "effectiveDate", "expiryDate", "amount", "summaryHash", "evidenceCidHash",
                                     "subjectTag", "commitment"), leaf.as_abi()))}
            record = {"uscc": SUBJECT, "category": 1, "severity": 1, "effectiveDate": 1_700_000_000, "expiryDate": 0,
                      "amount": 100, "summaryHash": keccak256(b"reduced"), "evidenceCid": "bafkreview"}
            correction = regulator.send("Credit", "supersede", ref, record, "Amount reduced on review")
            new_id = regulator.event_args(correction, "EntrySuperseded")["entryId"]
            await wait_indexed(app, int(correction["blockNumber"], 16))
            history = (await client.get(f"/v1/credit/{SUBJECT}")).json()
            corrected = next(e for e in history["entries"] if e["source"] == "batch" and e["index"] == 57)
            assert corrected["replacedBy"] == new_id
            last = history["entries"][-1]
            assert last["source"] == "chain" and last["replaces"] == {"batchId": batch_id, "index": 57}
            assert {"batchId": batch_id, "index": 57} not in history["currentBatchEntries"]
            assert new_id in history["current"] and history["verified"] is True

            # The evidence bundle verifies with the audit package's own code; a changed leaf field fails.
            bundle = (await client.get(f"/v1/evidence/credit-batch-entry/{batch_id}/57")).json()
            trust = trust_from(trust_documents(chain, addressbook))
            validate(bundle, "evidence.schema.json")
            validate(target["proof"], "proof.schema.json")
            report = verify_bundle(bundle, trust)
            assert report.ok, report.failures
            assert {r.check for r in report.results} >= {"batch-path"}
            bundle["batchEntries"][0]["leaf"]["amount"] = "1"
            failures = verify_bundle(bundle, trust).failures
            assert [f.check for f in failures] == ["batch-path"]

            # Restricted entries: open to an auditor with the commitment check; refused to a department.
            opened = await client.get(f"/v1/credit/{_uscc('91330100000000003')}/restricted",
                                      headers={TEST_MEMBER: auditor.address})
            assert opened.status_code == 200, opened.text
            items = opened.json()["entries"]
            assert len(items) == 1 and items[0]["commitmentCheck"]["matches"] is True and items[0]["verified"] is True
            assert items[0]["content"]["summary"] == "第3号处罚决定, 罚款" and items[0]["index"] == 3
            assert (await client.get(f"/v1/credit/{SUBJECT}/restricted",
                                     headers={TEST_MEMBER: department.address})).status_code == 403
            assert (await client.get(f"/v1/credit/{SUBJECT}/restricted")).status_code == 401

            # An on-chain restricted entry: its issuer hands over the content, checked against the chain.
            content = {"uscc": SUBJECT, "subjectSalt": "0x" + "11" * 32, "category": 1, "severity": 2,
                       "effectiveDate": 1_700_000_000, "expiryDate": 0, "amount": "500", "summary": "限制公开的处罚",
                       "evidenceCid": "bafkrestricted", "salt": "0x" + "22" * 32}
            tag, commitment = RestrictedContent.from_json(content).hashes()
            issued = regulator.send("Credit", "issueRestricted", 1, tag, commitment)
            entry_id = regulator.event_args(issued, "EntryIssued")["entryId"]
            await wait_indexed(app, int(issued["blockNumber"], 16))
            as_issuer = {TEST_MEMBER: regulator.address}
            wrong = await client.post("/v1/credit/restricted", json={**content, "amount": "501", "entryId": entry_id},
                                      headers=as_issuer)
            assert wrong.status_code == 422 and wrong.json()["field"] == "commitment"
            assert (await client.post("/v1/credit/restricted", json=content,
                                      headers={TEST_MEMBER: department.address})).status_code == 403
            handed = await client.post("/v1/credit/restricted", json={**content, "entryId": entry_id}, headers=as_issuer)
            assert handed.status_code == 201 and handed.json()["onChain"] == [{"entryId": entry_id}]
            opened = (await client.get(f"/v1/credit/{SUBJECT}/restricted", headers={TEST_MEMBER: auditor.address})).json()
            assert [(e["source"], e["id"]) for e in opened["entries"]] == [("chain", entry_id)]
            assert opened["entries"][0]["commitmentCheck"]["matches"] is True and opened["verified"] is True
            assert opened["entries"][0]["content"]["summary"] == "限制公开的处罚"

            # A tampered tile is caught by the gateway's own check and not served as verified.
            with app.state.services.engine.begin() as conn:
                tile = conn.execute(text("SELECT hashes FROM credit_batch_tile WHERE batch_id = :b AND band = 0 "
                                         "AND tile = 0"), {"b": batch_id}).scalar_one()
                changed = bytes(tile[:32]) + bytes([tile[32] ^ 1]) + bytes(tile[33:])
                conn.execute(text("UPDATE credit_batch_tile SET hashes = :h WHERE batch_id = :b AND band = 0 "
                                  "AND tile = 0"), {"h": changed, "b": batch_id})
            tampered = (await client.get(f"/v1/credit/batches/{batch_id}/entries/0")).json()
            assert tampered["verified"] is False and tampered["failedCheck"] == "batch-path"

            # Anchors that do not match their file, or whose file is nowhere, are flagged, not indexed.
            second = (await client.post("/v1/credit/batches?category=1", content=_batch_csv(5),
                                        headers=as_regulator)).json()
            wrong = regulator.send("Credit", "anchorBatch", bytes.fromhex(second["merkleRoot"][2:]), 6, 1,
                                   second["batchFileCid"])
            missing = regulator.send("Credit", "anchorBatch", keccak256(b"other root"), 5, 1,
                                     "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
            await wait_indexed(app, int(missing["blockNumber"], 16))
            wrong_id = regulator.event_args(wrong, "BatchAnchored")["batchId"]
            missing_id = regulator.event_args(missing, "BatchAnchored")["batchId"]
            assert await worker.wait_for(wrong_id) == "mismatch"
            assert await worker.wait_for(missing_id) == "unavailable"
            flagged = (await client.get(f"/v1/credit/batches/{wrong_id}")).json()
            assert "holds 5 lines, entryCount is 6" in flagged["problem"]
            assert (await client.get(f"/v1/credit/batches/{wrong_id}/entries/0")).status_code == 409
            gone = (await client.get(f"/v1/credit/batches/{missing_id}")).json()
            assert gone["state"] == "unavailable" and "cannot be read" in gone["problem"]

    run(scenario())
