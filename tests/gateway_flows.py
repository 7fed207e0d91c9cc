"""Scenario flows on a real node, shared by the gateway tests: members act with their own dev keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from conftest import DevNet, NodeProcess
from gateway_harness import actor


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


def sign_share_request(requester: Any, request: dict[str, Any], chain_id: int, addressbook: Path) -> bytes:
    """The requester's EIP-712 signature over its share request (contracts/README.md)."""
    import json

    book = json.loads(addressbook.read_text())
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "ShareRequest": [{"name": n, "type": t} for n, t in (
                ("datasetId", "uint256"), ("requester", "address"), ("purpose", "string"), ("legalBasis", "string"),
                ("fields", "string[]"), ("subjectCommitment", "bytes32"), ("validFrom", "uint64"),
                ("validUntil", "uint64"), ("maxAccesses", "uint32"), ("nonce", "uint256"))],
        },
        "primaryType": "ShareRequest",
        "domain": {"name": "CityLedger DataSharing", "version": "1", "chainId": chain_id,
                   "verifyingContract": book["contracts"]["DataSharing"]["address"]},
        "message": request,
    }
    return bytes(requester.signer.sign_typed_data(typed))


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
    signature = sign_share_request(health, request, devnet.chain_id, addressbook)
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
