"""The indexer follows a real node through every record kind and keeps the custody equation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from sqlmodel import select

from conftest import DevNet, NodeProcess
from gateway import db
from gateway.records.credit import CreditEntry, IssuerAuthorization
from gateway.records.custody import CustodyEvent, Lot, Transfer, conserved
from gateway.records.members import Member, MemberAccount, Proposal, RoleSet
from gateway.records.sharing import Access, Dataset, ShareRequest
from gateway.settings import Settings
from gateway_harness import actor, gateway_client, run, wait_indexed


def _b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


def authorise_regulator(chain: NodeProcess, devnet: DevNet, addressbook: Path, category: int = 1) -> None:
    """Two of three admins authorise the Market Supervision Administration for ``category``."""
    regulator = next(m for m in devnet.keys["members"] if m["kind"] == "regulator")
    admin0, admin1 = actor(chain, devnet, addressbook, "admin:0"), actor(chain, devnet, addressbook, "admin:1")
    payload = abi_encode(["uint256", "uint8", "bool"], [regulator["id"], category, True])
    receipt = admin0.send("Credit", "propose", 0, payload)
    proposal_id = admin0.event_args(receipt, "ProposalCreated")["proposalId"]
    admin1.send("Credit", "approveProposal", proposal_id)


def share_flow(chain: NodeProcess, devnet: DevNet, addressbook: Path) -> dict[str, Any]:
    """Transport registers travel records; health requests them; transport narrows and approves,
    delivers; health records two accesses."""
    transport = actor(chain, devnet, addressbook, "Transport")
    health = actor(chain, devnet, addressbook, "Health")
    receipt = transport.send("DataSharing", "registerDataset", "Rail and coach travel records", 2, "bafkschema")
    dataset_id = transport.event_args(receipt, "DatasetRegistered")["datasetId"]
    request = {"datasetId": dataset_id, "requester": health.address, "purpose": "Close-contact tracing",
               "legalBasis": "Law on the Prevention and Control of Infectious Diseases, art. 12",
               "fields": ["name", "id_number", "train", "date"], "subjectCommitment": "0x" + keccak(b"salt|subjects").hex(),
               "validFrom": 0, "validUntil": 4_000_000_000, "maxAccesses": 5, "nonce": int.from_bytes(os.urandom(8), "big")}
    (digest,) = health.call("DataSharing", "hashShareRequest", request)
    signature = health.signer.sign_digest(digest) if hasattr(health.signer, "sign_digest") else None
    if signature is None:
        from eth_keys import keys

        key = keys.PrivateKey(bytes.fromhex(next(m for m in devnet.keys["members"] if "Health" in m["name"])["private_key"][2:]))
        signature = key.sign_msg_hash(digest).to_bytes()
        signature = signature[:64] + bytes([signature[64] + 27])
    receipt = health.send("DataSharing", "submitRequest", request, signature)
    request_id = health.event_args(receipt, "RequestSubmitted")["requestId"]
    transport.send("DataSharing", "approve", request_id, ["name", "train", "date"], 3_999_000_000, 2)
    transport.send("DataSharing", "deliver", request_id, "bafkpayload", b"\x11" * 32, b"\x22" * 32)
    health.send("DataSharing", "recordAccess", request_id, "Tracing cluster 7")
    health.send("DataSharing", "recordAccess", request_id, "Tracing cluster 8")
    return {"dataset": dataset_id, "request": request_id}


def custody_flow(chain: NodeProcess, devnet: DevNet, addressbook: Path) -> dict[str, Any]:
    """Red Cross registers 1,000 masks; sends 600 to the warehouse (a split), which accepts 590
    (10 damaged); the warehouse sends 300 to the hospital, which refuses; then 200 again, accepted
    and 150 consumed."""
    members = {m["name"]: m["id"] for m in devnet.keys["members"]}
    red_cross = actor(chain, devnet, addressbook, "Red Cross")
    warehouse = actor(chain, devnet, addressbook, "Warehouse")
    hospital = actor(chain, devnet, addressbook, "Hospital")
    receipt = red_cross.send("SupplyCustody", "registerLot", _b32("GTIN:06901234567892"), 1000, _b32("piece"),
                             keccak(b"salt|Donor Co."), "Donor Co.", "bafkintake", 1_900_000_000)
    lot_id = red_cross.event_args(receipt, "LotRegistered")["lotId"]
    receipt = red_cross.send("SupplyCustody", "transfer", lot_id, 600, members["Central Relief Warehouse"])
    child = red_cross.event_args(receipt, "LotSplit")["childLotId"]
    transfer_id = red_cross.event_args(receipt, "TransferSent")["transferId"]
    warehouse.send("SupplyCustody", "accept", transfer_id, 590, "10 boxes crushed in the truck")
    receipt = warehouse.send("SupplyCustody", "transfer", child, 300, members["First People's Hospital"])
    refused = warehouse.event_args(receipt, "TransferSent")["transferId"]
    hospital.send("SupplyCustody", "refuse", refused, "Wrong size")
    receipt = warehouse.send("SupplyCustody", "transfer", child, 200, members["First People's Hospital"])
    second = warehouse.event_args(receipt, "TransferSent")["transferId"]
    hospital.send("SupplyCustody", "accept", second, 200, "")
    grandchild = warehouse.event_args(receipt, "LotSplit")["childLotId"]
    hospital.send("SupplyCustody", "consume", grandchild, 150, "bafkward")
    return {"lot": lot_id, "child": child, "grandchild": grandchild}


def credit_flow(chain: NodeProcess, devnet: DevNet, addressbook: Path) -> dict[str, Any]:
    authorise_regulator(chain, devnet, addressbook, 1)
    regulator = actor(chain, devnet, addressbook, "Market Supervision")
    record = {"uscc": "91350100M000100Y43", "category": 1, "severity": 2, "effectiveDate": 1_700_000_000,
              "expiryDate": 0, "amount": 50_000_00, "summaryHash": "0x" + keccak("未按规定公示年度报告".encode()).hex(),
              "evidenceCid": "bafkevidence"}
    receipt = regulator.send("Credit", "issue", record)
    entry_id = regulator.event_args(receipt, "EntryIssued")["entryId"]
    target = {"entryId": entry_id, "batchId": 0, "proof": [], "leaf": {
        "issuerMemberId": 0, "category": 0, "indexInBatch": 0, "isPublic": False, "uscc": b"\0" * 18, "severity": 0,
        "effectiveDate": 0, "expiryDate": 0, "amount": 0, "summaryHash": b"\0" * 32, "evidenceCidHash": b"\0" * 32,
        "subjectTag": b"\0" * 32, "commitment": b"\0" * 32}}
    receipt = regulator.send("Credit", "supersede", target, {**record, "amount": 20_000_00}, "Amount reduced on review")
    correction = regulator.event_args(receipt, "EntrySuperseded")["entryId"]
    return {"entry": entry_id, "correction": correction}


def test_indexer_builds_every_record_kind(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    shared = share_flow(chain, devnet, addressbook)
    lots = custody_flow(chain, devnet, addressbook)
    credit = credit_flow(chain, devnet, addressbook)
    settings = Settings(rpc_url=chain.url, data_dir=tmp_path / "gw", addressbook=addressbook)

    async def scenario() -> None:
        async with gateway_client(settings) as (app, _client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            engine = app.state.services.engine
            with db.session(engine) as s:
                members = s.exec(select(Member)).all()
                assert len(members) == len(devnet.keys["members"]) + len(devnet.keys["admins"])
                sealer = s.get(MemberAccount, devnet.keys["sealer"]["address"].lower())
                assert sealer is not None and sealer.member_id == 1
                assert {r.role for r in s.exec(select(RoleSet)).all()} == {"admins", "witnesses", "sealers"}
                assert s.exec(select(Proposal)).one().executed
                assert s.get(IssuerAuthorization, (devnet.keys["members"][6]["id"], "Penalty")).authorized  # type: ignore[union-attr]

                dataset = s.get(Dataset, shared["dataset"])
                assert dataset is not None and dataset.classification == "Sensitive"
                request = s.get(ShareRequest, shared["request"])
                assert request is not None and request.status == "Granted" and request.access_count == 2
                assert json.loads(request.fields) == ["name", "train", "date"] and request.max_accesses == 2
                assert json.loads(request.request)["purpose"] == "Close-contact tracing"
                assert request.delivered_cid == "bafkpayload"
                accesses = s.exec(select(Access).where(Access.grant_id == shared["request"])).all()
                assert [a.reason for a in accesses] == ["Tracing cluster 7", "Tracing cluster 8"]

                root = s.get(Lot, lots["lot"])
                child = s.get(Lot, lots["child"])
                grandchild = s.get(Lot, lots["grandchild"])
                assert root is not None and child is not None and grandchild is not None
                assert (root.original, root.held, root.child_originals) == (1000, 400, 600)
                # The refused 300 stay a lot of their own, held by the warehouse (a split is never undone).
                assert (child.original, child.held, child.losses, child.child_originals) == (600, 90, 10, 500)
                assert (grandchild.held, grandchild.consumed) == (50, 150)
                assert all(conserved(lot) for lot in (root, child, grandchild))
                assert {lot.root_lot_id for lot in (root, child, grandchild)} == {root.id}
                assert grandchild.receipt_code == root.receipt_code
                statuses = sorted(t.status for t in s.exec(select(Transfer)).all())
                assert statuses == ["Accepted", "Accepted", "Refused"]
                names = [e.name for e in s.exec(select(CustodyEvent).order_by(CustodyEvent.block_number,  # type: ignore[arg-type]
                                                                              CustodyEvent.block_log_index))]
                assert names == ["LotRegistered", "LotSplit", "TransferSent", "TransferAccepted", "LotSplit",
                                 "TransferSent", "TransferRefused", "LotSplit", "TransferSent", "TransferAccepted",
                                 "LotConsumed"]

                entry = s.get(CreditEntry, credit["entry"])
                correction = s.get(CreditEntry, credit["correction"])
                assert entry is not None and correction is not None
                assert entry.uscc == "91350100M000100Y43" and entry.replaced_by == correction.id
                assert correction.action == "Supersede" and correction.amount == str(20_000_00)
                assert correction.reason == "Amount reduced on review"

    run(scenario())
