"""Public queries: a donor's trace and a USCC's credit history, every record with a proof that
the gateway checked — and that fails by name when the stored proof or record is tampered with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import select

from conftest import DevNet, NodeProcess
from gateway import db
from gateway.proofs import ReceiptProof, verify_receipt_proof
from gateway_flows import credit_flow, custody_flow
from gateway_harness import actor, assert_certified, gateway_client, gateway_settings, receipt_code_of, run, wait_indexed


def _flip_last_byte(hex_text: str) -> str:
    return hex_text[:-2] + ("00" if hex_text[-2:] != "00" else "01")


def test_trace_and_credit_answers_carry_checked_proofs(chain: NodeProcess, addressbook: Path, tmp_path: Path,
                                                       devnet: DevNet) -> None:
    lots = custody_flow(chain, devnet, addressbook)
    credit_flow(chain, devnet, addressbook)
    settings = gateway_settings(chain, addressbook, tmp_path)

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            code = receipt_code_of(app, lots["lot"])
            answer = await client.get(f"/v1/trace/{code.lower().replace('-', '')}")
            assert answer.status_code == 200, answer.text
            trace: dict[str, Any] = answer.json()
            assert trace["receiptCode"] == code and trace["verified"] is True
            assert trace["totals"] == {"donated": 1000, "consumed": 150, "lost": 10, "held": 840, "inTransit": 0}
            kinds = [e["kind"] for e in trace["events"]]
            assert kinds.count("TransferRefused") == 1 and kinds[-1] == "LotConsumed"
            accepted = next(e for e in trace["events"] if e["kind"] == "TransferAccepted")
            assert (accepted["quantity"], accepted["received"], accepted["lost"]) == (600, 590, 10)
            assert accepted["reason"] == "10 boxes crushed in the truck"
            assert accepted["by"]["name"] == "Central Relief Warehouse"
            assert accepted["from"]["name"] == "City Red Cross Society"
            held = {(w["holder"]["name"], w["quantity"]) for w in trace["whereNow"]}
            assert ("First People's Hospital", 50) in held and ("City Red Cross Society", 400) in held
            # Every proof verifies independently of the gateway's own verdict.
            for event in trace["events"]:
                assert event["verified"] is True
                proven = verify_receipt_proof(ReceiptProof.from_json(event["proof"]))
                assert_certified(chain, devnet, event["proof"], proven.header)
            registered = trace["events"][0]
            assert registered["kind"] == "LotRegistered"

            credit = (await client.get("/v1/credit/91350100m000100y43")).json()
            assert credit["verified"] is True and [e["action"] for e in credit["entries"]] == ["Issue", "Supersede"]
            first, second = credit["entries"]
            assert first["replacedBy"] == second["id"] and second["replaces"] == {"entryId": first["id"]}
            assert credit["current"] == [second["id"]]
            assert second["issuer"]["name"] == "Market Supervision Administration"

            invalid = await client.get("/v1/credit/91350100M000100Y44")
            assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
            assert invalid.json()["position"] == 18 and "should be '3'" in invalid.json()["detail"]
            unknown = await client.get("/v1/trace/0000-0000-0000-0")
            assert unknown.status_code in (404, 422)
            wrong_check = "X" if code[-1] != "X" else "Y"
            assert (await client.get(f"/v1/trace/{code[:-1]}{wrong_check}")).status_code == 422

            # Tampering with what the index stores is caught by the gateway's own check, by name.
            engine = app.state.services.engine
            with db.session(engine) as s:
                event = s.exec(select(db.ChainEvent).where(db.ChainEvent.name == "TransferAccepted")).first()
                assert event is not None
                tx = s.get(db.TxProof, (event.block_number, event.tx_index))
                assert tx is not None
                nodes = json.loads(tx.receipt_proof)
                nodes[-1] = _flip_last_byte(nodes[-1])
                tx.receipt_proof = json.dumps(nodes)
                s.add(tx)
                consumed = s.exec(select(db.ChainEvent).where(db.ChainEvent.name == "LotConsumed")).first()
                assert consumed is not None
                args = json.loads(consumed.args)
                args["quantity"] = 15
                consumed.args = json.dumps(args)
                s.add(consumed)
                s.commit()
            # Until the index moves, the answer checked before the change is the one served ...
            assert (await client.get(f"/v1/trace/{code}")).json()["verified"] is True
            # ... and the next block makes the gateway build and check it again.
            actor(chain, devnet, addressbook, "Red Cross").send(
                "SupplyCustody", "registerLot", b"x".ljust(32, b"\0"), 1, b"box".ljust(32, b"\0"), b"\x09" * 32, "", "bafk", 0)
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            tampered = (await client.get(f"/v1/trace/{code}")).json()
            assert tampered["verified"] is False
            bad = {e["kind"]: e for e in tampered["events"] if not e["verified"]}
            assert bad["TransferAccepted"]["failedCheck"] == "receipt-proof"
            assert bad["LotConsumed"]["failedCheck"] == "log-content"
            metrics = (await client.get("/metrics")).text
            assert 'cityledger_gateway_proof_self_check_failures_total{check="receipt-proof"} 1.0' in metrics

    run(scenario())
