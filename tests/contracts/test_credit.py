"""Credit on the project's own chain, in-process: USCC validation (GB 32100-2015), issuer
authorisation by category (M-of-N approval of the registry's admins), entries with their
corrections and revocations, and Merkle-anchored batches (PRODUCT.md, "Credit" and "Verification").

The chain is ``node.chain.LedgerChain`` over ``MemoryKV`` (the in-memory key-value store meant for
unit tests), driven through ``helpers.Ledger``: transactions signed with eth_account and sealed with
``LedgerChain.build_block``, views and revert data read with ``LedgerChain.call``.

The Merkle code below is a small, independent Python implementation of the tree the contract
documents (OpenZeppelin StandardMerkleTree layout, sorted-pair keccak256, double-hashed leaves); the
gateway and the audit will get their own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

import pytest
from eth.abc import ReceiptAPI
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from eth_utils.abi import collapse_if_tuple

from conftest import DevNet, artifact
from helpers import (
    Action,
    ContractAbi,
    Event,
    Ledger,
    MemberKind,
    Sent,
    Signer,
    _checksummed,
    contract_address,
    payload,
    sealed,
)
from node.errors import ExecutionReverted


class StructEventAbi(ContractAbi):
    """``ContractAbi`` whose log decoding also handles struct (tuple) event arguments, which
    Credit's entry events carry."""

    def decode_logs(self, receipt: ReceiptAPI, address: bytes) -> list[Event]:
        out = []
        for log in receipt.logs:
            if bytes(log.address) != address:
                continue
            topic0, *indexed_topics = log.topics
            event = self._events[topic0]
            indexed = [i for i in event["inputs"] if i["indexed"]]
            plain = [i for i in event["inputs"] if not i["indexed"]]
            args: dict[str, Any] = {}
            for param, topic in zip(indexed, indexed_topics, strict=True):
                (value,) = abi_decode([param["type"]], topic.to_bytes(32, "big"))
                args[param["name"]] = _checksummed(param, value)
            values = abi_decode([collapse_if_tuple(p) for p in plain], bytes(log.data))
            args.update({p["name"]: _checksummed(p, v) for p, v in zip(plain, values, strict=True)})
            out.append(Event(event["name"], {i["name"]: args[i["name"]] for i in event["inputs"]}))
        return out


CREDIT = StructEventAbi(artifact("Credit")["abi"])
ZERO32 = b"\0" * 32


class Category(IntEnum):
    """``Credit.Category``."""

    License = 0
    Penalty = 1
    Commendation = 2
    AbnormalOperation = 3
    SeriousDishonesty = 4
    ContractDefault = 5


class EntryAction(IntEnum):
    """``Credit.EntryAction``."""

    Issue = 0
    Supersede = 1
    Revoke = 2


class EntryView(NamedTuple):
    """``Credit.Entry`` as ``entry`` returns it and the entry events carry it."""

    uscc: bytes
    category: int
    severity: int
    is_public: bool
    action: int
    effective_date: int
    expiry_date: int
    issuer: str
    recorded_at: int
    issuer_member_id: int
    amount: int
    summary_hash: bytes
    refers_to: int
    evidence_cid: str
    reason: str


class IssuerChangeView(NamedTuple):
    """``Credit.IssuerChange`` as ``getIssuerChange`` returns it."""

    member_id: int
    category: int
    authorized: bool
    proposer: str
    created_at: int
    executed: bool
    approvals: int
    epoch: int


class BatchView(NamedTuple):
    """``Credit.Batch`` as ``batch`` returns it."""

    merkle_root: bytes
    entry_count: int
    category: int
    issuer: str
    anchored_at: int
    issuer_member_id: int
    metadata_cid: str


# ------------------------------------------------------------------------ GB 32100-2015 (USCC)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z; value = position


def uscc_check_char(body: str) -> str:
    """Check character for the first 17 characters: weight of position i (1-based) is
    3^(i-1) mod 31; the check value is (31 - sum(value * weight) mod 31) mod 31."""
    assert len(body) == 17
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    return (len(code) == 18 and all(c in USCC_ALPHABET for c in code)
            and uscc_check_char(code[:17]) == code[17])


def make_uscc(body: str) -> str:
    return body + uscc_check_char(body)


def b18(code: str) -> bytes:
    raw = code.encode()
    assert len(raw) == 18
    return raw


# Codes as published by large enterprises, not produced by our generator: each passes only if the
# algorithm above is right (a code with a mistyped character fails with probability 30/31).
PUBLISHED_USCCS = (
    "91330100799655058B",
    "9144030071526726XG",
    "914403001922038216",
    "911000001000013428",
    "91100000100003962T",
    "91110000802100433B",
)

# Real format: registration authority 9 (market supervision), category 1 (enterprise), a
# six-digit administrative division (Hangzhou, Beijing, Shenzhen, Chengdu), a nine-character
# organisation code, then the check character computed above.
GENERATED_USCCS = tuple(make_uscc(body) for body in (
    "91330100MA2H0Q7X3",  # letters from the alphabet in the organisation code
    "913301087450368L1",
    "92110105MA01RY4K6",  # 2: individual business
    "914403007178915GP",
    "91510100MA6CW0N8Y",
))

SUBJECT_A, SUBJECT_B = GENERATED_USCCS[0], GENERATED_USCCS[1]


def invalid_usccs() -> list[str]:
    """Known-invalid codes: wrong check character, forbidden letters, wrong length, wrong case."""
    good = GENERATED_USCCS[0]
    wrong_check = [good[:17] + c for c in USCC_ALPHABET if c != good[17]]
    forbidden = []
    for letter in "IOSVZ":
        forbidden.append(good[:10] + letter + good[11:])  # inside the organisation code
        forbidden.append(good[:17] + letter)  # as the check character
    # A body whose check value is 0 would have its check character as '0'; put the look-alike 'O'.
    zero_check = next(b for b in (f"91330100{n:09d}" for n in range(1000)) if uscc_check_char(b) == "0")
    forbidden.append(zero_check + "O")
    return [
        *wrong_check,
        *forbidden,
        good[:17],  # 17 characters
        good + "0",  # 19 characters
        "",
        "330100000012345",  # a 15-digit registration number of the old system
        PUBLISHED_USCCS[1].lower(),  # lower case is not in the alphabet
        good[:16] + "Ａ" + good[17],  # full-width letter: 18 characters but 20 UTF-8 bytes
    ]


# ------------------------------------------------------------------------ Merkle (batch leaves)
LEAF_TYPES = ["bytes18", "uint8", "uint8", "uint64", "uint64", "uint256", "bytes32", "bytes32",
              "bool", "uint256"]


class Leaf(NamedTuple):
    """``Credit.BatchLeaf``: the ten values a batch leaf hashes, in contract order."""

    uscc: bytes
    category: int
    severity: int
    effective_date: int
    expiry_date: int
    amount: int
    summary_hash: bytes
    evidence_cid_hash: bytes
    is_public: bool
    index_in_batch: int


def leaf_hash(leaf: Leaf) -> bytes:
    """keccak256(keccak256(abi.encode(values))), the StandardMerkleTree leaf."""
    return keccak(keccak(abi_encode(LEAF_TYPES, list(leaf))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative node hash: keccak256 of the two children in ascending order."""
    return keccak(a + b if a < b else b + a)


@dataclass
class MerkleTree:
    """StandardMerkleTree layout: leaves sorted by hash, stored right to left at the end of an
    array of 2n-1 nodes; node i has children 2i+1 and 2i+2; the root is node 0."""

    nodes: list[bytes]
    tree_index: list[int]  # position in ``nodes`` of the leaf of value i

    @classmethod
    def build(cls, hashes: Sequence[bytes]) -> MerkleTree:
        order = sorted(range(len(hashes)), key=lambda i: hashes[i])
        size = 2 * len(hashes) - 1
        nodes = [b""] * size
        tree_index = [0] * len(hashes)
        for position, value_index in enumerate(order):
            tree_index[value_index] = size - 1 - position
            nodes[size - 1 - position] = hashes[value_index]
        for i in range(size - 1 - len(hashes), -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(nodes, tree_index)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, value_index: int) -> list[bytes]:
        i = self.tree_index[value_index]
        path = []
        while i > 0:
            path.append(self.nodes[i + 1 if i % 2 else i - 1])  # sibling
            i = (i - 1) // 2  # parent
        return path


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


# ------------------------------------------------------------------------ chain driver
@dataclass
class Env:
    """A devnet chain with Credit deployed; the regulator is not yet authorised for anything."""

    ledger: Ledger
    credit: bytes
    admin: Signer  # consortium admin 0 (registry admin set; threshold 2 on the devnet)
    regulator: Signer  # devnet member 6, "Market Supervision Administration"
    regulator_id: int
    department: Signer  # devnet member 0, a department
    auditor: Signer  # devnet member 7

    def send(self, signer: Signer, fn: str, *args: Any) -> Sent:
        return self.ledger.send(signer, self.credit, CREDIT.encode(fn, *args), abi=CREDIT)

    def ok(self, signer: Signer, fn: str, *args: Any) -> Sent:
        sent = self.send(signer, fn, *args)
        assert sent.status == 1, f"{fn} reverted: {self.revert(signer, fn, *args)}"
        return sent

    def view(self, fn: str, *args: Any) -> Any:
        return self.ledger.view(fn, *args, abi=CREDIT, to=self.credit)

    def revert(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        """The custom error ``fn(*args)`` from ``signer`` reverts with at the head."""
        call: dict[str, Any] = {"to": self.credit, "data": CREDIT.encode(fn, *args)}
        if signer is not None:
            call["from"] = signer.canonical
        try:
            self.ledger.chain.call(call, self.ledger.chain.head)
        except ExecutionReverted as exc:
            return CREDIT.decode_error(exc.data)
        raise AssertionError(f"{fn}{args} from {signer} did not revert")

    def entry(self, entry_id: int) -> EntryView:
        return EntryView(*self.view("entry", entry_id))

    def change(self, change_id: int) -> IssuerChangeView:
        return IssuerChangeView(*self.view("getIssuerChange", change_id))

    def propose(self, admin: Signer, member_id: int, category: Category | int,
                authorized: bool = True) -> tuple[int, Sent]:
        """``proposeIssuerChange`` sealed; the new change id and the transaction."""
        sent = self.ok(admin, "proposeIssuerChange", member_id, int(category), authorized)
        (proposed,) = [e for e in sent.events if e.name == "IssuerChangeProposed"]
        return int(proposed.args["changeId"]), sent

    def decide(self, member_id: int, category: Category, authorized: bool) -> list[Event]:
        """Admin 0 proposes, admin 1 approves (threshold 2: executes); the approval's events
        between ``IssuerChangeApproved`` and ``IssuerChangeExecuted``."""
        proposer, approver = self.ledger.admins[0], self.ledger.admins[1]
        change_id, _ = self.propose(proposer, member_id, category, authorized)
        events = self.ok(approver, "approveIssuerChange", change_id).events
        assert events[0] == Event("IssuerChangeApproved", {
            "changeId": change_id, "approver": approver.address, "approvals": 2})
        assert events[-1] == Event("IssuerChangeExecuted", {"changeId": change_id})
        assert self.change(change_id).executed is True
        return events[1:-1]

    def authorize(self, member_id: int, category: Category) -> None:
        self.decide(member_id, category, True)

    def deauthorize(self, member_id: int, category: Category) -> None:
        self.decide(member_id, category, False)

    def timestamp(self, sent: Sent) -> int:
        return int(sealed(sent.built).header.timestamp)


@pytest.fixture
def env(devnet: DevNet) -> Env:
    ledger = Ledger(devnet)
    admin = ledger.admins[0]
    nonce = ledger.nonce(admin)
    init = bytes.fromhex(artifact("Credit")["bytecode"][2:]) + abi_encode(["address"], [ledger.registry])
    sent = ledger.send(admin, None, init)
    assert sent.status == 1, "Credit deployment failed"
    credit = contract_address(admin.canonical, nonce)
    regulator = ledger.members[6]
    e = Env(ledger, credit, admin, regulator, ledger.member_id(regulator), ledger.members[0],
            ledger.members[7])
    assert ledger.member(e.regulator_id).kind == MemberKind.Regulator
    assert e.view("registry").lower() == "0x" + bytes(ledger.registry).hex()
    return e


def entry_args(uscc: str, category: Category = Category.Penalty, severity: int = 2,
               effective: int = 1_700_000_000, expiry: int = 1_800_000_000, amount: int = 5_000_000,
               summary: bytes = keccak(text="Sold expired food (summary text)"),
               cid: str = "bafkreievidence0001", public: bool = True) -> list[Any]:
    """``issue`` arguments, in order."""
    return [uscc, int(category), severity, effective, expiry, amount, summary, cid, public]


def admit_regulator(env: Env, name: str) -> tuple[Signer, int]:
    """Admit a second Regulator member through M-of-N governance; return its account and id."""
    account = Signer.fresh(name)
    _, events = env.ledger.govern(Action.AdmitMember, payload(
        ["string", "uint8", "uint8", "address[]", "bytes32"],
        name, int(MemberKind.Regulator), 0, [account.address], keccak(text=name)))
    (admitted,) = [e for e in events if e.name == "MemberAdmitted"]
    return account, int(admitted.args["memberId"])


# ------------------------------------------------------------------------ USCC
def test_uscc_algorithm_accepts_published_and_generated_codes_and_rejects_known_bad_ones(env: Env) -> None:
    for code in PUBLISHED_USCCS + GENERATED_USCCS:
        assert is_valid_uscc(code), code
        assert env.view("isValidUscc", code) is True, code
    bad = invalid_usccs()
    assert len(bad) == 30 + 11 + 6
    for code in bad:
        assert not is_valid_uscc(code), code
        assert env.view("isValidUscc", code) is False, code


def test_uscc_python_and_contract_agree_on_random_codes(env: Env) -> None:
    rng = random.Random(32100)
    codes = []
    for _ in range(120):
        body = "".join(rng.choice(USCC_ALPHABET) for _ in range(17))
        codes += [make_uscc(body), body + rng.choice(USCC_ALPHABET)]
    assert 120 <= sum(map(is_valid_uscc, codes)) < 135  # about 1/31 of the random ones pass too
    for code in codes:
        assert env.view("isValidUscc", code) is is_valid_uscc(code), code


def test_every_entry_point_rejects_an_invalid_uscc_naming_the_code(env: Env) -> None:
    env.authorize(env.regulator_id, Category.Penalty)
    for code in invalid_usccs():
        assert env.revert(env.regulator, "issue", *entry_args(code)) == ("CreditInvalidUscc", (code,))
    first = env.ok(env.regulator, "issue", *entry_args(SUBJECT_A))
    assert [e.name for e in first.events] == ["EntryIssued"]

    bad = SUBJECT_A[:17] + ("0" if SUBJECT_A[17] != "0" else "1")
    assert env.revert(env.regulator, "supersede", 1, *entry_args(bad), "fix") == ("CreditInvalidUscc", (bad,))
    assert env.revert(None, "entriesOf", b18(bad)) == ("CreditInvalidUscc", (bad,))
    leaf = Leaf(b18(bad), int(Category.Penalty), 1, 0, 0, 0, ZERO32, ZERO32, True, 0)
    env.ok(env.regulator, "anchorBatch", keccak(text="root"), 1, int(Category.Penalty), "bafymeta")
    assert env.revert(None, "verifyBatchEntry", 1, [], tuple(leaf)) == ("CreditInvalidUscc", (bad,))

    # A sealed transaction with an invalid code reverts and records nothing.
    sent = env.send(env.regulator, "issue", *entry_args(bad))
    assert sent.status == 0 and sent.events == []
    assert env.view("entryCount") == 1


# ------------------------------------------------------------------------ authorisation
ADMIN_SET = ("address[]", "uint256")


def test_authorisation_needs_m_of_n_admin_approval(env: Env) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    a0, a1, a2 = env.ledger.admins
    penalty = int(Category.Penalty)
    assert env.ledger.view("threshold") == 2 and env.ledger.view("adminEpoch") == 1
    assert env.view("issuerChangeCount") == 0

    # One admin's proposal is not enough: the change waits, the regulator still cannot issue.
    assert env.view("canIssue", reg.address, penalty) is False
    change_id, sent = env.propose(a0, reg_id, Category.Penalty)
    assert change_id == 1
    assert sent.events == [
        Event("IssuerChangeProposed", {"changeId": 1, "memberId": reg_id, "category": penalty,
                                       "authorized": True, "proposer": a0.address}),
        Event("IssuerChangeApproved", {"changeId": 1, "approver": a0.address, "approvals": 1}),
    ]
    assert env.change(1) == IssuerChangeView(reg_id, penalty, True, a0.address, sent.number, False, 1, 1)
    assert env.view("hasApprovedIssuerChange", 1, a0.address) is True
    assert env.view("hasApprovedIssuerChange", 1, a1.address) is False
    assert env.view("isAuthorized", reg_id, penalty) is False
    assert env.view("canIssue", reg.address, penalty) is False
    assert env.revert(reg, "issue", *entry_args(SUBJECT_A)) == ("CreditNotAuthorized", (reg.address, penalty))
    # ... and the proposer cannot approve its own change a second time to reach the threshold.
    assert env.revert(a0, "approveIssuerChange", 1) == ("CreditIssuerChangeAlreadyApproved", (1, a0.address))
    twice = env.send(a0, "approveIssuerChange", 1)
    assert twice.status == 0 and twice.events == []
    assert env.change(1).approvals == 1 and env.view("isAuthorized", reg_id, penalty) is False

    # The single-admin entry points are gone: their selectors hit no function and revert.
    names = {e.get("name") for e in CREDIT.abi}
    assert not names & {"authorizeIssuer", "deauthorizeIssuer"}
    old = keccak(text="authorizeIssuer(uint256,uint8)")[:4] + abi_encode(["uint256", "uint8"], [reg_id, penalty])
    gone = env.ledger.send(a0, env.credit, old, abi=CREDIT)
    assert gone.status == 0 and gone.events == []

    # A second admin's approval reaches the threshold and executes the change in that transaction.
    sent = env.ok(a1, "approveIssuerChange", 1)
    assert sent.events == [
        Event("IssuerChangeApproved", {"changeId": 1, "approver": a1.address, "approvals": 2}),
        Event("IssuerAuthorized", {"memberId": reg_id, "category": penalty, "by": a1.address}),
        Event("IssuerChangeExecuted", {"changeId": 1}),
    ]
    proposed_at = env.change(1).created_at
    assert env.change(1) == IssuerChangeView(reg_id, penalty, True, a0.address, proposed_at, True, 2, 1)
    assert env.view("hasApprovedIssuerChange", 1, a1.address) is True
    assert env.view("isAuthorized", reg_id, penalty) is True
    assert env.view("isAuthorized", reg_id, int(Category.License)) is False
    assert env.view("canIssue", reg.address, penalty) is True
    assert env.view("canIssue", reg.address, int(Category.License)) is False
    env.ok(reg, "issue", *entry_args(SUBJECT_A))

    # An executed change takes no more approvals.
    assert env.revert(a2, "approveIssuerChange", 1) == ("CreditIssuerChangeAlreadyExecuted", (1,))
    assert env.revert(a1, "approveIssuerChange", 1) == ("CreditIssuerChangeAlreadyExecuted", (1,))

    # Granting again executes but changes nothing and emits no IssuerAuthorized.
    change_id, _ = env.propose(a2, reg_id, Category.Penalty)
    assert env.ok(a0, "approveIssuerChange", change_id).events == [
        Event("IssuerChangeApproved", {"changeId": change_id, "approver": a0.address, "approvals": 2}),
        Event("IssuerChangeExecuted", {"changeId": change_id}),
    ]
    assert env.view("isAuthorized", reg_id, penalty) is True

    # Withdrawal goes the same way (any two admins); withdrawing again changes nothing.
    change_id, sent = env.propose(a2, reg_id, Category.Penalty, False)
    assert sent.events[0] == Event("IssuerChangeProposed", {
        "changeId": change_id, "memberId": reg_id, "category": penalty, "authorized": False,
        "proposer": a2.address})
    assert env.view("isAuthorized", reg_id, penalty) is True  # one admin cannot withdraw either
    assert env.ok(a1, "approveIssuerChange", change_id).events == [
        Event("IssuerChangeApproved", {"changeId": change_id, "approver": a1.address, "approvals": 2}),
        Event("IssuerDeauthorized", {"memberId": reg_id, "category": penalty, "by": a1.address}),
        Event("IssuerChangeExecuted", {"changeId": change_id}),
    ]
    assert env.view("isAuthorized", reg_id, penalty) is False
    assert env.revert(reg, "issue", *entry_args(SUBJECT_A)) == ("CreditNotAuthorized", (reg.address, penalty))
    assert env.decide(reg_id, Category.Penalty, False) == []
    assert env.view("issuerChangeCount") == 4


def test_issuer_changes_are_refused_with_the_offending_values(env: Env) -> None:
    reg_id, admin = env.regulator_id, env.admin
    dept_id = env.ledger.member_id(env.department)
    stranger = Signer.fresh("credit stranger admin")

    # Only accounts in the registry's admin set propose or approve.
    change_id, _ = env.propose(admin, reg_id, Category.Penalty)
    for outsider in (env.department, env.auditor, env.regulator, stranger):
        for authorized in (True, False):
            assert env.revert(outsider, "proposeIssuerChange", reg_id, 1, authorized) == (
                "CreditNotAdmin", (outsider.address,))
        assert env.revert(outsider, "approveIssuerChange", change_id) == ("CreditNotAdmin", (outsider.address,))
    refused = env.send(env.department, "approveIssuerChange", change_id)
    assert refused.status == 0 and refused.events == []
    assert env.change(change_id).approvals == 1
    assert env.view("hasApprovedIssuerChange", change_id, env.department.address) is False

    # Unknown changes.
    for unknown in (0, 2, 99):
        assert env.revert(admin, "approveIssuerChange", unknown) == ("CreditUnknownIssuerChange", (unknown,))
        assert env.revert(None, "getIssuerChange", unknown) == ("CreditUnknownIssuerChange", (unknown,))
        assert env.view("hasApprovedIssuerChange", unknown, admin.address) is False

    # What is proposed: a valid category always; for a grant, an existing Active Regulator.
    for category in (6, 255):
        for authorized in (True, False):
            assert env.revert(admin, "proposeIssuerChange", reg_id, category, authorized) == (
                "CreditInvalidCategory", (category,))
        assert env.revert(None, "isAuthorized", reg_id, category) == ("CreditInvalidCategory", (category,))
    assert env.revert(admin, "proposeIssuerChange", dept_id, 1, True) == (
        "CreditNotRegulator", (dept_id, int(MemberKind.Department)))
    assert env.revert(admin, "proposeIssuerChange", 1, 1, True) == ("CreditNotRegulator", (1, int(MemberKind.Admin)))
    for unknown in (0, 99):
        assert env.revert(admin, "proposeIssuerChange", unknown, 1, True) == ("CreditUnknownMember", (unknown,))
    # Withdrawal works for any member id (nothing to withdraw: executes as a no-op).
    assert env.decide(99, Category.Penalty, False) == []
    assert env.view("issuerChangeCount") == 2


def test_a_grant_is_checked_again_when_it_executes(env: Env) -> None:
    reg_id = env.regulator_id
    a0, a1, _ = env.ledger.admins
    change_id, _ = env.propose(a0, reg_id, Category.License)

    # Suspended after the proposal: the executing approval reverts and is not recorded.
    env.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], reg_id, "under investigation"))
    assert env.revert(a1, "approveIssuerChange", change_id) == ("CreditMemberNotActive", (reg_id,))
    sent = env.send(a1, "approveIssuerChange", change_id)
    assert sent.status == 0 and sent.events == []
    assert env.change(change_id).executed is False and env.change(change_id).approvals == 1
    assert env.view("hasApprovedIssuerChange", change_id, a1.address) is False
    # No new grant can even be proposed for a suspended member; a withdrawal can.
    assert env.revert(a0, "proposeIssuerChange", reg_id, int(Category.Penalty), True) == (
        "CreditMemberNotActive", (reg_id,))
    env.propose(a0, reg_id, Category.Penalty, False)

    # Reinstated (same admin epoch): the pending grant can now execute.
    env.ledger.govern(Action.ReinstateMember, payload(["uint256"], reg_id))
    events = env.ok(a1, "approveIssuerChange", change_id).events
    assert Event("IssuerAuthorized", {"memberId": reg_id, "category": int(Category.License),
                                      "by": a1.address}) in events
    assert env.view("isAuthorized", reg_id, int(Category.License)) is True


def test_changes_proposed_under_an_older_admin_set_are_stale(env: Env) -> None:
    reg_id = env.regulator_id
    a0, a1, a2 = env.ledger.admins
    pending, _ = env.propose(a0, reg_id, Category.Penalty)
    withdrawal, _ = env.propose(a2, reg_id, Category.License, False)
    assert env.change(pending).epoch == 1

    # The registry's admin set changes (admin 2 removed, threshold 2): epoch 1 -> 2.
    env.ledger.govern(Action.SetAdmins, payload(ADMIN_SET, [a0.address, a1.address], 2))
    assert env.ledger.view("adminEpoch") == 2
    for change_id in (pending, withdrawal):
        assert env.revert(a1, "approveIssuerChange", change_id) == ("CreditStaleIssuerChange", (change_id, 1, 2))
    stale = env.send(a1, "approveIssuerChange", pending)
    assert stale.status == 0 and stale.events == []
    assert env.change(pending).executed is False and env.change(pending).approvals == 1
    assert env.view("isAuthorized", reg_id, int(Category.Penalty)) is False

    # Admin 2 is still an account of an Active Admin-kind member, but no longer in the admin set.
    assert env.ledger.member(env.ledger.member_id(a2)).kind == MemberKind.Admin
    assert env.revert(a2, "proposeIssuerChange", reg_id, 1, True) == ("CreditNotAdmin", (a2.address,))
    assert env.revert(a2, "approveIssuerChange", pending) == ("CreditNotAdmin", (a2.address,))

    # A fresh proposal under the new set executes with the new set's approvals.
    change_id, _ = env.propose(a1, reg_id, Category.Penalty)
    assert env.change(change_id).epoch == 2
    assert env.ok(a0, "approveIssuerChange", change_id).events[1] == Event(
        "IssuerAuthorized", {"memberId": reg_id, "category": int(Category.Penalty), "by": a0.address})
    assert env.view("isAuthorized", reg_id, int(Category.Penalty)) is True


def test_changes_execute_at_the_registry_threshold(env: Env) -> None:
    reg_id = env.regulator_id
    a0, a1, a2 = env.ledger.admins
    all_admins = [a.address for a in (a0, a1, a2)]

    # Threshold 3: two approvals are not enough, the third executes.
    env.ledger.govern(Action.SetAdmins, payload(ADMIN_SET, all_admins, 3))
    change_id, _ = env.propose(a2, reg_id, Category.Commendation)
    assert [e.name for e in env.ok(a0, "approveIssuerChange", change_id).events] == ["IssuerChangeApproved"]
    assert env.change(change_id).approvals == 2 and env.change(change_id).executed is False
    assert env.view("isAuthorized", reg_id, int(Category.Commendation)) is False
    assert env.ok(a1, "approveIssuerChange", change_id).events == [
        Event("IssuerChangeApproved", {"changeId": change_id, "approver": a1.address, "approvals": 3}),
        Event("IssuerAuthorized", {"memberId": reg_id, "category": int(Category.Commendation), "by": a1.address}),
        Event("IssuerChangeExecuted", {"changeId": change_id}),
    ]
    assert env.view("isAuthorized", reg_id, int(Category.Commendation)) is True
    assert all(env.view("hasApprovedIssuerChange", change_id, a) for a in all_admins)

    # Threshold 1 (set by three approvals under threshold 3): a proposal executes at once.
    proposal_id, _ = env.ledger.propose(a0, Action.SetAdmins, payload(ADMIN_SET, all_admins, 1))
    assert env.ledger.approve(a1, proposal_id).status == 1
    assert env.ledger.approve(a2, proposal_id).status == 1
    assert env.ledger.view("threshold") == 1 and env.ledger.view("adminEpoch") == 3
    change_id, sent = env.propose(a2, reg_id, Category.SeriousDishonesty)
    category = int(Category.SeriousDishonesty)
    assert sent.events == [
        Event("IssuerChangeProposed", {"changeId": change_id, "memberId": reg_id, "category": category,
                                       "authorized": True, "proposer": a2.address}),
        Event("IssuerChangeApproved", {"changeId": change_id, "approver": a2.address, "approvals": 1}),
        Event("IssuerAuthorized", {"memberId": reg_id, "category": category, "by": a2.address}),
        Event("IssuerChangeExecuted", {"changeId": change_id}),
    ]
    assert env.change(change_id).executed is True
    assert env.view("isAuthorized", reg_id, category) is True


def test_who_may_issue_is_decided_by_membership_at_the_block(env: Env) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    penalty, license_ = int(Category.Penalty), int(Category.License)

    # Non-regulator members (a department, an admin member) and an unauthorised category.
    for member in (env.department, env.admin, env.auditor):
        assert env.revert(member, "issue", *entry_args(SUBJECT_A)) == (
            "CreditNotAuthorized", (member.address, penalty))
        assert env.revert(member, "anchorBatch", keccak(text="r"), 5, penalty, "m") == (
            "CreditNotAuthorized", (member.address, penalty))
    assert env.revert(reg, "issue", *entry_args(SUBJECT_A, Category.License)) == (
        "CreditNotAuthorized", (reg.address, license_))
    assert env.revert(reg, "anchorBatch", keccak(text="r"), 5, license_, "m") == (
        "CreditNotAuthorized", (reg.address, license_))
    bad_category = entry_args(SUBJECT_A)
    bad_category[1] = 9
    assert env.revert(reg, "issue", *bad_category) == ("CreditInvalidCategory", (9,))

    # A non-member: the contract refuses it, and the node does not even include its transaction.
    stranger = Signer.fresh("credit stranger")
    assert env.revert(stranger, "issue", *entry_args(SUBJECT_A)) == ("CreditNotActiveMember", (stranger.address,))
    assert env.send(stranger, "issue", *entry_args(SUBJECT_A)).receipt is None

    # A second account added to the regulator member issues under the same authorisation.
    second = Signer.fresh("market supervision second key")
    env.ledger.govern(Action.AddAccount, payload(["uint256", "address"], reg_id, second.address))
    sent = env.ok(second, "issue", *entry_args(SUBJECT_A))
    (issued,) = sent.events
    assert (issued.args["issuerMemberId"], EntryView(*issued.args["entry"]).issuer) == (reg_id, second.address)

    # Suspended: refused at once, cannot be (re)authorised; reinstated: the authorisation is back.
    env.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], reg_id, "under investigation"))
    suspended_at = env.ledger.chain.head.block_number
    for account in (reg, second):
        assert env.revert(account, "issue", *entry_args(SUBJECT_A)) == ("CreditNotActiveMember", (account.address,))
        assert env.revert(account, "revoke", 1, "r") == ("CreditNotActiveMember", (account.address,))
        assert env.view("canIssue", account.address, penalty) is False
    assert env.revert(env.admin, "proposeIssuerChange", reg_id, license_, True) == (
        "CreditMemberNotActive", (reg_id,))
    env.ledger.govern(Action.ReinstateMember, payload(["uint256"], reg_id))
    assert env.ok(reg, "issue", *entry_args(SUBJECT_B)).events[0].args["entryId"] == 2
    # On the state after the suspension block the answer is still no: it is decided per block.
    with pytest.raises(ExecutionReverted) as refused:
        env.ledger.chain.call({"to": env.credit, "from": reg.canonical,
                               "data": CREDIT.encode("issue", *entry_args(SUBJECT_A))},
                              env.ledger.header(suspended_at))
    assert CREDIT.decode_error(refused.value.data) == ("CreditNotActiveMember", (reg.address,))


# ------------------------------------------------------------------------ entries
def test_issue_records_the_entry_emits_it_and_indexes_the_subject(env: Env) -> None:
    env.authorize(env.regulator_id, Category.Penalty)
    env.authorize(env.regulator_id, Category.Commendation)
    assert env.view("entryCount") == 0
    assert env.view("entriesOf", b18(SUBJECT_A)) == ()

    args = entry_args(SUBJECT_A, severity=3, amount=12_345_600, cid="bafkreipenalty", public=False)
    sent = env.ok(env.regulator, "issue", *args)
    expected = EntryView(b18(SUBJECT_A), int(Category.Penalty), 3, False, EntryAction.Issue,
                         1_700_000_000, 1_800_000_000, env.regulator.address, env.timestamp(sent),
                         env.regulator_id, 12_345_600, args[6], 0, "bafkreipenalty", "")
    assert sent.events == [Event("EntryIssued", {
        "entryId": 1, "uscc": b18(SUBJECT_A), "issuerMemberId": env.regulator_id, "entry": tuple(expected)})]
    assert env.entry(1) == expected
    assert env.view("entryCount") == 1
    assert env.view("replacedBy", 1) == 0

    # Open-ended (expiry 0) commendation about another subject.
    sent = env.ok(env.regulator, "issue", *entry_args(SUBJECT_B, Category.Commendation, expiry=0, amount=0))
    assert sent.events[0].args["entryId"] == 2
    assert env.entry(2).expiry_date == 0 and env.entry(2).category == Category.Commendation
    env.ok(env.regulator, "issue", *entry_args(SUBJECT_A, effective=1_750_000_000, expiry=0))
    assert env.view("entriesOf", b18(SUBJECT_A)) == (1, 3)
    assert env.view("entriesOf", b18(SUBJECT_B)) == (2,)
    assert env.view("entriesOf", b18(GENERATED_USCCS[2])) == ()

    for effective, expiry in ((1_800_000_000, 1_800_000_000), (1_800_000_000, 1_700_000_000)):
        assert env.revert(env.regulator, "issue", *entry_args(SUBJECT_A, effective=effective, expiry=expiry)) == (
            "CreditInvalidDates", (effective, expiry))
    for unknown in (0, 4):
        assert env.revert(None, "entry", unknown) == ("CreditUnknownEntry", (unknown,))
        assert env.revert(None, "replacedBy", unknown) == ("CreditUnknownEntry", (unknown,))


def test_corrections_and_revocations_append_and_the_history_shows_all(env: Env) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    env.authorize(reg_id, Category.License)
    env.ok(reg, "issue", *entry_args(SUBJECT_A, amount=5_000_000))  # 1
    env.ok(reg, "issue", *entry_args(SUBJECT_B, public=False))  # 2
    original = env.entry(1)

    # Correction of 1 (amount was wrong) -> 3.
    fixed = entry_args(SUBJECT_A, amount=500_000, cid="bafkreicorrected")
    sent = env.ok(reg, "supersede", 1, *fixed, "amount mistyped: 5,000 yuan, not 50,000")
    corrected = EntryView(b18(SUBJECT_A), int(Category.Penalty), 2, True, EntryAction.Supersede,
                          1_700_000_000, 1_800_000_000, reg.address, env.timestamp(sent), reg_id,
                          500_000, fixed[6], 1, "bafkreicorrected",
                          "amount mistyped: 5,000 yuan, not 50,000")
    assert sent.events == [Event("EntrySuperseded", {
        "entryId": 3, "oldEntryId": 1, "uscc": b18(SUBJECT_A), "entry": tuple(corrected)})]
    assert env.entry(3) == corrected
    assert env.entry(1) == original  # never rewritten
    assert env.view("replacedBy", 1) == 3
    assert env.revert(reg, "supersede", 1, *fixed, "again") == ("CreditEntryAlreadyReplaced", (1, 3))

    # A correction can itself be corrected (3 -> 4), then revoked (4 -> 5).
    env.ok(reg, "supersede", 3, *entry_args(SUBJECT_A, severity=1, amount=500_000), "severity reduced on appeal")
    assert env.entry(4).refers_to == 3 and env.entry(4).severity == 1
    sent = env.ok(reg, "revoke", 4, "penalty decision annulled by court ruling")
    revocation = EntryView(b18(SUBJECT_A), int(Category.Penalty), 0, True, EntryAction.Revoke, 0, 0,
                           reg.address, env.timestamp(sent), reg_id, 0, ZERO32, 4, "",
                           "penalty decision annulled by court ruling")
    assert sent.events == [Event("EntryRevoked", {
        "entryId": 5, "oldEntryId": 4, "uscc": b18(SUBJECT_A), "entry": tuple(revocation)})]
    assert env.entry(5) == revocation

    # Nothing is revoked twice; revocations are final; a replaced entry stays replaced.
    assert env.revert(reg, "revoke", 4, "twice") == ("CreditEntryAlreadyReplaced", (4, 5))
    twice = env.send(reg, "revoke", 4, "twice")
    assert twice.status == 0 and twice.events == []
    assert env.revert(reg, "revoke", 1, "old") == ("CreditEntryAlreadyReplaced", (1, 3))
    assert env.revert(reg, "revoke", 5, "undo") == ("CreditEntryIsRevocation", (5,))
    assert env.revert(reg, "supersede", 5, *entry_args(SUBJECT_A), "undo") == ("CreditEntryIsRevocation", (5,))

    # The subject's history lists the original, both corrections and the revocation.
    assert env.view("entriesOf", b18(SUBJECT_A)) == (1, 3, 4, 5)
    assert [env.entry(i).action for i in (1, 3, 4, 5)] == [
        EntryAction.Issue, EntryAction.Supersede, EntryAction.Supersede, EntryAction.Revoke]
    assert [env.view("replacedBy", i) for i in (1, 3, 4, 5)] == [3, 4, 5, 0]
    assert env.view("entryCount") == 5

    # A correction keeps subject and category, and needs a reason.
    assert env.revert(reg, "supersede", 2, *entry_args(SUBJECT_A), "r") == (
        "CreditCorrectionChangesSubject", (2, b18(SUBJECT_B), b18(SUBJECT_A)))
    assert env.revert(reg, "supersede", 2, *entry_args(SUBJECT_B, Category.License), "r") == (
        "CreditCorrectionChangesCategory", (2, int(Category.Penalty), int(Category.License)))
    assert env.revert(reg, "supersede", 2, *entry_args(SUBJECT_B), "") == ("CreditEmptyReason", (2,))
    assert env.revert(reg, "revoke", 2, "") == ("CreditEmptyReason", (2,))
    assert env.revert(reg, "revoke", 9, "r") == ("CreditUnknownEntry", (9,))
    assert env.revert(reg, "supersede", 2, *entry_args(SUBJECT_B, effective=9, expiry=8), "r") == (
        "CreditInvalidDates", (9, 8))

    # Only the issuing member corrects: another regulator authorised for penalties may not.
    other, other_id = admit_regulator(env, "Municipal Tax Bureau")
    env.authorize(other_id, Category.Penalty)
    assert env.revert(other, "revoke", 2, "not mine") == ("CreditNotEntryIssuer", (other.address, 2, reg_id))
    assert env.revert(other, "supersede", 2, *entry_args(SUBJECT_B), "not mine") == (
        "CreditNotEntryIssuer", (other.address, 2, reg_id))
    # ... and the issuer only while still authorised for the category.
    env.deauthorize(reg_id, Category.Penalty)
    assert env.revert(reg, "revoke", 2, "r") == ("CreditNotAuthorized", (reg.address, int(Category.Penalty)))
    env.authorize(reg_id, Category.Penalty)

    # A revocation keeps the revoked entry's visibility (restricted here).
    env.ok(reg, "revoke", 2, "issued to the wrong enterprise")
    assert (env.entry(6).is_public, env.entry(6).refers_to) == (False, 2)
    assert env.view("entriesOf", b18(SUBJECT_B)) == (2, 6)


# ------------------------------------------------------------------------ batches
def batch_leaves(count: int, category: Category, salt: str = "") -> list[Leaf]:
    """``count`` entries about distinct real-format subjects, as an issuer's batch file holds them."""
    return [
        Leaf(b18(make_uscc(f"91330100{i:09d}")), int(category), 1 + i % 3, 1_700_000_000 + i,
             0 if i % 2 else 1_800_000_000 + i, i * 100, keccak(text=f"summary {salt}{i}"),
             keccak(text=f"bafkreievidence{salt}{i}"), i % 5 != 0, i)
        for i in range(count)
    ]


def verify_on_chain(env: Env, batch_id: int, proof: Sequence[bytes], leaf: Leaf) -> bool:
    return bool(env.view("verifyBatchEntry", batch_id, list(proof), tuple(leaf)))


def test_a_batch_of_ten_thousand_entries_anchors_in_one_transaction_and_proves_each_entry(env: Env) -> None:
    reg, reg_id, n = env.regulator, env.regulator_id, 10_000
    env.authorize(reg_id, Category.AbnormalOperation)
    category = int(Category.AbnormalOperation)

    started = time.perf_counter()
    leaves = batch_leaves(n, Category.AbnormalOperation)
    hashes = [leaf_hash(leaf) for leaf in leaves]
    tree = MerkleTree.build(hashes)
    build_seconds = time.perf_counter() - started
    assert len(set(hashes)) == n and len(tree.nodes) == 2 * n - 1

    metadata = "bafybeibatchfile0001"
    sent = env.ok(reg, "anchorBatch", tree.root, n, category, metadata)
    block = sealed(sent.built)
    assert len(block.transactions) == 1  # the whole batch: one transaction
    assert sent.events == [Event("BatchAnchored", {
        "batchId": 1, "issuerMemberId": reg_id, "category": category, "merkleRoot": tree.root,
        "entryCount": n, "metadataCid": metadata})]
    assert sent.receipt is not None
    anchor_gas = int(sent.receipt.gas_used)
    assert anchor_gas < 250_000, anchor_gas  # root, count, category, issuer, CID: nothing per entry
    assert BatchView(*env.view("batch", 1)) == BatchView(
        tree.root, n, category, reg.address, int(block.header.timestamp), reg_id, metadata)
    assert (env.view("batchCount"), env.view("batchOfRoot", tree.root)) == (1, 1)
    assert env.view("entryCount") == 0  # no per-entry state

    rng = random.Random(108)
    chosen = [0, n - 1, *rng.sample(range(1, n - 1), 5)]
    for i in chosen:
        proof = tree.proof(i)
        assert len(proof) in (13, 14)  # ceil(log2(10,000)) levels in a complete tree
        assert process_proof(hashes[i], proof) == tree.root
        assert env.view("batchLeafHash", tuple(leaves[i])) == hashes[i]
        assert verify_on_chain(env, 1, proof, leaves[i]) is True

    # Tampered leaves fail in Python and on chain.
    i = chosen[2]
    proof = tree.proof(i)
    leaf = leaves[i]
    tampered_leaves = [
        leaf._replace(amount=leaf.amount + 1),
        leaf._replace(severity=leaf.severity + 1),
        leaf._replace(is_public=not leaf.is_public),
        leaf._replace(expiry_date=leaf.expiry_date + 86_400),
        leaf._replace(evidence_cid_hash=keccak(text="bafkreiforged")),
        leaf._replace(summary_hash=keccak(text="a milder summary")),
        leaf._replace(uscc=b18(SUBJECT_A)),
        leaf._replace(index_in_batch=chosen[3]),
        leaf._replace(category=int(Category.SeriousDishonesty)),
    ]
    for bad in tampered_leaves:
        assert process_proof(leaf_hash(bad), proof) != tree.root, bad
        assert verify_on_chain(env, 1, proof, bad) is False, bad
    # Tampered proofs fail too.
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    tampered_proofs = [flipped, proof[:-1], [*proof, tree.root], [proof[1], proof[0], *proof[2:]],
                       tree.proof(chosen[3]), []]
    for bad_proof in tampered_proofs:
        assert process_proof(hashes[i], bad_proof) != tree.root
        assert verify_on_chain(env, 1, bad_proof, leaf) is False

    # The same entry does not verify against another batch; unknown batches are an error.
    small = MerkleTree.build([leaf_hash(x) for x in batch_leaves(3, Category.AbnormalOperation, "b2")])
    env.ok(reg, "anchorBatch", small.root, 3, category, "bafybeibatchfile0002")
    assert verify_on_chain(env, 2, proof, leaf) is False
    assert verify_on_chain(env, 1, proof, leaf) is True
    assert env.revert(None, "verifyBatchEntry", 9, proof, tuple(leaf)) == ("CreditUnknownBatch", (9,))
    assert env.revert(None, "batch", 0) == ("CreditUnknownBatch", (0,))

    # A root is anchored once; an empty batch or a zero root is refused.
    assert env.revert(reg, "anchorBatch", tree.root, n, category, "again") == (
        "CreditBatchAlreadyAnchored", (tree.root, 1))
    assert env.revert(reg, "anchorBatch", keccak(text="x"), 0, category, "m") == (
        "CreditEmptyBatch", (keccak(text="x"), 0))
    assert env.revert(reg, "anchorBatch", ZERO32, 5, category, "m") == ("CreditEmptyBatch", (ZERO32, 5))
    assert build_seconds < 20, build_seconds


def test_an_index_beyond_the_anchored_count_does_not_verify(env: Env) -> None:
    """An issuer that anchors fewer entries than its tree holds cannot prove the extra ones."""
    env.authorize(env.regulator_id, Category.License)
    leaves = batch_leaves(8, Category.License)
    hashes = [leaf_hash(x) for x in leaves]
    tree = MerkleTree.build(hashes)
    env.ok(env.regulator, "anchorBatch", tree.root, 6, int(Category.License), "bafybeishort")
    for i in range(8):
        assert process_proof(hashes[i], tree.proof(i)) == tree.root
        assert verify_on_chain(env, 1, tree.proof(i), leaves[i]) is (i < 6)


def test_single_entry_batch_has_an_empty_proof(env: Env) -> None:
    env.authorize(env.regulator_id, Category.ContractDefault)
    (leaf,) = batch_leaves(1, Category.ContractDefault)
    tree = MerkleTree.build([leaf_hash(leaf)])
    assert tree.root == leaf_hash(leaf) and tree.proof(0) == []
    env.ok(env.regulator, "anchorBatch", tree.root, 1, int(Category.ContractDefault), "bafybeione")
    assert verify_on_chain(env, 1, [], leaf) is True
    assert verify_on_chain(env, 1, [], leaf._replace(amount=1)) is False
