"""Credit on the project's own chain, in-process: USCC validation (GB 32100-2015), issuer
authorisation by category (M-of-N approval of the registry's admin members), public and restricted
entries with their corrections and revocations, Merkle-anchored batches in a positional tree with
issuer-bound leaves, corrections of batch entries by reference, and the consortium's path for a
gone issuer's entries (PRODUCT.md, "Credit" and "Verification").

The chain is ``node.chain.LedgerChain`` over ``MemoryKV`` (the in-memory key-value store meant for
unit tests), driven through ``scripts/contract_driver.py``: transactions signed with eth_account and
sealed with ``LedgerChain.build_block``, views and revert data read with ``LedgerChain.call``. The
batch tree and the restricted-entry commitment are computed there in Python, exactly as
``contracts/Credit.sol`` documents them; these tests hold the contract to that description.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from conftest import DevNet, artifact
from helpers import (
    CREDIT,
    ENTRY_REF,
    PUBLIC_RECORD,
    SUBJECT_A,
    SUBJECT_B,
    USCC_ALPHABET,
    ZERO32,
    Action,
    BatchView,
    Category,
    CreditAction,
    CreditEnv,
    EntryAction,
    EntryView,
    Event,
    Leaf,
    Ledger,
    MemberKind,
    PositionalTree,
    ProposalView,
    RestrictedContent,
    Signer,
    b18,
    batch_leaves,
    batch_ref,
    entry_ref,
    issuer_change,
    leaf_hash,
    make_uscc,
    payload,
    process_proof,
    record,
    restricted_commitment,
    subject_tag,
    tree_depth,
    uscc_check_char,
)
from node.errors import ExecutionReverted

ADMIN_SET = ("address[]", "uint256")
PENALTY = int(Category.Penalty)
NO_USCC = b"\0" * 18


def is_valid_uscc(code: str) -> bool:
    return (len(code) == 18 and all(c in USCC_ALPHABET for c in code)
            and uscc_check_char(code[:17]) == code[17])


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

assert (SUBJECT_A, SUBJECT_B) == GENERATED_USCCS[:2]


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




@pytest.fixture
def env(devnet: DevNet) -> CreditEnv:
    e = CreditEnv.build(Ledger(devnet))
    assert e.ledger.member(e.regulator_id).kind == MemberKind.Regulator
    assert e.view("registry").lower() == "0x" + bytes(e.ledger.registry).hex()
    return e


def admit_regulator(env: CreditEnv, name: str) -> tuple[Signer, int]:
    """Admit a second Regulator member through M-of-N governance; return its account and id."""
    account = Signer.fresh(name)
    _, events = env.ledger.govern(Action.AdmitMember, payload(
        ["string", "uint8", "uint8", "address[]", "bytes32"],
        name, int(MemberKind.Regulator), 0, [account.address], keccak(text=name)))
    (admitted,) = [e for e in events if e.name == "MemberAdmitted"]
    return account, int(admitted.args["memberId"])


def restricted(uscc: str = SUBJECT_A, category: int = Category.Penalty, amount: int = 1_000,
               subject_salt: str = "subject salt", salt: str = "salt") -> RestrictedContent:
    return RestrictedContent(b18(uscc), keccak(text=subject_salt), int(category), 2, 1_700_000_000, 0, amount,
                             keccak(text="summary"), keccak(text="bafkreievidence"), keccak(text=salt))


def restricted_leaf(issuer: int, category: int, index: int, content: RestrictedContent) -> Leaf:
    tag, commitment = restricted_commitment(content)
    return Leaf(issuer, int(category), index, False, subject_tag=tag, commitment=commitment)


# ------------------------------------------------------------------------ deployment
def test_constructor_needs_a_registry_with_code(env: CreditEnv) -> None:
    stranger = Signer.fresh("not a registry")
    code = bytes.fromhex(artifact("Credit")["bytecode"][2:]) + abi_encode(["address"], [stranger.address])
    with pytest.raises(ExecutionReverted) as raised:
        env.ledger.chain.call({"from": env.admin.canonical, "data": code}, env.ledger.chain.head)
    assert CREDIT.decode_error(raised.value.data) == ("MemberGatedInvalidRegistry", (stranger.address,))
    assert env.ledger.send(env.admin, None, code).status == 0


# ------------------------------------------------------------------------ USCC
def test_uscc_algorithm_accepts_published_and_generated_codes_and_rejects_known_bad_ones(env: CreditEnv) -> None:
    for code in PUBLISHED_USCCS + GENERATED_USCCS:
        assert is_valid_uscc(code), code
        assert env.view("isValidUscc", code) is True, code
    bad = invalid_usccs()
    assert len(bad) == 30 + 11 + 6
    for code in bad:
        assert not is_valid_uscc(code), code
        assert env.view("isValidUscc", code) is False, code


def test_uscc_python_and_contract_agree_on_random_codes(env: CreditEnv) -> None:
    rng = random.Random(32100)
    codes = []
    for _ in range(120):
        body = "".join(rng.choice(USCC_ALPHABET) for _ in range(17))
        codes += [make_uscc(body), body + rng.choice(USCC_ALPHABET)]
    assert 120 <= sum(map(is_valid_uscc, codes)) < 135  # about 1/31 of the random ones pass too
    for code in codes:
        assert env.view("isValidUscc", code) is is_valid_uscc(code), code


def test_every_entry_point_rejects_an_invalid_uscc_naming_the_code(env: CreditEnv) -> None:
    env.authorize(env.regulator_id, Category.Penalty)
    for code in invalid_usccs():
        assert env.revert(env.regulator, "issue", record(code)) == ("CreditInvalidUscc", (code,))
    first = env.ok(env.regulator, "issue", record(SUBJECT_A))
    assert [e.name for e in first.events] == ["EntryIssued"]

    bad = SUBJECT_A[:17] + ("0" if SUBJECT_A[17] != "0" else "1")
    assert env.revert(env.regulator, "supersede", entry_ref(1), record(bad), "fix") == ("CreditInvalidUscc", (bad,))
    assert env.revert(None, "entriesOf", b18(bad), 0, 10) == ("CreditInvalidUscc", (bad,))
    leaf = Leaf(env.regulator_id, PENALTY, 0, True, b18(bad), 1)
    env.ok(env.regulator, "anchorBatch", keccak(text="root"), 1, PENALTY, "bafymeta")
    assert env.revert(None, "verifyBatchEntry", 1, [], tuple(leaf)) == ("CreditInvalidUscc", (bad,))

    # A sealed transaction with an invalid code reverts and records nothing.
    sent = env.send(env.regulator, "issue", record(bad))
    assert sent.status == 0 and sent.events == []
    assert env.view("entryCount") == 1


# ------------------------------------------------------------------------ authorisation
def test_authorisation_needs_m_of_n_admin_approval(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    a0, a1, a2 = env.ledger.admins
    assert env.ledger.view("threshold") == 2 and env.ledger.view("adminEpoch") == 1
    assert env.view("proposalCount") == 0
    grant = issuer_change(reg_id, Category.Penalty, True)

    # One admin's proposal is not enough: the change waits, the regulator still cannot issue.
    assert env.view("canIssue", reg.address, PENALTY) is False
    change_id, sent = env.propose(a0, CreditAction.SetIssuer, grant)
    assert change_id == 1
    assert sent.events == [
        Event("ProposalCreated", {"proposalId": 1, "action": CreditAction.SetIssuer, "proposerMemberId": 1,
                                  "proposer": a0.address, "epoch": 1, "payload": grant}),
        Event("ProposalApproved", {"proposalId": 1, "approverMemberId": 1, "approver": a0.address,
                                   "approvals": 1, "threshold": 2}),
    ]
    assert ProposalView(*env.view("getProposal", 1)) == ProposalView(
        a0.address, sent.number, CreditAction.SetIssuer, False, 1, 1, 1, grant)
    assert (env.view("hasApproved", 1, 1), env.view("hasApproved", 1, 2)) == (True, False)
    assert env.view("isAuthorized", reg_id, PENALTY) is False
    assert env.view("canIssue", reg.address, PENALTY) is False
    assert env.revert(reg, "issue", record(SUBJECT_A)) == ("CreditNotAuthorized", (reg.address, PENALTY))
    # ... and the proposer cannot approve its own change a second time to reach the threshold.
    assert env.revert(a0, "approveProposal", 1) == ("AdminApprovalsAlreadyApproved", (1, 1))
    twice = env.send(a0, "approveProposal", 1)
    assert twice.status == 0 and twice.events == []

    # The old entry points are gone: their selectors hit no function and revert.
    names = {e.get("name") for e in CREDIT.abi}
    assert not names & {"authorizeIssuer", "deauthorizeIssuer", "proposeIssuerChange", "approveIssuerChange"}
    old = keccak(text="proposeIssuerChange(uint256,uint8,bool)")[:4] + abi_encode(
        ["uint256", "uint8", "bool"], [reg_id, PENALTY, True])
    gone = env.ledger.send(a0, env.credit, old, abi=CREDIT)
    assert gone.status == 0 and gone.events == []

    # A second admin member's approval reaches the threshold and executes the change.
    sent = env.ok(a1, "approveProposal", 1)
    assert sent.events == [
        Event("ProposalApproved", {"proposalId": 1, "approverMemberId": 2, "approver": a1.address,
                                   "approvals": 2, "threshold": 2}),
        Event("IssuerAuthorized", {"memberId": reg_id, "category": PENALTY, "proposalId": 1}),
        Event("ProposalExecuted", {"proposalId": 1, "action": CreditAction.SetIssuer}),
    ]
    assert ProposalView(*env.view("getProposal", 1)).executed is True
    assert env.view("isAuthorized", reg_id, PENALTY) is True
    assert env.view("isAuthorized", reg_id, int(Category.License)) is False
    assert env.view("canIssue", reg.address, PENALTY) is True
    assert env.view("canIssue", reg.address, int(Category.License)) is False
    env.ok(reg, "issue", record(SUBJECT_A))

    # An executed change takes no more approvals.
    assert env.revert(a2, "approveProposal", 1) == ("AdminApprovalsAlreadyExecuted", (1,))
    # Granting again executes but changes nothing and emits no IssuerAuthorized.
    assert env.decide(reg_id, Category.Penalty, True) == []
    # Withdrawal goes the same way; withdrawing again changes nothing.
    assert env.decide(reg_id, Category.Penalty, False) == [
        Event("IssuerDeauthorized", {"memberId": reg_id, "category": PENALTY, "proposalId": 3})]
    assert env.view("isAuthorized", reg_id, PENALTY) is False
    assert env.revert(reg, "issue", record(SUBJECT_A)) == ("CreditNotAuthorized", (reg.address, PENALTY))
    assert env.decide(reg_id, Category.Penalty, False) == []
    assert env.view("proposalCount") == 4


def test_issuer_changes_are_refused_with_the_offending_values(env: CreditEnv) -> None:
    reg_id, admin = env.regulator_id, env.admin
    dept_id = env.ledger.member_id(env.department)
    stranger = Signer.fresh("credit stranger admin")

    # Only accounts in the registry's admin set propose or approve.
    change_id, _ = env.propose(admin, CreditAction.SetIssuer, issuer_change(reg_id, Category.Penalty, True))
    for outsider in (env.department, env.auditor, env.regulator, stranger):
        for authorized in (True, False):
            assert env.revert(outsider, "propose", CreditAction.SetIssuer, issuer_change(reg_id, 1, authorized)) == (
                "AdminApprovalsNotAdmin", (outsider.address,))
        assert env.revert(outsider, "approveProposal", change_id) == ("AdminApprovalsNotAdmin", (outsider.address,))
    refused = env.send(env.department, "approveProposal", change_id)
    assert refused.status == 0 and refused.events == []
    assert ProposalView(*env.view("getProposal", change_id)).approvals == 1

    for unknown in (0, 2, 99):
        assert env.revert(admin, "approveProposal", unknown) == ("AdminApprovalsUnknownProposal", (unknown,))
        assert env.revert(None, "getProposal", unknown) == ("AdminApprovalsUnknownProposal", (unknown,))
        assert env.view("hasApproved", unknown, 1) is False
    assert env.revert(admin, "propose", 4, b"") == ("CreditUnknownAction", (4,))

    # What is proposed: a valid category always; for a grant, an existing Active Regulator.
    for category in (6, 255):
        for authorized in (True, False):
            assert env.revert(admin, "propose", CreditAction.SetIssuer, issuer_change(reg_id, category, authorized)) == (
                "CreditInvalidCategory", (category,))
        assert env.revert(None, "isAuthorized", reg_id, category) == ("CreditInvalidCategory", (category,))
    assert env.revert(admin, "propose", CreditAction.SetIssuer, issuer_change(dept_id, 1, True)) == (
        "CreditNotRegulator", (dept_id, int(MemberKind.Department)))
    assert env.revert(admin, "propose", CreditAction.SetIssuer, issuer_change(1, 1, True)) == (
        "CreditNotRegulator", (1, int(MemberKind.Admin)))
    for unknown in (0, 99):
        assert env.revert(admin, "propose", CreditAction.SetIssuer, issuer_change(unknown, 1, True)) == (
            "CreditUnknownMember", (unknown,))
    # Withdrawal works for any member id (nothing to withdraw: executes as a no-op).
    assert env.decide(99, Category.Penalty, False) == []
    assert env.view("proposalCount") == 2


def test_a_grant_is_checked_again_when_it_executes(env: CreditEnv) -> None:
    reg_id = env.regulator_id
    a0, a1, _ = env.ledger.admins
    change_id, _ = env.propose(a0, CreditAction.SetIssuer, issuer_change(reg_id, Category.License, True))

    # Suspended after the proposal: the executing approval reverts and is not recorded.
    env.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], reg_id, "under investigation"))
    assert env.revert(a1, "approveProposal", change_id) == ("CreditMemberNotActive", (reg_id,))
    sent = env.send(a1, "approveProposal", change_id)
    assert sent.status == 0 and sent.events == []
    assert ProposalView(*env.view("getProposal", change_id))[3:5] == (False, 1)
    assert env.view("hasApproved", change_id, 2) is False
    # No new grant can even be proposed for a suspended member; a withdrawal can.
    assert env.revert(a0, "propose", CreditAction.SetIssuer, issuer_change(reg_id, PENALTY, True)) == (
        "CreditMemberNotActive", (reg_id,))
    env.propose(a0, CreditAction.SetIssuer, issuer_change(reg_id, PENALTY, False))

    # Reinstated (same admin epoch): the pending grant can now execute.
    env.ledger.govern(Action.ReinstateMember, payload(["uint256"], reg_id))
    events = env.ok(a1, "approveProposal", change_id).events
    assert Event("IssuerAuthorized", {"memberId": reg_id, "category": int(Category.License),
                                      "proposalId": change_id}) in events
    assert env.view("isAuthorized", reg_id, int(Category.License)) is True


def test_changes_proposed_under_an_older_admin_set_are_stale(env: CreditEnv) -> None:
    reg_id = env.regulator_id
    a0, a1, a2 = env.ledger.admins
    pending, _ = env.propose(a0, CreditAction.SetIssuer, issuer_change(reg_id, Category.Penalty, True))
    withdrawal, _ = env.propose(a2, CreditAction.SetIssuer, issuer_change(reg_id, Category.License, False))
    assert ProposalView(*env.view("getProposal", pending)).epoch == 1

    # The registry's admin set changes (admin 2 removed, threshold 2): epoch 1 -> 2.
    env.ledger.govern(Action.SetAdmins, payload(ADMIN_SET, [a0.address, a1.address], 2))
    assert env.ledger.view("adminEpoch") == 2
    for change_id in (pending, withdrawal):
        assert env.revert(a1, "approveProposal", change_id) == ("AdminApprovalsStaleProposal", (change_id, 1, 2))
    stale = env.send(a1, "approveProposal", pending)
    assert stale.status == 0 and stale.events == []
    assert env.view("isAuthorized", reg_id, PENALTY) is False

    # Admin 2 is still an account of an Active Admin-kind member, but no longer in the admin set.
    assert env.ledger.member(env.ledger.member_id(a2)).kind == MemberKind.Admin
    assert env.revert(a2, "propose", CreditAction.SetIssuer, issuer_change(reg_id, 1, True)) == (
        "AdminApprovalsNotAdmin", (a2.address,))

    # A fresh proposal under the new set executes with the new set's approvals.
    change_id, _ = env.propose(a1, CreditAction.SetIssuer, issuer_change(reg_id, Category.Penalty, True))
    assert ProposalView(*env.view("getProposal", change_id)).epoch == 2
    assert env.ok(a0, "approveProposal", change_id).events[1] == Event(
        "IssuerAuthorized", {"memberId": reg_id, "category": PENALTY, "proposalId": change_id})


def test_changes_execute_at_the_registry_threshold(env: CreditEnv) -> None:
    reg_id = env.regulator_id
    a0, a1, a2 = env.ledger.admins
    all_admins = [a.address for a in (a0, a1, a2)]

    # Threshold 3: two approvals are not enough, the third executes.
    env.ledger.govern(Action.SetAdmins, payload(ADMIN_SET, all_admins, 3))
    change_id, _ = env.propose(a2, CreditAction.SetIssuer, issuer_change(reg_id, Category.Commendation, True))
    assert [e.name for e in env.ok(a0, "approveProposal", change_id).events] == ["ProposalApproved"]
    assert env.view("isAuthorized", reg_id, int(Category.Commendation)) is False
    assert [e.name for e in env.ok(a1, "approveProposal", change_id).events] == [
        "ProposalApproved", "IssuerAuthorized", "ProposalExecuted"]
    assert env.view("isAuthorized", reg_id, int(Category.Commendation)) is True
    assert all(env.view("hasApproved", change_id, m) for m in (1, 2, 3))

    # Threshold 1 (set by three approvals under threshold 3): a proposal executes at once.
    proposal_id, _ = env.ledger.propose(a0, Action.SetAdmins, payload(ADMIN_SET, all_admins, 1))
    assert env.ledger.approve(a1, proposal_id).status == 1
    assert env.ledger.approve(a2, proposal_id).status == 1
    assert env.ledger.view("threshold") == 1 and env.ledger.view("adminEpoch") == 3
    category = int(Category.SeriousDishonesty)
    change_id, sent = env.propose(a2, CreditAction.SetIssuer, issuer_change(reg_id, category, True))
    assert [e.name for e in sent.events] == ["ProposalCreated", "ProposalApproved", "IssuerAuthorized",
                                             "ProposalExecuted"]
    assert env.view("isAuthorized", reg_id, category) is True


def test_who_may_issue_is_decided_by_membership_at_the_block(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    license_ = int(Category.License)

    # Non-regulator members (a department, an admin member, an auditor) and an unauthorised category.
    for member in (env.department, env.admin, env.auditor):
        assert env.revert(member, "issue", record(SUBJECT_A)) == ("CreditNotAuthorized", (member.address, PENALTY))
        assert env.revert(member, "issueRestricted", PENALTY, b"\1" * 32, b"\2" * 32) == (
            "CreditNotAuthorized", (member.address, PENALTY))
        assert env.revert(member, "anchorBatch", keccak(text="r"), 5, PENALTY, "m") == (
            "CreditNotAuthorized", (member.address, PENALTY))
    assert env.revert(reg, "issue", record(SUBJECT_A, Category.License)) == ("CreditNotAuthorized", (reg.address, license_))
    assert env.revert(reg, "anchorBatch", keccak(text="r"), 5, license_, "m") == (
        "CreditNotAuthorized", (reg.address, license_))
    assert env.revert(reg, "issue", record(SUBJECT_A, 9)) == ("CreditInvalidCategory", (9,))

    # A non-member: the contract refuses it, and the node does not even include its transaction.
    stranger = Signer.fresh("credit stranger")
    assert env.revert(stranger, "issue", record(SUBJECT_A)) == ("MemberGatedNotActive", (stranger.address,))
    assert env.send(stranger, "issue", record(SUBJECT_A)).receipt is None

    # A second account added to the regulator member issues under the same authorisation.
    second = Signer.fresh("market supervision second key")
    env.ledger.govern(Action.AddAccount, payload(["uint256", "address"], reg_id, second.address))
    (issued,) = env.ok(second, "issue", record(SUBJECT_A)).events
    assert (issued.args["issuerMemberId"], EntryView(*issued.args["entry"]).issuer) == (reg_id, second.address)

    # Suspended: refused at once, cannot be (re)authorised; reinstated: the authorisation is back.
    env.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], reg_id, "under investigation"))
    suspended_at = env.ledger.chain.head.block_number
    for account in (reg, second):
        assert env.revert(account, "issue", record(SUBJECT_A)) == ("MemberGatedNotActive", (account.address,))
        assert env.revert(account, "revoke", entry_ref(1), "r") == ("MemberGatedNotActive", (account.address,))
        assert env.view("canIssue", account.address, PENALTY) is False
    assert env.revert(env.admin, "propose", CreditAction.SetIssuer, issuer_change(reg_id, license_, True)) == (
        "CreditMemberNotActive", (reg_id,))
    env.ledger.govern(Action.ReinstateMember, payload(["uint256"], reg_id))
    assert env.ok(reg, "issue", record(SUBJECT_B)).events[0].args["entryId"] == 2
    # On the state after the suspension block the answer is still no: it is decided per block.
    with pytest.raises(ExecutionReverted) as refused:
        env.ledger.chain.call({"to": env.credit, "from": reg.canonical,
                               "data": CREDIT.encode("issue", record(SUBJECT_A))},
                              env.ledger.header(suspended_at))
    assert CREDIT.decode_error(refused.value.data) == ("MemberGatedNotActive", (reg.address,))


# ------------------------------------------------------------------------ public entries
def entry(uscc: str, action: int, issuer: str, at: int, issuer_id: int, **fields: Any) -> EntryView:
    """An EntryView with zero defaults for what ``fields`` does not set."""
    base = EntryView(b18(uscc) if uscc else NO_USCC, PENALTY, 0, bool(uscc), action, 0, 0, issuer, at, issuer_id,
                     0, ZERO32, ZERO32, ZERO32, 0, 0, 0, 0, "", "")
    return base._replace(**fields)


def test_issue_records_the_entry_emits_it_and_pages_the_subject(env: CreditEnv) -> None:
    env.authorize(env.regulator_id, Category.Penalty)
    env.authorize(env.regulator_id, Category.Commendation)
    assert env.view("entryCount") == 0
    assert env.view("entriesOf", b18(SUBJECT_A), 0, 10) == ((), 0)

    args = record(SUBJECT_A, severity=3, amount=12_345_600, cid="bafkreipenalty")
    sent = env.ok(env.regulator, "issue", args)
    expected = entry(SUBJECT_A, EntryAction.Issue, env.regulator.address, sent.timestamp, env.regulator_id,
                     severity=3, effective_date=1_700_000_000, expiry_date=1_800_000_000, amount=12_345_600,
                     summary_hash=args[6], evidence_cid="bafkreipenalty")
    assert sent.events == [Event("EntryIssued", {
        "entryId": 1, "uscc": b18(SUBJECT_A), "issuerMemberId": env.regulator_id, "entry": tuple(expected)})]
    assert env.entry(1) == expected
    assert env.view("entryCount") == 1
    assert env.view("replacedBy", 1) == 0

    # Open-ended (expiry 0) commendation about another subject.
    sent = env.ok(env.regulator, "issue", record(SUBJECT_B, Category.Commendation, expiry=0, amount=0))
    assert sent.events[0].args["entryId"] == 2
    assert env.entry(2).expiry_date == 0 and env.entry(2).category == Category.Commendation
    for effective in range(3):
        env.ok(env.regulator, "issue", record(SUBJECT_A, effective=1_750_000_000 + effective, expiry=0))
    # The history of a subject comes in pages: (ids, total).
    assert env.history(SUBJECT_A) == (1, 3, 4, 5)
    assert env.view("entriesOf", b18(SUBJECT_A), 0, 2) == ((1, 3), 4)
    assert env.view("entriesOf", b18(SUBJECT_A), 2, 2) == ((4, 5), 4)
    assert env.view("entriesOf", b18(SUBJECT_A), 3, 100) == ((5,), 4)
    assert env.view("entriesOf", b18(SUBJECT_A), 4, 1) == ((), 4)
    assert env.view("entriesOf", b18(SUBJECT_A), 2**255, 2**255) == ((), 4)
    assert env.view("entriesOf", b18(SUBJECT_A), 1, 0) == ((), 4)
    assert env.history(SUBJECT_B) == (2,)
    assert env.history(GENERATED_USCCS[2]) == ()

    for effective, expiry in ((1_800_000_000, 1_800_000_000), (1_800_000_000, 1_700_000_000)):
        assert env.revert(env.regulator, "issue", record(SUBJECT_A, effective=effective, expiry=expiry)) == (
            "CreditInvalidDates", (effective, expiry))
    for unknown in (0, 6):
        assert env.revert(None, "entry", unknown) == ("CreditUnknownEntry", (unknown,))
        assert env.revert(None, "replacedBy", unknown) == ("CreditUnknownEntry", (unknown,))


def test_corrections_and_revocations_append_and_the_history_shows_all(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    env.authorize(reg_id, Category.License)
    env.issue(reg, SUBJECT_A, amount=5_000_000)  # 1
    env.issue(reg, SUBJECT_B)  # 2
    original = env.entry(1)

    # Correction of 1 (amount was wrong) -> 3.
    fixed = record(SUBJECT_A, amount=500_000, cid="bafkreicorrected")
    sent = env.ok(reg, "supersede", entry_ref(1), fixed, "amount mistyped: 5,000 yuan, not 50,000")
    corrected = entry(SUBJECT_A, EntryAction.Supersede, reg.address, sent.timestamp, reg_id, severity=2,
                      effective_date=1_700_000_000, expiry_date=1_800_000_000, amount=500_000, summary_hash=fixed[6],
                      refers_to=1, evidence_cid="bafkreicorrected", reason="amount mistyped: 5,000 yuan, not 50,000")
    assert sent.events == [Event("EntrySuperseded", {
        "entryId": 3, "oldEntryId": 1, "uscc": b18(SUBJECT_A), "entry": tuple(corrected)})]
    assert env.entry(3) == corrected
    assert env.entry(1) == original  # never rewritten
    assert env.view("replacedBy", 1) == 3
    assert env.revert(reg, "supersede", entry_ref(1), fixed, "again") == ("CreditEntryAlreadyReplaced", (1, 3))

    # A correction can itself be corrected (3 -> 4), then revoked (4 -> 5).
    env.ok(reg, "supersede", entry_ref(3), record(SUBJECT_A, severity=1, amount=500_000), "severity reduced on appeal")
    assert env.entry(4).refers_to == 3 and env.entry(4).severity == 1
    sent = env.ok(reg, "revoke", entry_ref(4), "penalty decision annulled by court ruling")
    revocation = entry(SUBJECT_A, EntryAction.Revoke, reg.address, sent.timestamp, reg_id, refers_to=4,
                       reason="penalty decision annulled by court ruling")
    assert sent.events == [Event("EntryRevoked", {
        "entryId": 5, "oldEntryId": 4, "uscc": b18(SUBJECT_A), "entry": tuple(revocation)})]
    assert env.entry(5) == revocation

    # Nothing is revoked twice; revocations are final; a replaced entry stays replaced.
    assert env.revert(reg, "revoke", entry_ref(4), "twice") == ("CreditEntryAlreadyReplaced", (4, 5))
    twice = env.send(reg, "revoke", entry_ref(4), "twice")
    assert twice.status == 0 and twice.events == []
    assert env.revert(reg, "revoke", entry_ref(1), "old") == ("CreditEntryAlreadyReplaced", (1, 3))
    assert env.revert(reg, "revoke", entry_ref(5), "undo") == ("CreditEntryIsRevocation", (5,))
    assert env.revert(reg, "supersede", entry_ref(5), record(SUBJECT_A), "undo") == ("CreditEntryIsRevocation", (5,))

    # The subject's history lists the original, both corrections and the revocation.
    assert env.history(SUBJECT_A) == (1, 3, 4, 5)
    assert [env.view("replacedBy", i) for i in (1, 3, 4, 5)] == [3, 4, 5, 0]

    # A correction keeps subject and category, and needs a reason.
    assert env.revert(reg, "supersede", entry_ref(2), record(SUBJECT_A), "r") == (
        "CreditCorrectionChangesSubject", (b18(SUBJECT_B), b18(SUBJECT_A)))
    assert env.revert(reg, "supersede", entry_ref(2), record(SUBJECT_B, Category.License), "r") == (
        "CreditCorrectionChangesCategory", (PENALTY, int(Category.License)))
    assert env.revert(reg, "supersede", entry_ref(2), record(SUBJECT_B), "") == ("CreditEmptyReason", ())
    assert env.revert(reg, "revoke", entry_ref(2), "") == ("CreditEmptyReason", ())
    assert env.revert(reg, "revoke", entry_ref(9), "r") == ("CreditUnknownEntry", (9,))
    assert env.revert(reg, "supersede", entry_ref(2), record(SUBJECT_B, effective=9, expiry=8), "r") == (
        "CreditInvalidDates", (9, 8))

    # Only the issuing member corrects: another regulator authorised for penalties may not.
    other, other_id = admit_regulator(env, "Municipal Tax Bureau")
    env.authorize(other_id, Category.Penalty)
    assert env.revert(other, "revoke", entry_ref(2), "not mine") == ("CreditNotEntryIssuer", (other.address, reg_id))
    assert env.revert(other, "supersede", entry_ref(2), record(SUBJECT_B), "not mine") == (
        "CreditNotEntryIssuer", (other.address, reg_id))
    # ... and the issuer only while still authorised for the category.
    env.deauthorize(reg_id, Category.Penalty)
    assert env.revert(reg, "revoke", entry_ref(2), "r") == ("CreditNotAuthorized", (reg.address, PENALTY))


# ------------------------------------------------------------------------ restricted entries
def test_restricted_commitment_is_computed_the_same_in_python_and_on_chain(env: CreditEnv) -> None:
    content = restricted(amount=42)
    tag, commitment = restricted_commitment(content)
    assert env.view("restrictedCommitment", tuple(content)) == (tag, commitment)
    assert tag == subject_tag(b18(SUBJECT_A), keccak(text="subject salt"))
    # Every field and both salts are bound.
    for change in ({"amount": 43}, {"salt": keccak(text="other")}, {"severity": 3}, {"category": 2},
                   {"evidence_cid_hash": ZERO32}, {"summary_hash": ZERO32}, {"expiry_date": 1},
                   {"effective_date": 1}):
        assert restricted_commitment(content._replace(**change))[1] != commitment, change
    assert restricted_commitment(content._replace(subject_salt=keccak(text="x")))[0] != tag
    assert restricted_commitment(content._replace(uscc=b18(SUBJECT_B)))[0] != tag


def test_restricted_entries_are_issued_corrected_and_revoked_by_their_hashes(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    tag, commitment = restricted_commitment(restricted())
    assert env.revert(reg, "issueRestricted", PENALTY, ZERO32, commitment) == ("CreditEmptyCommitment", ())
    assert env.revert(reg, "issueRestricted", PENALTY, tag, ZERO32) == ("CreditEmptyCommitment", ())
    assert env.revert(reg, "issueRestricted", 7, tag, commitment) == ("CreditInvalidCategory", (7,))
    sent = env.ok(reg, "issueRestricted", PENALTY, tag, commitment)
    issued = entry("", EntryAction.Issue, reg.address, sent.timestamp, reg_id, subject_tag=tag, commitment=commitment)
    assert sent.events == [Event("EntryIssued", {
        "entryId": 1, "uscc": NO_USCC, "issuerMemberId": reg_id, "entry": tuple(issued)})]

    _, corrected = restricted_commitment(restricted(amount=900, salt="salt 2"))
    assert env.revert(reg, "supersedeRestricted", entry_ref(1), ZERO32, "x") == ("CreditEmptyCommitment", ())
    assert env.revert(reg, "supersedeRestricted", entry_ref(1), corrected, "") == ("CreditEmptyReason", ())
    sent = env.ok(reg, "supersedeRestricted", entry_ref(1), corrected, "amount corrected")
    assert sent.events == [Event("EntrySuperseded", {"entryId": 2, "oldEntryId": 1, "uscc": NO_USCC, "entry": tuple(
        entry("", EntryAction.Supersede, reg.address, sent.timestamp, reg_id, subject_tag=tag, commitment=corrected,
              refers_to=1, reason="amount corrected"))})]
    sent = env.ok(reg, "revoke", entry_ref(2), "annulled")
    assert env.entry(3) == entry("", EntryAction.Revoke, reg.address, sent.timestamp, reg_id, subject_tag=tag,
                                 refers_to=2, reason="annulled")
    assert env.view("entriesOf", b18(SUBJECT_A), 0, 10) == ((), 0)  # the subject is not on chain

    # Visibility is kept by corrections: a public entry is not corrected by a commitment, nor the reverse.
    public = env.issue(reg, SUBJECT_A)
    assert env.revert(reg, "supersedeRestricted", entry_ref(public), corrected, "x") == (
        "CreditVisibilityChanged", (True,))
    hidden = env.ok(reg, "issueRestricted", PENALTY, tag, commitment).events[0].args["entryId"]
    assert env.revert(reg, "supersede", entry_ref(hidden), record(SUBJECT_A), "x") == (
        "CreditVisibilityChanged", (False,))
    # Only the issuer corrects it, as for public entries.
    other, other_id = admit_regulator(env, "Municipal Tax Bureau")
    env.authorize(other_id, Category.Penalty)
    assert env.revert(other, "supersedeRestricted", entry_ref(hidden), corrected, "x") == (
        "CreditNotEntryIssuer", (other.address, reg_id))


# ------------------------------------------------------------------------ batches
def verify(env: CreditEnv, batch_id: int, proof: list[bytes], leaf: Leaf) -> bool:
    return env.verify(batch_id, proof, leaf)


def test_the_positional_tree_is_what_the_contract_documents(env: CreditEnv) -> None:
    """Depth, padding and ordered inner nodes, by hand for three leaves."""
    for count, depth in ((1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11), (10_000, 14)):
        assert tree_depth(count) == depth
        assert env.view("treeDepth", count) == depth
    a, b, c = (keccak(text=x) for x in "abc")
    tree = PositionalTree.build([a, b, c])
    assert tree.root == keccak(keccak(a + b) + keccak(c + ZERO32))
    assert tree.proof(2) == [ZERO32, keccak(a + b)]
    assert process_proof(c, 2, tree.proof(2)) == tree.root
    # Sorting is not involved: swapping two leaves changes the root.
    assert PositionalTree.build([b, a, c]).root != tree.root
    leaf = batch_leaves(7, 1, Category.Penalty)[0]
    assert env.view("batchLeafHash", tuple(leaf)) == leaf_hash(leaf)


def test_a_batch_of_ten_thousand_entries_anchors_in_one_transaction_and_proves_each_entry(env: CreditEnv) -> None:
    reg, reg_id, n = env.regulator, env.regulator_id, 10_000
    env.authorize(reg_id, Category.AbnormalOperation)
    category = int(Category.AbnormalOperation)

    started = time.perf_counter()
    leaves = batch_leaves(reg_id, n, Category.AbnormalOperation)
    hashes = [leaf_hash(leaf) for leaf in leaves]
    tree = PositionalTree.build(hashes)
    build_seconds = time.perf_counter() - started
    assert len(set(hashes)) == n and len(tree.levels) == 15  # 2^14 = 16,384 positions

    batch_file = "bafybeibatchfile0001"
    sent = env.ok(reg, "anchorBatch", tree.root, n, category, batch_file)
    assert len(sent.built.block.transactions) == 1  # type: ignore[union-attr]  # the whole batch: one transaction
    assert sent.events == [Event("BatchAnchored", {
        "batchId": 1, "issuerMemberId": reg_id, "category": category, "issuer": reg.address,
        "merkleRoot": tree.root, "entryCount": n, "batchFileCid": batch_file})]
    assert sent.receipt is not None
    anchor_gas = int(sent.receipt.gas_used)
    assert anchor_gas < 250_000, anchor_gas  # root, count, category, issuer, CID: nothing per entry
    assert env.batch(1) == BatchView(tree.root, n, category, reg.address, sent.timestamp, reg_id, batch_file)
    assert (env.view("batchCount"), env.view("batchOfRoot", reg_id, tree.root)) == (1, 1)
    assert env.view("batchOfRoot", reg_id + 1, tree.root) == 0
    assert env.view("entryCount") == 0  # no per-entry state

    rng = random.Random(108)
    chosen = [0, n - 1, *rng.sample(range(1, n - 1), 5)]
    for i in chosen:
        proof = tree.proof(i)
        assert len(proof) == 14
        assert process_proof(hashes[i], i, proof) == tree.root
        assert env.view("batchLeafHash", tuple(leaves[i])) == hashes[i]
        assert verify(env, 1, proof, leaves[i]) is True

    # Tampered leaves fail in Python and on chain.
    i = chosen[2]
    proof = tree.proof(i)
    leaf = leaves[i]
    tampered_leaves = [
        leaf._replace(amount=leaf.amount + 1),
        leaf._replace(severity=leaf.severity + 1),
        leaf._replace(expiry_date=leaf.expiry_date + 86_400),
        leaf._replace(evidence_cid_hash=keccak(text="bafkreiforged")),
        leaf._replace(summary_hash=keccak(text="a milder summary")),
        leaf._replace(uscc=b18(SUBJECT_A)),
        leaf._replace(index_in_batch=chosen[3]),
        leaf._replace(is_public=False),
    ]
    for bad in tampered_leaves:
        assert process_proof(leaf_hash(bad), i, proof) != tree.root, bad
        assert verify(env, 1, proof, bad) is False, bad
    # Another issuer's id, another category, an index past the count: false before any hashing.
    for bad in (leaf._replace(issuer_member_id=reg_id + 1), leaf._replace(category=PENALTY),
                leaf._replace(index_in_batch=n)):
        assert verify(env, 1, proof, bad) is False
    # Tampered proofs fail too, and so does a proof of another position or of the wrong length.
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for bad_proof in (flipped, proof[:-1], [*proof, tree.root], [proof[1], proof[0], *proof[2:]],
                      tree.proof(chosen[3]), []):
        assert verify(env, 1, bad_proof, leaf) is False

    # The same entry does not verify against another batch; unknown batches are an error.
    small_leaves = batch_leaves(reg_id, 3, Category.AbnormalOperation, "b2")
    env.anchor(reg, small_leaves, Category.AbnormalOperation, cid="bafybeibatchfile0002")
    assert verify(env, 2, proof, leaf) is False
    assert verify(env, 1, proof, leaf) is True
    assert env.revert(None, "verifyBatchEntry", 9, proof, tuple(leaf)) == ("CreditUnknownBatch", (9,))
    assert env.revert(None, "batch", 0) == ("CreditUnknownBatch", (0,))
    assert env.revert(None, "batchEntryReplacedBy", 3, 0) == ("CreditUnknownBatch", (3,))

    # A root is anchored once per issuer; an empty batch, a zero root or a missing file is refused.
    assert env.revert(reg, "anchorBatch", tree.root, n, category, "again") == (
        "CreditBatchAlreadyAnchored", (reg_id, tree.root, 1))
    assert env.revert(reg, "anchorBatch", keccak(text="x"), 0, category, "m") == ("CreditEmptyBatch", (keccak(text="x"), 0))
    assert env.revert(reg, "anchorBatch", ZERO32, 5, category, "m") == ("CreditEmptyBatch", (ZERO32, 5))
    assert env.revert(reg, "anchorBatch", keccak(text="x"), 5, category, "") == ("CreditEmptyBatch", (keccak(text="x"), 5))
    assert build_seconds < 20, build_seconds


def test_an_index_beyond_the_anchored_count_does_not_verify(env: CreditEnv) -> None:
    """An issuer that anchors fewer entries than its tree holds cannot prove the extra ones."""
    env.authorize(env.regulator_id, Category.License)
    leaves = batch_leaves(env.regulator_id, 8, Category.License)
    batch_id, tree = env.anchor(env.regulator, leaves, Category.License, count=6)
    # Depth follows the anchored count (6 -> 3), which an 8-leaf tree also has.
    for i in range(8):
        assert process_proof(leaf_hash(leaves[i]), i, tree.proof(i)) == tree.root
        assert verify(env, batch_id, tree.proof(i), leaves[i]) is (i < 6)


def test_single_entry_batch_has_an_empty_proof(env: CreditEnv) -> None:
    env.authorize(env.regulator_id, Category.ContractDefault)
    (leaf,) = batch_leaves(env.regulator_id, 1, Category.ContractDefault)
    batch_id, tree = env.anchor(env.regulator, [leaf], Category.ContractDefault)
    assert tree.root == leaf_hash(leaf) and tree.proof(0) == []
    assert verify(env, batch_id, [], leaf) is True
    assert verify(env, batch_id, [], leaf._replace(amount=1)) is False
    assert verify(env, batch_id, [ZERO32], leaf) is False


def test_restricted_leaves_verify_only_when_well_formed(env: CreditEnv) -> None:
    reg_id = env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    public = batch_leaves(reg_id, 2, Category.Penalty)
    hidden = restricted_leaf(reg_id, Category.Penalty, 2, restricted())
    leaves = [*public, hidden]
    batch_id, tree = env.anchor(env.regulator, leaves, Category.Penalty)
    assert all(verify(env, batch_id, tree.proof(i), leaf) for i, leaf in enumerate(leaves))
    # Malformed leaves never verify, whatever the tree holds: a restricted leaf with a readable
    # field, a public one with a commitment, a public one with its dates the wrong way round.
    malformed = [hidden._replace(amount=1), hidden._replace(uscc=b18(SUBJECT_A)), hidden._replace(commitment=ZERO32),
                 hidden._replace(subject_tag=ZERO32), public[0]._replace(commitment=keccak(text="c")),
                 public[0]._replace(effective_date=2_000_000_000, expiry_date=1_900_000_000)]
    for bad in malformed:
        bad_tree = PositionalTree.build([leaf_hash(bad)])
        bad_id = env.ok(env.regulator, "anchorBatch", bad_tree.root, 1, PENALTY, "bafy-malformed").events[0].args["batchId"]
        assert verify(env, bad_id, [], bad) is False, bad


def test_batch_entries_are_corrected_by_reference(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    content = restricted()
    leaves = [*batch_leaves(reg_id, 3, Category.Penalty), restricted_leaf(reg_id, Category.Penalty, 3, content)]
    batch_id, tree = env.anchor(reg, leaves, Category.Penalty)
    ref = [batch_ref(batch_id, leaf, tree.proof(i)) for i, leaf in enumerate(leaves)]
    subject = leaves[1].uscc.decode()

    sent = env.ok(reg, "supersede", ref[1], record(subject, amount=7), "amount mistyped")
    assert sent.events == [Event("EntrySuperseded", {"entryId": 1, "oldEntryId": 0, "uscc": leaves[1].uscc, "entry": tuple(
        entry(subject, EntryAction.Supersede, reg.address, sent.timestamp, reg_id, severity=2,
              effective_date=1_700_000_000, expiry_date=1_800_000_000, amount=7,
              summary_hash=keccak(text="Sold expired food (summary text)"), refers_to_batch=batch_id,
              refers_to_index=1, evidence_cid="bafkreievidence0001", reason="amount mistyped"))})]
    assert env.view("batchEntryReplacedBy", batch_id, 1) == 1
    # The corrected entry's history starts on chain with its correction.
    assert env.history(subject) == (1,)
    # The correction is an on-chain entry like any other: it can be corrected by entry id.
    env.ok(reg, "revoke", entry_ref(1), "annulled")

    # Restricted batch entry: corrected with a new commitment under the leaf's subject tag.
    _, corrected = restricted_commitment(content._replace(amount=5, salt=keccak(text="s2")))
    sent = env.ok(reg, "supersedeRestricted", ref[3], corrected, "amount corrected")
    stored = env.entry(3)
    assert (stored.subject_tag, stored.commitment, stored.refers_to_batch, stored.refers_to_index, stored.is_public) == (
        leaves[3].subject_tag, corrected, batch_id, 3, False)
    assert env.revert(reg, "supersede", ref[0], record(SUBJECT_A), "x") == (
        "CreditCorrectionChangesSubject", (leaves[0].uscc, b18(SUBJECT_A)))
    assert env.revert(reg, "supersede", ref[0], record(leaves[0].uscc.decode(), Category.License), "x") == (
        "CreditCorrectionChangesCategory", (PENALTY, int(Category.License)))

    # Refusals: the proof must hold, the entry must not be replaced yet, the caller must be the issuer.
    assert env.revert(reg, "revoke", batch_ref(batch_id, leaves[0], tree.proof(2)), "x") == (
        "CreditInvalidBatchProof", (batch_id, 0))
    assert env.revert(reg, "revoke", batch_ref(9, leaves[0], tree.proof(0)), "x") == ("CreditUnknownBatch", (9,))
    assert env.revert(reg, "revoke", ref[1], "x") == ("CreditBatchEntryAlreadyReplaced", (batch_id, 1, 1))
    other, other_id = admit_regulator(env, "Municipal Tax Bureau")
    env.authorize(other_id, Category.Penalty)
    assert env.revert(other, "revoke", ref[0], "x") == ("CreditNotEntryIssuer", (other.address, reg_id))
    sent = env.ok(reg, "revoke", ref[0], "duplicate of another record")
    assert (sent.events[0].args["oldEntryId"], env.entry(4).refers_to_batch, env.entry(4).refers_to_index) == (
        0, batch_id, 0)
    assert [env.view("batchEntryReplacedBy", batch_id, i) for i in range(4)] == [4, 1, 0, 3]


# ------------------------------------------------------------------------ gone issuers
def test_a_gone_issuers_entries_are_corrected_by_governance(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    a0, a1 = env.ledger.admins[:2]
    env.authorize(reg_id, Category.Penalty)
    env.issue(reg, SUBJECT_A)                                                      # 1
    tag, commitment = restricted_commitment(restricted())
    env.ok(reg, "issueRestricted", PENALTY, tag, commitment)                      # 2
    leaves = batch_leaves(reg_id, 2, Category.Penalty)
    batch_id, tree = env.anchor(reg, leaves, Category.Penalty)
    supersede_1 = payload([ENTRY_REF, PUBLIC_RECORD, "string"], entry_ref(1), record(SUBJECT_A, amount=9), "fixed")

    # While the issuer can act, it answers for its entries: every governance correction is refused.
    for action, body in ((CreditAction.SupersedeGoneIssuerEntry, supersede_1),
                         (CreditAction.RevokeGoneIssuerEntry, payload([ENTRY_REF, "string"], entry_ref(2), "x"))):
        assert env.revert(a0, "propose", action, body) == ("CreditIssuerNotGone", (reg_id, PENALTY))

    # Suspended, the issuer is gone: two admin members correct and revoke its entries.
    env.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], reg_id, "licence withdrawn"))
    proposal_id, events = env.govern(CreditAction.SupersedeGoneIssuerEntry, supersede_1)
    (superseded,) = events
    assert superseded.name == "EntrySuperseded"
    assert EntryView(*superseded.args["entry"])[7:10] == (a1.address, env.entry(3).recorded_at, reg_id)
    assert (env.entry(3).amount, env.entry(3).refers_to, env.entry(3).proposal_id) == (9, 1, proposal_id)

    _, corrected = restricted_commitment(restricted(amount=2))
    env.govern(CreditAction.SupersedeGoneIssuerEntryRestricted,
               payload([ENTRY_REF, "bytes32", "string"], entry_ref(2), corrected, "amount corrected"))
    assert (env.entry(4).subject_tag, env.entry(4).commitment, env.entry(4).refers_to) == (tag, corrected, 2)
    env.govern(CreditAction.RevokeGoneIssuerEntry,
               payload([ENTRY_REF, "string"], batch_ref(batch_id, leaves[1], tree.proof(1)), "issued in error"))
    assert (env.entry(5).action, env.entry(5).refers_to_batch, env.entry(5).refers_to_index) == (
        EntryAction.Revoke, batch_id, 1)

    # The payload is checked when proposed, like the issuer's own corrections.
    for action, body, error in [
        (CreditAction.RevokeGoneIssuerEntry, payload([ENTRY_REF, "string"], entry_ref(1), "again"),
         ("CreditEntryAlreadyReplaced", (1, 3))),
        (CreditAction.RevokeGoneIssuerEntry, payload([ENTRY_REF, "string"], entry_ref(3), ""), ("CreditEmptyReason", ())),
        (CreditAction.RevokeGoneIssuerEntry,
         payload([ENTRY_REF, "string"], batch_ref(batch_id, leaves[0], tree.proof(1)), "x"),
         ("CreditInvalidBatchProof", (batch_id, 0))),
        (CreditAction.SupersedeGoneIssuerEntry,
         payload([ENTRY_REF, PUBLIC_RECORD, "string"], entry_ref(3), record(SUBJECT_B), "x"),
         ("CreditCorrectionChangesSubject", (b18(SUBJECT_A), b18(SUBJECT_B)))),
        (CreditAction.SupersedeGoneIssuerEntryRestricted,
         payload([ENTRY_REF, "bytes32", "string"], entry_ref(3), corrected, "x"), ("CreditVisibilityChanged", (True,))),
        (CreditAction.SupersedeGoneIssuerEntryRestricted,
         payload([ENTRY_REF, "bytes32", "string"], entry_ref(4), ZERO32, "x"), ("CreditEmptyCommitment", ())),
    ]:
        assert env.revert(a0, "propose", action, body) == error, action

    # ... and again when it executes: reinstated in between, the issuer is back in charge.
    pending, _ = env.propose(a0, CreditAction.RevokeGoneIssuerEntry, payload([ENTRY_REF, "string"], entry_ref(3), "x"))
    env.ledger.govern(Action.ReinstateMember, payload(["uint256"], reg_id))
    assert env.revert(a1, "approveProposal", pending) == ("CreditIssuerNotGone", (reg_id, PENALTY))
    # The issuer corrects the consortium's correction itself: it stays attributed to it.
    env.ok(reg, "revoke", entry_ref(3), "the consortium's correction was itself wrong")
    assert env.history(SUBJECT_A) == (1, 3, 6)


def test_a_deauthorised_issuer_is_gone_for_that_category_only(env: CreditEnv) -> None:
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    env.authorize(reg_id, Category.License)
    env.issue(reg, SUBJECT_A)                                       # 1: penalty
    env.issue(reg, SUBJECT_A, category=Category.License)           # 2: license
    env.deauthorize(reg_id, Category.Penalty)
    revoke = payload([ENTRY_REF, "string"], entry_ref(1), "issuer no longer handles penalties")
    _, events = env.govern(CreditAction.RevokeGoneIssuerEntry, revoke)
    assert events[0].args["oldEntryId"] == 1
    assert env.revert(env.admin, "propose", CreditAction.RevokeGoneIssuerEntry,
                      payload([ENTRY_REF, "string"], entry_ref(2), "x")) == (
        "CreditIssuerNotGone", (reg_id, int(Category.License)))
    env.ok(reg, "revoke", entry_ref(2), "the regulator still answers for its licences")
