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

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, NamedTuple

import pytest
from eth.vm.message import Message
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_typing import Address
from eth_utils import keccak, to_canonical_address, to_checksum_address

from conftest import DevNet, artifact
from helpers import (
    REGISTRY,
    TX_GAS,
    Action,
    ContractAbi,
    Event,
    Ledger,
    Sent,
    Signer,
    contract_address,
    payload,
)
from node.errors import ExecutionReverted
from node.genesis import MEMBER_KINDS

DATA = ContractAbi(artifact("DataSharing")["abi"])
ZERO = "0x0000000000000000000000000000000000000000"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

TYPE_STRING = (
    "ShareRequest(uint256 datasetId,address requester,string purpose,string legalBasis,"
    "string[] fields,bytes32 subjectCommitment,uint64 validFrom,uint64 validUntil,"
    "uint32 maxAccesses,uint256 nonce)"
)
DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
EIP712_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "ShareRequest": [
        {"name": "datasetId", "type": "uint256"},
        {"name": "requester", "type": "address"},
        {"name": "purpose", "type": "string"},
        {"name": "legalBasis", "type": "string"},
        {"name": "fields", "type": "string[]"},
        {"name": "subjectCommitment", "type": "bytes32"},
        {"name": "validFrom", "type": "uint64"},
        {"name": "validUntil", "type": "uint64"},
        {"name": "maxAccesses", "type": "uint32"},
        {"name": "nonce", "type": "uint256"},
    ],
}

FIELDS = ("name", "age", "district", "test_result", "test_date")
SCHEMA_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
PAYLOAD_CID = "bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq"


class Classification(IntEnum):
    Public = 0
    Internal = 1
    Sensitive = 2
    Personal = 3


class RequestStatus(IntEnum):
    NONE = 0
    Pending = 1
    AwaitingSupervisor = 2
    Granted = 3
    Rejected = 4
    Revoked = 5


class GrantState(IntEnum):
    NONE = 0
    Pending = 1
    AwaitingSupervisor = 2
    Rejected = 3
    Revoked = 4
    NotYetValid = 5
    Expired = 6
    CapReached = 7
    Undelivered = 8
    Active = 9


class DatasetView(NamedTuple):
    id: int
    owner_member_id: int
    classification: int
    supervisor_member_id: int
    title: str
    schema_cid: str


class RequestView(NamedTuple):
    id: int
    request: tuple[Any, ...]
    requester_member_id: int
    relayer: str
    submitted_at: int
    digest: bytes
    signature: bytes
    status: int


class GrantView(NamedTuple):
    id: int
    dataset_id: int
    status: int
    state: int
    owner_member_id: int
    requester_member_id: int
    supervisor_member_id: int
    fields: tuple[str, ...]
    valid_from: int
    valid_until: int
    max_accesses: int
    access_count: int
    cid: str
    ciphertext_hash: bytes
    plaintext_commitment: bytes
    delivered_at: int


@dataclass(frozen=True)
class ShareRequest:
    """The EIP-712 ``ShareRequest`` message, in the contract's field order."""

    dataset_id: int
    requester: str
    purpose: str
    legal_basis: str
    fields: tuple[str, ...]
    subject_commitment: bytes
    valid_from: int
    valid_until: int
    max_accesses: int
    nonce: int

    def message(self) -> dict[str, Any]:
        return {
            "datasetId": self.dataset_id, "requester": self.requester, "purpose": self.purpose,
            "legalBasis": self.legal_basis, "fields": list(self.fields),
            "subjectCommitment": self.subject_commitment, "validFrom": self.valid_from,
            "validUntil": self.valid_until, "maxAccesses": self.max_accesses, "nonce": self.nonce,
        }

    def abi(self) -> tuple[Any, ...]:
        return (self.dataset_id, self.requester, self.purpose, self.legal_basis, list(self.fields),
                self.subject_commitment, self.valid_from, self.valid_until, self.max_accesses,
                self.nonce)


def subject_commitment(salt: bytes, subjects: list[str]) -> bytes:
    """A salted commitment to the subject list; only this hash goes on chain."""
    return keccak(salt + "\n".join(sorted(subjects)).encode())


def recover(digest: bytes, signature: bytes) -> str:
    """secp256k1 recovery of a 65-byte r || s || v (v = 27/28) signature, independent of the chain."""
    vrs = signature[:64] + bytes([signature[64] - 27])
    return keys.Signature(vrs).recover_public_key_from_msg_hash(digest).to_checksum_address()


# ------------------------------------------------------------------------------------ the driver
class Sharing:
    """A deployed DataSharing on an in-memory devnet, with the test in charge of block time."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        deployer = ledger.admins[0]
        nonce = ledger.nonce(deployer)
        code = bytes.fromhex(artifact("DataSharing")["bytecode"][2:]) + abi_encode(
            ["address"], [ledger.registry])
        sent = ledger.send(deployer, None, code)
        assert sent.status == 1, "DataSharing deployment failed"
        self.address = Address(contract_address(deployer.canonical, nonce))
        self.start = int(ledger.chain.head.timestamp)

        m = ledger.members
        self.health, self.transport, self.red_cross, self.warehouse = m[0], m[1], m[2], m[3]
        self.logistics, self.hospital, self.regulator, self.auditor = m[4], m[5], m[6], m[7]

    # ------------------------------------------------------------------ transactions
    def send(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> Sent:
        """Seal one block holding ``fn(*args)`` from ``signer`` at block time ``at`` (default:
        one second after the head)."""
        head = self.ledger.chain.head
        timestamp = int(head.timestamp) + 1 if at is None else at
        assert timestamp > head.timestamp, "block time must move forward"
        tx = self.ledger.sign(signer, self.address, DATA.encode(fn, *args), nonce=self.ledger.nonce(signer))
        built = self.ledger.chain.build_block([tx], timestamp, self.ledger.sealer_key)
        sent = self.ledger.outcome(built, tx, DATA, self.address)
        assert sent.receipt is not None, f"the chain refused {fn}: {built.dropped}"
        assert int(built.block.header.timestamp) == timestamp  # type: ignore[union-attr]
        return sent

    def ok(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> list[Event]:
        sent = self.send(signer, fn, *args, at=at)
        if sent.status != 1:
            raise AssertionError(f"{fn} reverted: {self.error(signer, fn, *args)}")
        return sent.events

    def refused(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> tuple[str, tuple[Any, ...]]:
        """Seal ``fn(*args)`` in a block; check it reverted without events and changed nothing;
        return the custom error, replayed in the context of that block."""
        before = self.storage_root()
        sent = self.send(signer, fn, *args, at=at)
        assert sent.status == 0 and sent.events == [], f"{fn}{args} should have reverted"
        # The contract's storage did not move (only the sender's nonce did), so replaying the call
        # on the sealed block's state, with its number and timestamp, hits exactly the error the
        # transaction hit.
        assert self.storage_root() == before
        return self.error(signer, fn, *args)

    def storage_root(self) -> bytes:
        proof = self.ledger.chain.get_proof(self.address, [], self.ledger.chain.head)
        return bytes(proof["storageHash"])

    # ------------------------------------------------------------------ reads
    def execute(self, sender: Signer | None, data: bytes, at: int | None = None) -> bytes:
        """Run a message against the state after block ``at`` (head by default), in that block's
        context (number, timestamp): what a transaction at the end of that block would see."""
        header = self.ledger.header(at)
        state = self.ledger.chain.state_at(header)
        origin = sender.canonical if sender is not None else Address(b"\0" * 20)
        message = Message(gas=TX_GAS, to=self.address, sender=origin, value=0, data=data,
                          code=state.get_code(self.address))
        context = state.get_transaction_context_class()(gas_price=0, origin=origin)
        computation = state.computation_class.apply_computation(state, message, context)
        if computation.is_error:
            raise ExecutionReverted(bytes(computation.output))
        return bytes(computation.output)

    def view(self, fn: str, *args: Any, at: int | None = None) -> Any:
        return DATA.decode_output(fn, self.execute(None, DATA.encode(fn, *args), at=at))

    def error(self, sender: Signer | None, fn: str, *args: Any, at: int | None = None) -> tuple[str, tuple[Any, ...]]:
        try:
            self.execute(sender, DATA.encode(fn, *args), at=at)
        except ExecutionReverted as exc:
            return DATA.decode_error(exc.data)
        raise AssertionError(f"{fn}{args} did not revert")

    def dataset(self, dataset_id: int) -> DatasetView:
        return DatasetView(*self.view("getDataset", dataset_id))

    def request(self, request_id: int) -> RequestView:
        return RequestView(*self.view("getRequest", request_id))

    def grant(self, grant_id: int, at: int | None = None) -> GrantView:
        return GrantView(*self.view("getGrant", grant_id, at=at))

    def state(self, grant_id: int) -> GrantState:
        return GrantState(self.view("grantState", grant_id))

    def mid(self, signer: Signer) -> int:
        return self.ledger.member_id(signer)

    # ------------------------------------------------------------------ EIP-712
    @property
    def domain(self) -> dict[str, Any]:
        return {"name": "CityLedger DataSharing", "version": "1", "chainId": self.ledger.chain.chain_id,
                "verifyingContract": to_checksum_address(self.address)}

    def typed_data(self, req: ShareRequest) -> dict[str, Any]:
        return {"types": EIP712_TYPES, "primaryType": "ShareRequest", "domain": self.domain,
                "message": req.message()}

    def digest(self, req: ShareRequest) -> bytes:
        """EIP-191 version 0x01 digest as eth-account builds it."""
        signable = encode_typed_data(full_message=self.typed_data(req))
        return keccak(b"\x19" + signable.version + signable.header + signable.body)

    def sign(self, signer: Signer, req: ShareRequest) -> bytes:
        signable = encode_typed_data(full_message=self.typed_data(req))
        return bytes(Account.sign_message(signable, signer.private_key).signature)

    # ------------------------------------------------------------------ scenarios
    def register(self, owner: Signer | None = None, classification: Classification = Classification.Sensitive,
                 title: str = "Nucleic acid test results") -> int:
        events = self.ok(owner or self.health, "registerDataset", title, int(classification), SCHEMA_CID)
        return int(events[0].args["datasetId"])

    def new_request(self, dataset_id: int, requester: Signer | None = None, **changes: Any) -> ShareRequest:
        requester = requester or self.hospital
        base = ShareRequest(
            dataset_id=dataset_id, requester=requester.address,
            purpose="Contact tracing for ward 3 admissions",
            legal_basis="Law on the Prevention and Treatment of Infectious Diseases, art. 12",
            fields=FIELDS, subject_commitment=subject_commitment(b"salt-1", ["110101199003071234"]),
            valid_from=self.start, valid_until=self.start + 10_000, max_accesses=5, nonce=1,
        )
        return replace(base, **changes)

    def submit(self, req: ShareRequest, signer: Signer | None = None, relayer: Signer | None = None) -> int:
        signature = self.sign(signer or self.hospital, req)
        events = self.ok(relayer or self.hospital, "submitRequest", req.abi(), signature)
        return int(events[0].args["requestId"])

    def granted(self, dataset_id: int | None = None, deliver: bool = True, **changes: Any) -> int:
        """A Granted (and by default delivered) request of the hospital, approved unchanged."""
        dataset_id = dataset_id or self.register()
        req = self.new_request(dataset_id, **changes)
        request_id = self.submit(req)
        self.ok(self.health, "approve", request_id, list(req.fields), req.valid_until, req.max_accesses)
        if deliver:
            self.ok(self.health, "deliver", request_id, PAYLOAD_CID, keccak(b"ciphertext"), keccak(b"plaintext"))
        return request_id


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
    assert DATA.decode_error(exc.value.data) == ("DataSharingInvalidRegistry", (admin.address,))
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
        "DataSharingNotDepartment", (ds.mid(member), kind(ds, member)))


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
        "DataSharingNotActive", (stranger.address,))


# ------------------------------------------------------------------------------------ supervisor
def test_set_supervisor_for_personal_data(ds: Sharing) -> None:
    personal = ds.register(classification=Classification.Personal)
    events = ds.ok(ds.health, "setSupervisor", personal, ds.mid(ds.regulator))
    assert events == [Event("SupervisorSet", {
        "datasetId": personal, "supervisorMemberId": ds.mid(ds.regulator), "ownerMemberId": ds.mid(ds.health)})]
    assert ds.dataset(personal).supervisor_member_id == ds.mid(ds.regulator)
    # The owner may change it; a Department may supervise too.
    ds.ok(ds.health, "setSupervisor", personal, ds.mid(ds.transport))
    assert ds.dataset(personal).supervisor_member_id == ds.mid(ds.transport)


def test_set_supervisor_refusals(ds: Sharing) -> None:
    personal = ds.register(classification=Classification.Personal)
    sensitive = ds.register(classification=Classification.Sensitive)
    regulator = ds.mid(ds.regulator)
    assert ds.refused(ds.transport, "setSupervisor", personal, regulator) == (
        "DataSharingNotOwner", (personal, ds.mid(ds.transport)))
    assert ds.refused(ds.regulator, "setSupervisor", personal, regulator) == (
        "DataSharingNotOwner", (personal, regulator))
    assert ds.refused(ds.health, "setSupervisor", 99, regulator) == ("DataSharingUnknownDataset", (99,))
    assert ds.refused(ds.health, "setSupervisor", sensitive, regulator) == (
        "DataSharingSupervisorNotNeeded", (sensitive, Classification.Sensitive))
    for candidate in (0, ds.mid(ds.health), 99, ds.mid(ds.red_cross), ds.mid(ds.auditor), ds.mid(ds.hospital), 1):
        assert ds.refused(ds.health, "setSupervisor", personal, candidate) == (
            "DataSharingInvalidSupervisor", (personal, candidate)), candidate
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
        "requester": ds.hospital.address, "relayer": ds.warehouse.address, "nonce": 1, "digest": digest})]
    submitted_at = int(ds.ledger.chain.head.timestamp)

    # The stored request is portable evidence: re-verifiable from state alone.
    stored = ds.request(1)
    assert stored == RequestView(1, req.abi()[:4] + (tuple(req.fields),) + req.abi()[5:],
                                 ds.mid(ds.hospital), ds.warehouse.address, submitted_at, digest,
                                 signature, RequestStatus.Pending)
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
        "DataSharingNotActive", (stranger.address,))
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
        "fields": tuple(narrowed), "validUntil": req.valid_until - 3600, "maxAccesses": 2,
        "supervisorMemberId": 0})]
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
        "requestId": rid, "datasetId": dataset, "memberId": ds.mid(ds.health),
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
    ds.ok(ds.health, "setSupervisor", dataset, regulator)
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
    # Naming a new supervisor now does not change who approves this request.
    ds.ok(ds.health, "setSupervisor", dataset, ds.mid(ds.transport))
    assert ds.refused(ds.transport, "supervisorApprove", rid) == (
        "DataSharingNotSupervisor", (rid, ds.mid(ds.transport)))

    events = ds.ok(ds.regulator, "supervisorApprove", rid)
    assert events == [Event("SupervisorApproved", {
        "requestId": rid, "datasetId": dataset, "supervisorMemberId": regulator})]
    assert ds.request(rid).status == RequestStatus.Granted
    assert ds.state(rid) == GrantState.Undelivered
    assert ds.refused(ds.regulator, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Granted))
    ds.ok(ds.health, "deliver", rid, PAYLOAD_CID, b"\1" * 32, b"\2" * 32)
    assert ds.ok(ds.hospital, "recordAccess", rid, "read")[0].args["accessCount"] == 1


def test_supervisor_may_reject_and_the_owner_may_revoke_while_waiting(ds: Sharing) -> None:
    dataset = ds.register(classification=Classification.Personal)
    ds.ok(ds.health, "setSupervisor", dataset, ds.mid(ds.regulator))
    first = ds.new_request(dataset)
    rid = ds.submit(first)
    ds.ok(ds.health, "approve", rid, list(FIELDS), first.valid_until, 1)
    # While waiting for the supervisor, rejecting is the supervisor's step.
    assert ds.refused(ds.health, "reject", rid, "no") == ("DataSharingNotSupervisor", (rid, ds.mid(ds.health)))
    events = ds.ok(ds.regulator, "reject", rid, "subjects exceed the stated purpose")
    assert events == [Event("RequestRejected", {
        "requestId": rid, "datasetId": dataset, "memberId": ds.mid(ds.regulator),
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
        "grantId": rid, "datasetId": dataset, "ownerMemberId": ds.mid(ds.health), "cid": PAYLOAD_CID,
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
    assert (events[0].args["requester"], events[0].args["relayer"]) == (ds.hospital.address, gateway.address)


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
        "grantId": rid, "datasetId": dataset, "ownerMemberId": ds.mid(ds.health), "reason": "purpose fulfilled"})]
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
    assert ds.error(ds.hospital, "recordAccess", rid, "third") == ("DataSharingNotActive", (ds.hospital.address,))
    # A request it signed before the suspension can no longer be relayed by anyone.
    assert ds.refused(ds.warehouse, "submitRequest", pending.abi(), pending_signature) == (
        "DataSharingNotActive", (ds.hospital.address,))

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
    approval = ledger.sign(ledger.admins[1], ledger.registry, REGISTRY.encode("approve", proposal_id),
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
        "DataSharingNotActive", (ds.transport.address,))
    assert not ledger.chain.is_active_member(to_canonical_address(ds.transport.address))
