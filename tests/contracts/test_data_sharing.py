"""DataSharing on the project's own chain, in-process: datasets, EIP-712 share requests signed with
eth-account, narrowing-only approvals, the supervisor's second approval for personal data, delivery,
the access log with expiry and cap enforced by block time, revocation, and membership decided at the
block of each transaction (PRODUCT.md, "Data sharing" and "Members").

Block time is the test's to set: every transaction goes into a block built with the timestamp the
test passes to ``LedgerChain.build_block``. Reverts are read back by executing the same call in the
context of the block the reverted transaction was sealed in (its state, number and timestamp), so a
custom error's time argument is exactly that block's timestamp.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_canonical_address, to_checksum_address

from conftest import DevNet, artifact
from helpers import (
    DATA,
    FIELDS,
    PAYLOAD_CID,
    REGISTRY,
    SCHEMA_CID,
    Action,
    Classification,
    DatasetView,
    Event,
    GrantState,
    GrantView,
    Ledger,
    RequestStatus,
    RequestView,
    Sharing,
    SharingAction,
    Signer,
    payload,
    subject_commitment,
)
from node.errors import ExecutionReverted
from node.genesis import MEMBER_KINDS

ZERO = "0x0000000000000000000000000000000000000000"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

TYPE_STRING = (
    "ShareRequest(uint256 datasetId,address requester,string purpose,string legalBasis,"
    "string[] fields,bytes32 subjectCommitment,uint64 validFrom,uint64 validUntil,"
    "uint32 maxAccesses,uint256 nonce)"
)
DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
ASSIGN = ("uint256", "uint256")


def recover(digest: bytes, signature: bytes) -> str:
    """secp256k1 recovery of a 65-byte r || s || v (v = 27/28) signature, independent of the chain."""
    vrs = signature[:64] + bytes([signature[64] - 27])
    return keys.Signature(vrs).recover_public_key_from_msg_hash(digest).to_checksum_address()


@pytest.fixture
def ds(devnet: DevNet) -> Sharing:
    # Ledger runs node.chain.LedgerChain on MemoryKV, the in-memory key-value store for unit tests:
    # the node's own execution, sealing and membership checks, without a data directory.
    return Sharing(Ledger(devnet))


def kind(ds: Sharing, signer: Signer) -> int:
    return MEMBER_KINDS.index(ds.ledger.chain.genesis.registry.members[ds.mid(signer) - 1].kind)


# ------------------------------------------------------------------------------------ deployment
def test_constructor_needs_a_registry_with_code(ds: Sharing) -> None:
    assert ds.view("registry") == to_checksum_address(ds.ledger.registry)
    assert (ds.view("datasetCount"), ds.view("requestCount")) == (0, 0)
    admin = ds.ledger.admins[0]
    code = bytes.fromhex(artifact("DataSharing")["bytecode"][2:]) + abi_encode(["address"], [admin.address])
    with pytest.raises(ExecutionReverted) as exc:
        ds.ledger.chain.call({"from": admin.canonical, "data": code}, ds.ledger.chain.head)
    assert DATA.decode_error(exc.value.data) == ("MemberGatedInvalidRegistry", (admin.address,))
    assert ds.ledger.send(admin, None, code).status == 0


def test_eip712_domain_is_erc5267(ds: Sharing) -> None:
    fields, name, version, chain_id, verifying, salt, extensions = ds.view("eip712Domain")
    assert (fields, name, version, chain_id, verifying, salt, extensions) == (
        b"\x0f", "CityLedger DataSharing", "1", ds.ledger.chain.chain_id,
        to_checksum_address(ds.address), b"\0" * 32, ())


# ------------------------------------------------------------------------------------ datasets
def test_register_dataset_by_a_department(ds: Sharing) -> None:
    events = ds.ok(ds.health, "registerDataset", "Nucleic acid test results", 3, SCHEMA_CID)
    assert events == [Event("DatasetRegistered", {
        "datasetId": 1, "ownerMemberId": ds.mid(ds.health), "account": ds.health.address,
        "title": "Nucleic acid test results", "classification": 3, "schemaCid": SCHEMA_CID})]
    assert ds.dataset(1) == DatasetView(1, ds.mid(ds.health), Classification.Personal, 0,
                                        "Nucleic acid test results", SCHEMA_CID)
    assert ds.register(ds.transport, Classification.Public, "Bus ridership") == 2
    assert ds.dataset(2).owner_member_id == ds.mid(ds.transport)
    assert ds.view("datasetCount") == 2
    assert ds.error(None, "getDataset", 0) == ("DataSharingUnknownDataset", (0,))
    assert ds.error(None, "getDataset", 3) == ("DataSharingUnknownDataset", (3,))


@pytest.mark.parametrize("index", [2, 3, 4, 5, 6, 7])
def test_only_departments_register_datasets(ds: Sharing, index: int) -> None:
    member = ds.ledger.members[index]
    assert ds.refused(member, "registerDataset", "t", 0, SCHEMA_CID) == (
        "MemberGatedUnauthorizedKind", (ds.mid(member), kind(ds, member)))


def test_register_dataset_validates_its_inputs(ds: Sharing) -> None:
    assert ds.refused(ds.health, "registerDataset", "t", 4, SCHEMA_CID) == (
        "DataSharingInvalidClassification", (4,))
    assert ds.refused(ds.health, "registerDataset", "", 0, SCHEMA_CID) == ("DataSharingEmptyText", ("title",))
    assert ds.refused(ds.health, "registerDataset", "t", 0, "") == ("DataSharingEmptyText", ("schemaCid",))
    assert ds.view("datasetCount") == 0


def test_non_members_are_refused_by_the_node_and_by_the_contract(ds: Sharing) -> None:
    stranger = Signer.fresh("stranger")
    tx = ds.ledger.sign(stranger, ds.address, DATA.encode("registerDataset", "t", 0, SCHEMA_CID), nonce=0)
    built = ds.ledger.chain.build_block([tx], int(ds.ledger.chain.head.timestamp) + 1, ds.ledger.sealer_key)
    assert built.block is None and len(built.dropped) == 1
    assert "not an active member" in built.dropped[0][1]
    # The contract keeps its own check (eth_call path, or a chain whose node does not filter).
    assert ds.error(stranger, "registerDataset", "t", 0, SCHEMA_CID) == (
        "MemberGatedNotActive", (stranger.address,))


# ------------------------------------------------------------------------------------ supervisor
def test_supervisors_are_assigned_by_m_of_n_governance(ds: Sharing) -> None:
    personal = ds.register(classification=Classification.Personal)
    regulator, transport = ds.mid(ds.regulator), ds.mid(ds.transport)
    a0, a1 = ds.ledger.admins[:2]
    proposal_id, proposed = ds.ledger.propose(a0, SharingAction.AssignSupervisor, payload(ASSIGN, personal, regulator),
                                              to=ds.address, abi=DATA)
    assert [e.name for e in proposed.events] == ["ProposalCreated", "ProposalApproved"]
    assert ds.dataset(personal).supervisor_member_id == 0  # one admin is not enough
    approved = ds.ledger.approve(a1, proposal_id, to=ds.address, abi=DATA)
    assert approved.events == [
        Event("ProposalApproved", {"proposalId": proposal_id, "approverMemberId": 2, "approver": a1.address,
                                   "approvals": 2, "threshold": 2}),
        Event("SupervisorAssigned", {"datasetId": personal, "supervisorMemberId": regulator,
                                     "proposalId": proposal_id, "previousSupervisorMemberId": 0}),
        Event("ProposalExecuted", {"proposalId": proposal_id, "action": SharingAction.AssignSupervisor}),
    ]
    assert ds.dataset(personal).supervisor_member_id == regulator
    # Governance may change it; a Department may supervise too.
    events = ds.assign_supervisor(personal, transport)
    assert events[0].args["previousSupervisorMemberId"] == regulator
    assert ds.dataset(personal).supervisor_member_id == transport


def test_supervisor_assignment_refusals(ds: Sharing) -> None:
    personal = ds.register(classification=Classification.Personal)
    sensitive = ds.register(classification=Classification.Sensitive)
    regulator = ds.mid(ds.regulator)
    a0 = ds.ledger.admins[0]

    def proposed(dataset_id: int, member_id: int, sender: Signer = a0) -> tuple[str, tuple[Any, ...]]:
        return ds.ledger.revert_of(sender, "propose", SharingAction.AssignSupervisor,
                                   payload(ASSIGN, dataset_id, member_id), to=ds.address, abi=DATA)

    # Only admins propose: not the owner, not the would-be supervisor.
    for member in (ds.health, ds.regulator):
        assert proposed(personal, regulator, member) == ("AdminApprovalsNotAdmin", (member.address,))
    assert proposed(99, regulator) == ("DataSharingUnknownDataset", (99,))
    assert proposed(sensitive, regulator) == (
        "DataSharingSupervisorNotNeeded", (sensitive, Classification.Sensitive))
    for candidate in (0, ds.mid(ds.health), 99, ds.mid(ds.red_cross), ds.mid(ds.auditor), ds.mid(ds.hospital), 1):
        assert proposed(personal, candidate) == ("DataSharingInvalidSupervisor", (personal, candidate)), candidate
    assert ds.ledger.revert_of(a0, "propose", 1, payload(ASSIGN, personal, regulator), to=ds.address, abi=DATA) == (
        "DataSharingUnknownAction", (1,))
    # Checked again when the proposal executes: a candidate suspended in between is refused.
    ds.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], ds.mid(ds.transport), "x"))
    assert proposed(personal, ds.mid(ds.transport)) == ("DataSharingInvalidSupervisor", (personal, ds.mid(ds.transport)))
    proposal_id, _ = ds.ledger.propose(a0, SharingAction.AssignSupervisor, payload(ASSIGN, personal, regulator),
                                       to=ds.address, abi=DATA)
    ds.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], regulator, "x"))
    assert ds.ledger.revert_of(ds.ledger.admins[1], "approveProposal", proposal_id, to=ds.address, abi=DATA) == (
        "DataSharingInvalidSupervisor", (personal, regulator))
    assert ds.dataset(personal).supervisor_member_id == 0


# ------------------------------------------------------------------------------------ EIP-712 requests
def test_signed_request_verifies_on_chain_with_the_python_digest(ds: Sharing) -> None:
    dataset = ds.register()
    req = ds.new_request(dataset)
    digest = ds.digest(req)

    # The digest computed by hand from the documented type string and domain: eth-account, the
    # contract and this computation agree.
    domain_separator = keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [keccak(text=DOMAIN_TYPE_STRING), keccak(text="CityLedger DataSharing"), keccak(text="1"),
         ds.ledger.chain.chain_id, to_checksum_address(ds.address)]))
    struct_hash = keccak(abi_encode(
        ["bytes32", "uint256", "address", "bytes32", "bytes32", "bytes32", "bytes32", "uint64", "uint64",
         "uint32", "uint256"],
        [keccak(text=TYPE_STRING), req.dataset_id, req.requester, keccak(text=req.purpose),
         keccak(text=req.legal_basis), keccak(b"".join(keccak(text=f) for f in req.fields)),
         req.subject_commitment, req.valid_from, req.valid_until, req.max_accesses, req.nonce]))
    assert digest == keccak(b"\x19\x01" + domain_separator + struct_hash)
    assert ds.view("hashShareRequest", req.abi()) == digest

    # Account.sign_typed_data and encode_typed_data + sign_message give the same signature.
    signature = ds.sign(ds.hospital, req)
    typed_signature = Account.sign_typed_data(ds.hospital.private_key, full_message=ds.typed_data(req))
    assert bytes(typed_signature.signature) == signature
    assert recover(digest, signature) == ds.hospital.address

    # Relayed by another member: the requester is the signer, the relayer is recorded apart.
    events = ds.ok(ds.warehouse, "submitRequest", req.abi(), signature)
    assert events == [Event("RequestSubmitted", {
        "requestId": 1, "datasetId": dataset, "requesterMemberId": ds.mid(ds.hospital),
        "relayer": ds.warehouse.address, "digest": digest, "request": req.decoded(), "signature": signature})]
    # The log alone is portable evidence: the signature recovers to the requester over the digest.
    assert recover(events[0].args["digest"], events[0].args["signature"]) == ds.hospital.address
    submitted_at = int(ds.ledger.chain.head.timestamp)

    # The stored request is portable evidence: re-verifiable from state alone.
    stored = ds.request(1)
    assert stored == RequestView(1, req.decoded(), ds.mid(ds.hospital), ds.warehouse.address, submitted_at,
                                 digest, signature, RequestStatus.Pending)
    assert recover(stored.digest, stored.signature) == ds.hospital.address
    assert ds.view("nonceUsed", ds.hospital.address, 1) is True
    assert ds.view("nonceUsed", ds.hospital.address, 2) is False
    assert ds.view("requestCount") == 1
    grant = ds.grant(1)
    assert (grant.status, grant.state, grant.fields, grant.valid_until, grant.max_accesses) == (
        RequestStatus.Pending, GrantState.Pending, (), 0, 0)
    assert ds.state(1) == GrantState.Pending
    assert ds.state(2) == GrantState.NONE
    assert ds.error(None, "getRequest", 2) == ("DataSharingUnknownRequest", (2,))


ALTERATIONS: dict[str, Any] = {
    "datasetId": lambda r, ds: replace(r, dataset_id=ds.register(title="Another dataset")),
    "requester": lambda r, ds: replace(r, requester=ds.transport.address),
    "purpose": lambda r, ds: replace(r, purpose=r.purpose + " and research"),
    "legalBasis": lambda r, ds: replace(r, legal_basis="Emergency Response Law, art. 54"),
    "fields (added)": lambda r, ds: replace(r, fields=r.fields + ("home_address",)),
    "fields (dropped)": lambda r, ds: replace(r, fields=r.fields[:-1]),
    "fields (reordered)": lambda r, ds: replace(r, fields=r.fields[::-1]),
    "subjectCommitment": lambda r, ds: replace(r, subject_commitment=subject_commitment(b"salt-2", ["x"])),
    "validFrom": lambda r, ds: replace(r, valid_from=r.valid_from + 1),
    "validUntil": lambda r, ds: replace(r, valid_until=r.valid_until + 86_400),
    "maxAccesses": lambda r, ds: replace(r, max_accesses=r.max_accesses + 1),
    "nonce": lambda r, ds: replace(r, nonce=r.nonce + 1),
}


def test_a_request_altered_after_signing_is_refused(ds: Sharing) -> None:
    dataset = ds.register()
    signed = ds.new_request(dataset)
    signature = ds.sign(ds.hospital, signed)
    for name, alter in ALTERATIONS.items():
        altered = alter(signed, ds)
        assert altered != signed, name
        # Over the altered message the signature recovers to some unrelated address (the requester
        # field is part of the signed digest, so changing it does not recover the original signer).
        recovered = recover(ds.digest(altered), signature)
        assert recovered not in (altered.requester, ds.hospital.address), name
        assert ds.refused(ds.warehouse, "submitRequest", altered.abi(), signature) == (
            "DataSharingInvalidSignature", (altered.requester, recovered)), name
    assert ds.view("requestCount") == 0
    assert ds.view("nonceUsed", ds.hospital.address, signed.nonce) is False
    # The untouched request still goes through.
    assert ds.ok(ds.warehouse, "submitRequest", signed.abi(), signature)[0].name == "RequestSubmitted"


def test_malformed_and_foreign_signatures_are_refused(ds: Sharing) -> None:
    req = ds.new_request(ds.register())
    signature = ds.sign(ds.hospital, req)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    # ECDSA malleability: (r, n - s, flipped v) also recovers to the signer, but EIP-2 high-s
    # signatures are refused, so the request cannot be resubmitted under a second signature.
    malleated = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    assert recover(ds.digest(req), malleated) == ds.hospital.address
    for bad in (malleated, signature[:64], b"", signature + b"\0"):
        assert ds.refused(ds.hospital, "submitRequest", req.abi(), bad) == (
            "DataSharingInvalidSignature", (ds.hospital.address, ZERO)), bad.hex()
    # Signed by someone else (a member) on the hospital's behalf.
    by_other = ds.sign(ds.transport, req)
    assert ds.refused(ds.hospital, "submitRequest", req.abi(), by_other) == (
        "DataSharingInvalidSignature", (ds.hospital.address, ds.transport.address))
    # Signed correctly by a key that is no member's account.
    stranger = Signer.fresh("stranger")
    own = replace(req, requester=stranger.address)
    assert ds.refused(ds.hospital, "submitRequest", own.abi(), ds.sign(stranger, own)) == (
        "MemberGatedNotActive", (stranger.address,))
    # Signed for another deployment (domain separation by verifyingContract).
    other_domain = {**ds.typed_data(req),
                    "domain": {**ds.domain, "verifyingContract": to_checksum_address(ds.ledger.registry)}}
    foreign = bytes(Account.sign_typed_data(ds.hospital.private_key, full_message=other_domain).signature)
    name, (requester, signer) = ds.refused(ds.hospital, "submitRequest", req.abi(), foreign)
    assert (name, requester) == ("DataSharingInvalidSignature", ds.hospital.address)
    assert signer not in (ds.hospital.address, ZERO)
    assert ds.view("requestCount") == 0


def test_replay_is_refused_by_nonce(ds: Sharing) -> None:
    req = ds.new_request(ds.register())
    signature = ds.sign(ds.hospital, req)
    ds.ok(ds.hospital, "submitRequest", req.abi(), signature)
    # The same signed request again, by the requester or by another relayer.
    for relayer in (ds.hospital, ds.warehouse):
        assert ds.refused(relayer, "submitRequest", req.abi(), signature) == (
            "DataSharingNonceUsed", (ds.hospital.address, 1))
    # A different request under a used nonce.
    reused = replace(req, purpose="Something else")
    assert ds.refused(ds.hospital, "submitRequest", reused.abi(), ds.sign(ds.hospital, reused)) == (
        "DataSharingNonceUsed", (ds.hospital.address, 1))
    # Nonces are unordered and per requester.
    assert ds.submit(replace(req, nonce=7)) == 2
    assert ds.submit(replace(req, requester=ds.transport.address), signer=ds.transport, relayer=ds.transport) == 3
    assert ds.view("requestCount") == 3


def test_request_contents_are_validated(ds: Sharing) -> None:
    dataset = ds.register()
    now = ds.start  # every refusal below is sealed later than this

    def refusal(**changes: Any) -> tuple[str, tuple[Any, ...]]:
        req = replace(ds.new_request(dataset), **changes)
        return ds.refused(ds.hospital, "submitRequest", req.abi(), ds.sign(ds.hospital, req))

    assert refusal(dataset_id=9) == ("DataSharingUnknownDataset", (9,))
    assert refusal(purpose="") == ("DataSharingEmptyText", ("purpose",))
    assert refusal(legal_basis="") == ("DataSharingEmptyText", ("legalBasis",))
    assert refusal(fields=()) == ("DataSharingInvalidFieldCount", (0, 64))
    assert refusal(fields=tuple(f"c{i}" for i in range(65))) == ("DataSharingInvalidFieldCount", (65, 64))
    assert refusal(fields=("name", "")) == ("DataSharingEmptyText", ("field",))
    assert refusal(fields=("name", "age", "name")) == ("DataSharingDuplicateField", ("name",))
    assert refusal(valid_from=now + 500, valid_until=now + 500) == (
        "DataSharingInvalidWindow", (now + 500, now + 500, int(ds.ledger.chain.head.timestamp)))
    assert refusal(valid_from=now + 501, valid_until=now + 500) == (
        "DataSharingInvalidWindow", (now + 501, now + 500, int(ds.ledger.chain.head.timestamp)))
    # A window that is already over at the block the request is sealed in.
    head = int(ds.ledger.chain.head.timestamp)
    req = ds.new_request(dataset, valid_from=now - 100, valid_until=head + 1)
    assert ds.refused(ds.hospital, "submitRequest", req.abi(), ds.sign(ds.hospital, req), at=head + 2) == (
        "DataSharingInvalidWindow", (now - 100, head + 1, head + 2))
    assert refusal(max_accesses=0) == ("DataSharingInvalidMaxAccesses", (0,))
    assert ds.view("requestCount") == 0
    # 64 fields is the limit, and a window ending in the block's own second is still open.
    head = int(ds.ledger.chain.head.timestamp)
    wide = ds.new_request(dataset, fields=tuple(f"c{i}" for i in range(64)), valid_until=head + 1)
    ds.ok(ds.hospital, "submitRequest", wide.abi(), ds.sign(ds.hospital, wide), at=head + 1)


# ------------------------------------------------------------------------------------ approval
def test_owner_approves_with_narrowing(ds: Sharing) -> None:
    dataset = ds.register()
    req = ds.new_request(dataset)
    request_id = ds.submit(req)
    narrowed = ["test_result", "name"]  # a subset, in another order
    events = ds.ok(ds.health, "approve", request_id, narrowed, req.valid_until - 3600, 2)
    assert events == [Event("RequestApproved", {
        "requestId": request_id, "datasetId": dataset, "ownerMemberId": ds.mid(ds.health),
        "account": ds.health.address, "fields": tuple(narrowed), "validUntil": req.valid_until - 3600,
        "maxAccesses": 2, "supervisorMemberId": 0, "status": RequestStatus.Granted})]
    grant = ds.grant(request_id)
    assert grant == GrantView(
        request_id, dataset, RequestStatus.Granted, GrantState.Undelivered, ds.mid(ds.health),
        ds.mid(ds.hospital), 0, tuple(narrowed), req.valid_from, req.valid_until - 3600, 2, 0, "",
        b"\0" * 32, b"\0" * 32, 0)
    assert ds.request(request_id).status == RequestStatus.Granted
    # The signed request is kept as signed; only the grant is narrowed.
    assert ds.request(request_id).request[4] == FIELDS

    # Approving exactly what was asked is allowed too.
    same = ds.submit(replace(req, nonce=2))
    ds.ok(ds.health, "approve", same, list(FIELDS), req.valid_until, req.max_accesses)
    assert ds.grant(same).fields == FIELDS


def test_approval_can_never_widen(ds: Sharing) -> None:
    dataset = ds.register()
    req = ds.new_request(dataset, fields=("name", "test_result"), max_accesses=3)
    rid = ds.submit(req)
    until, cap = req.valid_until, req.max_accesses
    assert ds.refused(ds.health, "approve", rid, ["name", "home_address"], until, cap) == (
        "DataSharingFieldNotRequested", (rid, "home_address"))
    assert ds.refused(ds.health, "approve", rid, ["name", "test_result", "age"], until, cap) == (
        "DataSharingFieldNotRequested", (rid, "age"))
    assert ds.refused(ds.health, "approve", rid, ["name"], until + 1, cap) == (
        "DataSharingValidityExtended", (rid, until, until + 1))
    assert ds.refused(ds.health, "approve", rid, ["name"], until, cap + 1) == (
        "DataSharingCapRaised", (rid, cap, cap + 1))
    assert ds.refused(ds.health, "approve", rid, ["name"], until, 0) == ("DataSharingInvalidMaxAccesses", (0,))
    assert ds.refused(ds.health, "approve", rid, [], until, cap) == ("DataSharingInvalidFieldCount", (0, 64))
    assert ds.refused(ds.health, "approve", rid, ["name", "name"], until, cap) == (
        "DataSharingDuplicateField", ("name",))
    # Shortening the end to the start or into the past leaves an empty window.
    assert ds.refused(ds.health, "approve", rid, ["name"], req.valid_from, cap) == (
        "DataSharingInvalidWindow", (req.valid_from, req.valid_from, int(ds.ledger.chain.head.timestamp)))
    head = int(ds.ledger.chain.head.timestamp)
    assert ds.refused(ds.health, "approve", rid, ["name"], head + 1, cap, at=head + 2) == (
        "DataSharingInvalidWindow", (req.valid_from, head + 1, head + 2))
    assert ds.request(rid).status == RequestStatus.Pending


def test_only_the_owner_approves_or_rejects_and_only_once(ds: Sharing) -> None:
    dataset = ds.register()
    req = ds.new_request(dataset)
    rid = ds.submit(req)
    args = (rid, list(FIELDS), req.valid_until, req.max_accesses)
    for other in (ds.hospital, ds.transport, ds.regulator, ds.auditor):
        assert ds.refused(other, "approve", *args) == ("DataSharingNotOwner", (dataset, ds.mid(other)))
        assert ds.refused(other, "reject", rid, "no") == ("DataSharingNotOwner", (dataset, ds.mid(other)))
    assert ds.refused(ds.health, "approve", 99, *args[1:]) == ("DataSharingUnknownRequest", (99,))
    assert ds.refused(ds.health, "reject", 0, "no") == ("DataSharingUnknownRequest", (0,))
    ds.ok(ds.health, "approve", *args)
    assert ds.refused(ds.health, "approve", *args) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Granted))
    assert ds.refused(ds.health, "reject", rid, "changed my mind") == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Granted))
    assert ds.refused(ds.regulator, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Granted))


def test_owner_rejects_with_a_reason(ds: Sharing) -> None:
    dataset = ds.register()
    req = ds.new_request(dataset)
    rid = ds.submit(req)
    assert ds.refused(ds.health, "reject", rid, "") == ("DataSharingEmptyText", ("reason",))
    events = ds.ok(ds.health, "reject", rid, "legal basis does not cover research")
    assert events == [Event("RequestRejected", {
        "requestId": rid, "datasetId": dataset, "memberId": ds.mid(ds.health), "account": ds.health.address,
        "reason": "legal basis does not cover research"})]
    assert ds.request(rid).status == RequestStatus.Rejected
    assert ds.state(rid) == GrantState.Rejected
    assert ds.refused(ds.health, "approve", rid, list(FIELDS), req.valid_until, 1) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Rejected))
    assert ds.refused(ds.health, "reject", rid, "again") == ("DataSharingInvalidStatus", (rid, RequestStatus.Rejected))
    assert ds.refused(ds.health, "deliver", rid, PAYLOAD_CID, b"\1" * 32, b"\2" * 32) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Rejected))
    assert ds.refused(ds.health, "revoke", rid, "x") == ("DataSharingInvalidStatus", (rid, RequestStatus.Rejected))
    assert ds.refused(ds.hospital, "recordAccess", rid, "read") == (
        "DataSharingGrantNotApproved", (rid, RequestStatus.Rejected))


# ------------------------------------------------------------------------------------ personal data
def test_personal_data_needs_the_supervisors_second_approval(ds: Sharing) -> None:
    dataset = ds.register(classification=Classification.Personal)
    req = ds.new_request(dataset)
    rid = ds.submit(req)
    args = (rid, ["name", "test_result"], req.valid_until, 3)
    assert ds.refused(ds.health, "approve", *args) == ("DataSharingNoSupervisor", (dataset,))

    regulator = ds.mid(ds.regulator)
    ds.assign_supervisor(dataset, regulator)
    assert ds.refused(ds.regulator, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Pending))
    events = ds.ok(ds.health, "approve", *args)
    assert events[0].args["supervisorMemberId"] == regulator
    assert ds.request(rid).status == RequestStatus.AwaitingSupervisor
    assert ds.grant(rid).supervisor_member_id == regulator
    assert ds.state(rid) == GrantState.AwaitingSupervisor

    # Not usable yet: no delivery, no access.
    assert ds.refused(ds.health, "deliver", rid, PAYLOAD_CID, b"\1" * 32, b"\2" * 32) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.AwaitingSupervisor))
    assert ds.refused(ds.hospital, "recordAccess", rid, "read") == (
        "DataSharingGrantNotApproved", (rid, RequestStatus.AwaitingSupervisor))
    # Only the supervisor approves: not the owner, not the requester, not another department.
    for other in (ds.health, ds.hospital, ds.transport):
        assert ds.refused(other, "supervisorApprove", rid) == ("DataSharingNotSupervisor", (rid, ds.mid(other)))
    # Assigning a new supervisor now does not change who approves this request.
    ds.assign_supervisor(dataset, ds.mid(ds.transport))
    assert ds.refused(ds.transport, "supervisorApprove", rid) == (
        "DataSharingNotSupervisor", (rid, ds.mid(ds.transport)))

    events = ds.ok(ds.regulator, "supervisorApprove", rid)
    assert events == [Event("SupervisorApproved", {
        "requestId": rid, "datasetId": dataset, "supervisorMemberId": regulator, "account": ds.regulator.address})]
    assert ds.request(rid).status == RequestStatus.Granted
    assert ds.state(rid) == GrantState.Undelivered
    assert ds.refused(ds.regulator, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Granted))
    ds.ok(ds.health, "deliver", rid, PAYLOAD_CID, b"\1" * 32, b"\2" * 32)
    assert ds.ok(ds.hospital, "recordAccess", rid, "read")[0].args["accessCount"] == 1


def test_supervisor_may_reject_and_the_owner_may_revoke_while_waiting(ds: Sharing) -> None:
    dataset = ds.register(classification=Classification.Personal)
    ds.assign_supervisor(dataset, ds.mid(ds.regulator))
    first = ds.new_request(dataset)
    rid = ds.submit(first)
    ds.ok(ds.health, "approve", rid, list(FIELDS), first.valid_until, 1)
    # While waiting for the supervisor, rejecting is the supervisor's step.
    assert ds.refused(ds.health, "reject", rid, "no") == ("DataSharingNotSupervisor", (rid, ds.mid(ds.health)))
    events = ds.ok(ds.regulator, "reject", rid, "subjects exceed the stated purpose")
    assert events == [Event("RequestRejected", {
        "requestId": rid, "datasetId": dataset, "memberId": ds.mid(ds.regulator), "account": ds.regulator.address,
        "reason": "subjects exceed the stated purpose"})]
    assert ds.refused(ds.regulator, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Rejected))

    second = ds.submit(replace(first, nonce=2))
    ds.ok(ds.health, "approve", second, list(FIELDS), first.valid_until, 1)
    events = ds.ok(ds.health, "revoke", second, "withdrawn before supervision")
    assert events[0].name == "GrantRevoked"
    assert ds.refused(ds.regulator, "supervisorApprove", second) == (
        "DataSharingInvalidStatus", (second, RequestStatus.Revoked))


# ------------------------------------------------------------------------------------ delivery
def test_owner_delivers_once(ds: Sharing) -> None:
    rid = ds.granted(deliver=False)
    dataset = ds.grant(rid).dataset_id
    cipher, commitment = keccak(b"ciphertext bytes"), keccak(b"salt" + b"plaintext rows")
    assert ds.refused(ds.hospital, "recordAccess", rid, "read") == ("DataSharingNotDelivered", (rid,))
    for other in (ds.hospital, ds.transport):
        assert ds.refused(other, "deliver", rid, PAYLOAD_CID, cipher, commitment) == (
            "DataSharingNotOwner", (dataset, ds.mid(other)))
    assert ds.refused(ds.health, "deliver", rid, "", cipher, commitment) == ("DataSharingEmptyText", ("cid",))
    assert ds.refused(ds.health, "deliver", 42, PAYLOAD_CID, cipher, commitment) == (
        "DataSharingUnknownRequest", (42,))
    events = ds.ok(ds.health, "deliver", rid, PAYLOAD_CID, cipher, commitment)
    assert events == [Event("PayloadDelivered", {
        "grantId": rid, "datasetId": dataset, "ownerMemberId": ds.mid(ds.health), "account": ds.health.address,
        "cid": PAYLOAD_CID,
        "ciphertextHash": cipher, "plaintextCommitment": commitment})]
    grant = ds.grant(rid)
    assert (grant.cid, grant.ciphertext_hash, grant.plaintext_commitment, grant.delivered_at) == (
        PAYLOAD_CID, cipher, commitment, int(ds.ledger.chain.head.timestamp))
    assert grant.state == GrantState.Active
    assert ds.refused(ds.health, "deliver", rid, PAYLOAD_CID, cipher, commitment) == (
        "DataSharingAlreadyDelivered", (rid,))
    assert ds.refused(ds.health, "deliver", ds.submit(ds.new_request(dataset, nonce=2)), PAYLOAD_CID,
                      cipher, commitment) == ("DataSharingInvalidStatus", (2, RequestStatus.Pending))


def test_delivery_after_expiry_is_refused(ds: Sharing) -> None:
    start = ds.start
    rid = ds.granted(deliver=False, valid_until=start + 300)
    assert ds.refused(ds.health, "deliver", rid, PAYLOAD_CID, b"\1" * 32, b"\2" * 32, at=start + 301) == (
        "DataSharingGrantExpired", (rid, start + 300, start + 301))


# ------------------------------------------------------------------------------------ access
def test_access_is_recorded_by_the_requester_with_who_and_why(ds: Sharing) -> None:
    rid = ds.granted()
    dataset = ds.grant(rid).dataset_id
    hospital = ds.mid(ds.hospital)
    events = ds.ok(ds.hospital, "recordAccess", rid, "ward 3 admission check")
    assert events == [Event("AccessRecorded", {
        "grantId": rid, "datasetId": dataset, "memberId": hospital, "account": ds.hospital.address,
        "accessCount": 1, "reason": "ward 3 admission check"})]
    # The function returns the new count (read on the state before the second access).
    assert DATA.decode_output("recordAccess", ds.execute(
        ds.hospital, DATA.encode("recordAccess", rid, "x"))) == 2
    assert ds.grant(rid).access_count == 1
    assert ds.refused(ds.hospital, "recordAccess", rid, "") == ("DataSharingEmptyText", ("reason",))
    for other in (ds.health, ds.transport, ds.auditor):
        assert ds.refused(other, "recordAccess", rid, "peek") == ("DataSharingNotRequester", (rid, ds.mid(other)))
    assert ds.refused(ds.hospital, "recordAccess", 77, "read") == ("DataSharingUnknownRequest", (77,))


def test_access_through_another_account_of_the_requesting_member(ds: Sharing) -> None:
    rid = ds.granted()
    hospital = ds.mid(ds.hospital)
    gateway = Signer.fresh("hospital gateway")
    _, events = ds.ledger.govern(Action.AddAccount, payload(["uint256", "address"], hospital, gateway.address))
    assert events == [Event("AccountAdded", {"memberId": hospital, "account": gateway.address})]
    events = ds.ok(gateway, "recordAccess", rid, "relayed by the hospital gateway")
    assert events[0].args == {
        "grantId": rid, "datasetId": ds.grant(rid).dataset_id, "memberId": hospital,
        "account": gateway.address, "accessCount": 1, "reason": "relayed by the hospital gateway"}
    # The gateway key also relays the hospital's signed requests; the requester is still the signer.
    req = ds.new_request(ds.grant(rid).dataset_id, nonce=9)
    events = ds.ok(gateway, "submitRequest", req.abi(), ds.sign(ds.hospital, req))
    assert (events[0].args["request"][1], events[0].args["relayer"]) == (ds.hospital.address, gateway.address)


def test_window_and_cap_follow_block_time(ds: Sharing) -> None:
    t = ds.start
    rid = ds.granted(valid_from=t + 1_000, valid_until=t + 2_000, max_accesses=3)
    assert ds.state(rid) == GrantState.NotYetValid
    assert ds.refused(ds.hospital, "recordAccess", rid, "early", at=t + 999) == (
        "DataSharingGrantNotYetValid", (rid, t + 1_000, t + 999))
    assert ds.ok(ds.hospital, "recordAccess", rid, "first", at=t + 1_000)[0].args["accessCount"] == 1
    assert ds.state(rid) == GrantState.Active
    assert ds.ok(ds.hospital, "recordAccess", rid, "second", at=t + 1_500)[0].args["accessCount"] == 2
    # The last second of the window still counts.
    assert ds.ok(ds.hospital, "recordAccess", rid, "third", at=t + 2_000)[0].args["accessCount"] == 3
    assert ds.grant(rid).access_count == 3
    assert ds.state(rid) == GrantState.CapReached
    # One second later the window has ended: expiry is reported before the cap.
    assert ds.refused(ds.hospital, "recordAccess", rid, "fourth", at=t + 2_001) == (
        "DataSharingGrantExpired", (rid, t + 2_000, t + 2_001))
    assert ds.state(rid) == GrantState.Expired
    assert ds.grant(rid).access_count == 3


def test_cap_is_enforced(ds: Sharing) -> None:
    rid = ds.granted(max_accesses=2)
    assert ds.ok(ds.hospital, "recordAccess", rid, "one")[0].args["accessCount"] == 1
    assert ds.ok(ds.hospital, "recordAccess", rid, "two")[0].args["accessCount"] == 2
    assert ds.refused(ds.hospital, "recordAccess", rid, "three") == ("DataSharingAccessCapReached", (rid, 2))
    assert ds.grant(rid).access_count == 2


def test_access_before_approval_is_refused(ds: Sharing) -> None:
    req = ds.new_request(ds.register())
    rid = ds.submit(req)
    assert ds.refused(ds.hospital, "recordAccess", rid, "read") == (
        "DataSharingGrantNotApproved", (rid, RequestStatus.Pending))


def test_refusals_are_logged_by_a_party_of_the_grant(ds: Sharing) -> None:
    t = ds.start
    rid = ds.granted(valid_until=t + 400, max_accesses=1)
    dataset = ds.grant(rid).dataset_id
    ds.ok(ds.hospital, "recordAccess", rid, "only access")
    events = ds.ok(ds.hospital, "recordRefusal", rid, "cap reached")
    assert events == [Event("AccessRefused", {
        "grantId": rid, "datasetId": dataset, "memberId": ds.mid(ds.hospital), "account": ds.hospital.address,
        "state": GrantState.CapReached, "reason": "cap reached"})]
    events = ds.ok(ds.health, "recordRefusal", rid, "requester token expired", at=t + 401)
    assert events == [Event("AccessRefused", {
        "grantId": rid, "datasetId": dataset, "memberId": ds.mid(ds.health), "account": ds.health.address,
        "state": GrantState.Expired, "reason": "requester token expired"})]
    for other in (ds.transport, ds.auditor, ds.regulator):
        assert ds.refused(other, "recordRefusal", rid, "x") == ("DataSharingNotParty", (rid, ds.mid(other)))
    assert ds.refused(ds.hospital, "recordRefusal", rid, "") == ("DataSharingEmptyText", ("reason",))
    assert ds.refused(ds.hospital, "recordRefusal", 5, "x") == ("DataSharingUnknownRequest", (5,))
    # Refusals change nothing.
    assert ds.grant(rid).access_count == 1


# ------------------------------------------------------------------------------------ revocation
def test_owner_revokes_a_grant(ds: Sharing) -> None:
    rid = ds.granted()
    dataset = ds.grant(rid).dataset_id
    ds.ok(ds.hospital, "recordAccess", rid, "before revocation")
    for other in (ds.hospital, ds.transport):
        assert ds.refused(other, "revoke", rid, "x") == ("DataSharingNotOwner", (dataset, ds.mid(other)))
    assert ds.refused(ds.health, "revoke", rid, "") == ("DataSharingEmptyText", ("reason",))
    events = ds.ok(ds.health, "revoke", rid, "purpose fulfilled")
    assert events == [Event("GrantRevoked", {
        "grantId": rid, "datasetId": dataset, "ownerMemberId": ds.mid(ds.health), "account": ds.health.address,
        "reason": "purpose fulfilled"})]
    assert ds.request(rid).status == RequestStatus.Revoked
    assert ds.state(rid) == GrantState.Revoked
    assert ds.refused(ds.hospital, "recordAccess", rid, "after revocation") == ("DataSharingGrantRevoked", (rid,))
    assert ds.refused(ds.health, "revoke", rid, "again") == ("DataSharingInvalidStatus", (rid, RequestStatus.Revoked))
    assert ds.grant(rid).access_count == 1
    pending = ds.submit(ds.new_request(dataset, nonce=2))
    assert ds.refused(ds.health, "revoke", pending, "x") == (
        "DataSharingInvalidStatus", (pending, RequestStatus.Pending))


# ------------------------------------------------------------------------------------ membership
def test_membership_is_decided_at_the_block_of_each_transaction(ds: Sharing) -> None:
    ledger = ds.ledger
    rid = ds.granted(max_accesses=10)
    hospital = ds.mid(ds.hospital)
    first = ds.send(ds.hospital, "recordAccess", rid, "first")
    second = ds.send(ds.hospital, "recordAccess", rid, "second")
    assert (first.status, second.status) == (1, 1)
    pending = ds.new_request(ds.grant(rid).dataset_id, nonce=2)
    pending_signature = ds.sign(ds.hospital, pending)

    # Two admins suspend the hospital.
    _, events = ledger.govern(Action.SuspendMember, payload(["uint256", "string"], hospital, "audit finding"))
    assert events == [Event("MemberSuspended", {"memberId": hospital, "reason": "audit finding"})]
    suspended_at = int(ledger.chain.head.block_number)

    # Its next access is refused by the chain: the node drops the transaction ...
    tx = ledger.sign(ds.hospital, ds.address, DATA.encode("recordAccess", rid, "third"),
                     nonce=ledger.nonce(ds.hospital))
    built = ledger.chain.build_block([tx], int(ledger.chain.head.timestamp) + 1, ledger.sealer_key)
    assert built.block is None and [reason for _, reason in built.dropped] == [
        f"sender is not an active member: sender {ds.hospital.address.lower()} is not an active member"]
    # ... and the contract would refuse it too.
    assert ds.error(ds.hospital, "recordAccess", rid, "third") == ("MemberGatedNotActive", (ds.hospital.address,))
    # A request it signed before the suspension can no longer be relayed by anyone.
    assert ds.refused(ds.warehouse, "submitRequest", pending.abi(), pending_signature) == (
        "MemberGatedNotActive", (ds.hospital.address,))

    # Its earlier accesses stay recorded: in the grant, in history, and in the sealed receipts.
    assert ds.grant(rid).access_count == 2
    assert ds.grant(rid, at=first.number).access_count == 1
    assert int(ledger.chain.head.block_number) == suspended_at + 1  # only the relay attempt was sealed
    for sent, count in ((first, 1), (second, 2)):
        block = ledger.chain.block(ledger.header(sent.number))
        (receipt,) = ledger.chain.receipts(block)
        assert DATA.decode_logs(receipt, ds.address)[0].args["accessCount"] == count

    # Reinstated, it may access again; within one block, order decides: an access sealed before the
    # suspension's executing approval counts, one after it is dropped.
    ledger.govern(Action.ReinstateMember, payload(["uint256"], hospital))
    assert ds.ok(ds.hospital, "recordAccess", rid, "after reinstatement")[0].args["accessCount"] == 3
    proposal_id, _ = ledger.propose(ledger.admins[0], Action.SuspendMember,
                                    payload(["uint256", "string"], hospital, "second finding"))
    before = ledger.sign(ds.hospital, ds.address, DATA.encode("recordAccess", rid, "just before"),
                         nonce=ledger.nonce(ds.hospital))
    approval = ledger.sign(ledger.admins[1], ledger.registry, REGISTRY.encode("approveProposal", proposal_id),
                           nonce=ledger.nonce(ledger.admins[1]))
    after = ledger.sign(ds.hospital, ds.address, DATA.encode("recordAccess", rid, "just after"),
                        nonce=ledger.nonce(ds.hospital) + 1)
    built = ledger.chain.build_block([before, approval, after], int(ledger.chain.head.timestamp) + 1,
                                     ledger.sealer_key)
    assert built.block is not None
    assert [t.hash for t in built.block.transactions] == [before.hash, approval.hash]
    assert [t.hash for t, _ in built.dropped] == [after.hash]
    (recorded,) = DATA.decode_logs(built.receipts[0], ds.address)
    assert (recorded.name, recorded.args["accessCount"], recorded.args["reason"]) == (
        "AccessRecorded", 4, "just before")
    assert ds.grant(rid).access_count == 4
    assert ledger.member(hospital).status == 2  # Suspended
    assert ledger.view("activeMemberAt", ds.hospital.address, built.block.header.block_number) == (
        hospital, kind(ds, ds.hospital), False)


def test_owner_suspension_stops_its_owner_actions(ds: Sharing) -> None:
    """The owner's rights are its member's: a suspended department can no longer approve (the
    registry refuses to suspend a member holding an admin key, so a non-admin owner is used)."""
    ledger = ds.ledger
    dataset = ds.register(ds.transport)
    req = ds.new_request(dataset)
    rid = ds.submit(req)
    transport = ds.mid(ds.transport)
    ledger.govern(Action.SuspendMember, payload(["uint256", "string"], transport, "key compromise"))
    assert ds.error(ds.transport, "approve", rid, list(FIELDS), req.valid_until, 1) == (
        "MemberGatedNotActive", (ds.transport.address,))
    assert not ledger.chain.is_active_member(to_canonical_address(ds.transport.address))


# ------------------------------------------------------------------------------------ requester's exits
def test_the_requester_cancels_a_nonce_once_and_only_its_own(ds: Sharing) -> None:
    dataset = ds.register()
    hospital = ds.mid(ds.hospital)
    signed = ds.new_request(dataset, nonce=42)
    signature = ds.sign(ds.hospital, signed)
    events = ds.ok(ds.hospital, "cancelNonce", 42)
    assert events == [Event("NonceCancelled", {"requester": ds.hospital.address, "nonce": 42,
                                               "requesterMemberId": hospital})]
    assert ds.view("nonceUsed", ds.hospital.address, 42) is True
    assert ds.refused(ds.hospital, "cancelNonce", 42) == ("DataSharingNonceUsed", (ds.hospital.address, 42))
    for relayer in (ds.hospital, ds.warehouse):
        assert ds.refused(relayer, "submitRequest", signed.abi(), signature) == (
            "DataSharingNonceUsed", (ds.hospital.address, 42))
    # A nonce already used by a submitted request cannot be cancelled either (withdraw instead).
    ds.submit(ds.new_request(dataset, nonce=43))
    assert ds.refused(ds.hospital, "cancelNonce", 43) == ("DataSharingNonceUsed", (ds.hospital.address, 43))
    # Nonces belong to the signing key: another member cancelling 44 cancels its own, not the hospital's.
    ds.ok(ds.transport, "cancelNonce", 44)
    assert (ds.view("nonceUsed", ds.transport.address, 44), ds.view("nonceUsed", ds.hospital.address, 44)) == (True, False)
    assert ds.submit(ds.new_request(dataset, nonce=44)) == 2
    # Non-members are refused by the contract too.
    stranger = Signer.fresh("stranger")
    assert ds.error(stranger, "cancelNonce", 1) == ("MemberGatedNotActive", (stranger.address,))


def test_the_requester_withdraws_an_undecided_request(ds: Sharing) -> None:
    personal = ds.register(classification=Classification.Personal)
    ds.assign_supervisor(personal, ds.mid(ds.regulator))
    req = ds.new_request(personal)
    rid = ds.submit(req)
    ds.ok(ds.health, "approve", rid, list(FIELDS), req.valid_until, 1)
    assert ds.request(rid).status == RequestStatus.AwaitingSupervisor
    for other in (ds.health, ds.regulator, ds.transport):
        assert ds.refused(other, "withdrawRequest", rid, "x") == ("DataSharingNotRequester", (rid, ds.mid(other)))
    assert ds.refused(ds.hospital, "withdrawRequest", rid, "") == ("DataSharingEmptyText", ("reason",))
    assert ds.refused(ds.hospital, "withdrawRequest", 9, "x") == ("DataSharingUnknownRequest", (9,))
    # Waiting for the supervisor is still undecided: the requester may withdraw.
    events = ds.ok(ds.hospital, "withdrawRequest", rid, "patient discharged")
    assert events == [Event("RequestWithdrawn", {
        "requestId": rid, "datasetId": personal, "requesterMemberId": ds.mid(ds.hospital),
        "account": ds.hospital.address, "reason": "patient discharged"})]
    assert ds.refused(ds.regulator, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Withdrawn))
    assert ds.refused(ds.hospital, "recordAccess", rid, "read") == (
        "DataSharingGrantNotApproved", (rid, RequestStatus.Withdrawn))
    assert ds.refused(ds.hospital, "withdrawRequest", rid, "again") == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Withdrawn))
    # A decided request is not withdrawn: a grant is revoked by its owner instead.
    granted = ds.granted(nonce=2)
    assert ds.refused(ds.hospital, "withdrawRequest", granted, "x") == (
        "DataSharingInvalidStatus", (granted, RequestStatus.Granted))


def test_the_supervisor_is_checked_against_the_requester_at_the_owners_approval(ds: Sharing) -> None:
    """The supervisor can be assigned before a request of the same member arrives."""
    personal = ds.register(classification=Classification.Personal)
    transport = ds.mid(ds.transport)
    ds.assign_supervisor(personal, transport)
    own = ds.new_request(personal, requester=ds.transport)
    rid = ds.submit(own, signer=ds.transport, relayer=ds.transport)
    assert ds.refused(ds.health, "approve", rid, list(FIELDS), own.valid_until, 1) == (
        "DataSharingSupervisorIsParty", (rid, transport))
    # Another member's request of the same dataset goes to the same supervisor without trouble.
    other = ds.submit(ds.new_request(personal))
    ds.ok(ds.health, "approve", other, list(FIELDS), own.valid_until, 1)
    assert ds.ok(ds.transport, "supervisorApprove", other)[0].args["account"] == ds.transport.address
