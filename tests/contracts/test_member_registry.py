"""MemberRegistry on the project's own chain, in-process: genesis state, M-of-N governance of every
action (approvals counted per admin member), roles tied to member kinds, custom errors with their
arguments, and membership decided at the block of each transaction (PRODUCT.md, "Members")."""

from __future__ import annotations

import pytest
from eth_keys import keys
from eth_utils import keccak, to_canonical_address, to_checksum_address

from conftest import DevNet
from helpers import (
    RECORDER,
    REGISTRY,
    Action,
    Event,
    Ledger,
    MemberKind,
    MemberView,
    ProposalView,
    Signer,
    Status,
    deploy_recorder,
    payload,
    receipt_status,
    sealed,
)
from node.consensus import recover_sealer
from node.errors import BlockRejected, ExecutionReverted
from node.genesis import LEVELS, MEMBER_KINDS
from node.genesis_init import DEV_MEMBERS

#: The development consortium's members at genesis, and the id the next admitted member gets.
GENESIS_MEMBERS = len(DEV_MEMBERS)
NEW_MEMBER = GENESIS_MEMBERS + 1

ZERO = "0x0000000000000000000000000000000000000000"
ADMIT = ["string", "uint8", "uint8", "address[]", "bytes32"]
MEMBER_AND_ACCOUNT = ["uint256", "address"]
ADMINS = ["address[]", "uint256"]
NOT_ACTIVE = "not an active member"


@pytest.fixture
def ledger(devnet: DevNet) -> Ledger:
    return Ledger(devnet)


def record(key: bytes, digest: bytes, amount: int) -> bytes:
    return RECORDER.encode("record", key.ljust(32, b"\0"), digest.ljust(32, b"\0"), amount)


def recorded(ledger: Ledger, recorder: bytes, key: bytes) -> tuple[str, int, bytes, int]:
    """The Recorder's (author, timestamp, digest, amount) under ``key``."""
    author, at, digest, amount = ledger.view("get", key.ljust(32, b"\0"), abi=RECORDER, to=recorder)
    return author, at, digest, amount


def kind_of(member: Signer, ledger: Ledger) -> int:
    return MEMBER_KINDS.index(ledger.chain.genesis.registry.members[ledger.member_id(member) - 1].kind)


def admit(ledger: Ledger, name: str, kind: int, *accounts: Signer) -> int:
    """Admit a member of ``kind`` with ``accounts`` through governance; its id."""
    _, events = ledger.govern(Action.AdmitMember, payload(
        ADMIT, name, int(kind), 0, [a.address for a in accounts], keccak(text=name)))
    return int(events[0].args["memberId"])


def created(proposal_id: int, action: int, proposer: Signer, body: bytes, epoch: int = 1) -> Event:
    return Event("ProposalCreated", {"proposalId": proposal_id, "action": int(action), "proposerMemberId": 1,
                                     "proposer": proposer.address, "epoch": epoch, "payload": body})


def approved(ledger: Ledger, proposal_id: int, approver: Signer, approvals: int, threshold: int = 2) -> Event:
    return Event("ProposalApproved", {"proposalId": proposal_id, "approverMemberId": ledger.member_id(approver),
                                      "approver": approver.address, "approvals": approvals, "threshold": threshold})


# --------------------------------------------------------------------------------------- genesis
def test_genesis_members_match_the_genesis_document_and_dev_keys(ledger: Ledger, devnet: DevNet) -> None:
    members = ledger.chain.genesis.registry.members
    assert ledger.view("memberCount") == len(members) == GENESIS_MEMBERS
    for member_id, m in enumerate(members, start=1):
        accounts = tuple(to_checksum_address(a) for a in m.accounts)
        assert ledger.member(member_id) == MemberView(
            member_id, m.name, MEMBER_KINDS.index(m.kind), LEVELS.index(m.level), Status.Active,
            accounts, m.encryption_key)
        for account in accounts:
            assert ledger.view("memberOf", account) == member_id
            assert ledger.view("isActiveAccount", account) is True
            assert ledger.view("activeMemberAt", account, 0) == (member_id, MEMBER_KINDS.index(m.kind), True)
            # The node's own view (one storage word of the registry) agrees with the contract.
            assert ledger.chain.is_active_member(to_canonical_address(account)) is True

    # dev-keys.json (written by `node init --dev`) describes the same members: admins 1..3 first.
    # The sealer key is a second account of member 1, an admin-kind member (sealers must be).
    entries = devnet.keys["admins"] + devnet.keys["members"]
    sealer = to_checksum_address(devnet.keys["sealer"]["address"])
    for member_id, entry in enumerate(entries, start=1):
        view = ledger.member(member_id)
        extra = (sealer,) if member_id == 1 else ()
        assert view.accounts == (to_checksum_address(entry["address"]), *extra)
        assert (view.name, MEMBER_KINDS[view.kind], LEVELS[view.level]) == (
            entry["name"], entry["kind"], entry["level"])
        assert "0x" + view.encryption_key.hex() == entry["encryption_public_key"]
    assert [ledger.member(i).kind for i in (1, 2, 3)] == [MEMBER_KINDS.index("admin")] * 3

    assert ledger.revert_of(None, "getMember", 0) == ("MemberRegistryUnknownMember", (0,))
    assert ledger.revert_of(None, "getMember", NEW_MEMBER) == ("MemberRegistryUnknownMember", (NEW_MEMBER,))


def test_genesis_admins_threshold_sealers_and_witnesses(ledger: Ledger, devnet: DevNet) -> None:
    admin_addresses = tuple(to_checksum_address(a["address"]) for a in devnet.keys["admins"])
    sealer = to_checksum_address(devnet.keys["sealer"]["address"])
    assert ledger.view("admins") == admin_addresses
    assert ledger.view("threshold") == 2
    assert ledger.view("adminEpoch") == 1  # the constructor's admin set is epoch 1
    assert ledger.view("sealers") == (sealer,)
    assert ledger.view("memberOf", sealer) == 1 and ledger.member(1).kind == MemberKind.Admin
    assert sealer not in admin_addresses  # the sealer key holds no governance power
    assert ledger.view("witnesses") == ()
    assert ledger.view("proposalCount") == 0
    assert ledger.revert_of(None, "getProposal", 1) == ("AdminApprovalsUnknownProposal", (1,))
    # The cheap views the domain contracts use.
    assert ledger.view("memberInfo", 4) == (MemberKind.Department, Status.Active)
    assert ledger.view("memberInfo", 99) == (0, Status.NONE)
    assert ledger.view("adminOf", admin_addresses[1]) == (2, 2, 1)
    assert ledger.view("adminOf", sealer) == (0, 2, 1)
    assert ledger.chain.sealers_at(ledger.chain.genesis_header) == (to_canonical_address(sealer),)


def test_active_accounts_slot_is_the_erc7201_word_the_node_reads(ledger: Ledger) -> None:
    # ERC-7201: keccak256(abi.encode(uint256(keccak256(id)) - 1)) & ~bytes32(uint256(0xff)).
    inner = int.from_bytes(keccak(text="cityledger.MemberRegistry.activeAccounts"), "big") - 1
    root = int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF
    assert ledger.view("activeAccountsSlot") == root.to_bytes(32, "big")

    state = ledger.chain.state_at(ledger.chain.head)
    stranger = Signer.fresh("stranger")
    for signer, word in ((ledger.admins[0], 1), (ledger.members[4], 1), (stranger, 0)):
        # Solidity mapping layout: keccak256(pad32(key) ++ pad32(slot)).
        slot = int.from_bytes(keccak(signer.canonical.rjust(32, b"\0") + root.to_bytes(32, "big")), "big")
        assert state.get_storage(ledger.registry, slot) == word
    assert ledger.view("memberOf", stranger.address) == 0
    assert ledger.view("isActiveAccount", stranger.address) is False
    assert ledger.view("activeMemberAt", stranger.address, 0) == (0, 0, False)


# ------------------------------------------------------------------------------- governance flow
def test_admit_member_executes_on_the_second_admins_approval(ledger: Ledger) -> None:
    proposer, approver = ledger.admins[0], ledger.admins[1]
    first, second = Signer.fresh("food bank 1"), Signer.fresh("food bank 2")
    key = keccak(text="x25519 public key of the food bank")
    body = payload(ADMIT, "District 3 Food Bank", MEMBER_KINDS.index("charity"), LEVELS.index("street"),
                   [first.address, second.address], key)

    proposal_id, proposed = ledger.propose(proposer, Action.AdmitMember, body)
    assert proposal_id == 1
    assert proposed.events == [
        created(1, Action.AdmitMember, proposer, body),
        approved(ledger, 1, proposer, 1),
    ]
    # The proposer's approval counts, but one of two is not enough: nothing executed yet.
    assert ledger.proposal(1) == ProposalView(proposer.address, proposed.number, Action.AdmitMember,
                                              False, 1, 1, 1, body)
    assert ledger.view("hasApproved", 1, 1) is True  # by admin member, not account
    assert ledger.view("hasApproved", 1, 2) is False
    assert ledger.view("proposalCount") == 1
    assert ledger.view("memberCount") == GENESIS_MEMBERS
    assert ledger.view("memberOf", first.address) == 0

    approved_ = ledger.approve(approver, 1)
    assert approved_.status == 1
    assert approved_.events == [
        approved(ledger, 1, approver, 2),
        Event("MemberAdmitted", {"memberId": NEW_MEMBER, "name": "District 3 Food Bank",
                                 "kind": MEMBER_KINDS.index("charity"), "level": LEVELS.index("street")}),
        Event("AccountAdded", {"memberId": NEW_MEMBER, "account": first.address}),
        Event("AccountAdded", {"memberId": NEW_MEMBER, "account": second.address}),
        Event("EncryptionKeySet", {"memberId": NEW_MEMBER, "key": key}),
        Event("ProposalExecuted", {"proposalId": 1, "action": Action.AdmitMember}),
    ]
    assert ledger.proposal(1) == ProposalView(proposer.address, proposed.number, Action.AdmitMember,
                                              True, 2, 1, 1, body)
    assert ledger.view("memberCount") == NEW_MEMBER
    assert ledger.member(NEW_MEMBER) == MemberView(NEW_MEMBER, "District 3 Food Bank", MEMBER_KINDS.index("charity"),
                                           LEVELS.index("street"), Status.Active,
                                           (first.address, second.address), key)
    for account in (first, second):
        assert ledger.view("memberOf", account.address) == NEW_MEMBER
        assert ledger.view("isActiveAccount", account.address) is True
        assert ledger.view("activeMemberAt", account.address, approved_.number) == (
            NEW_MEMBER, MEMBER_KINDS.index("charity"), True)
        assert ledger.view("activeMemberAt", account.address, approved_.number - 1) == (0, 0, False)


def test_admitted_member_can_send_from_the_transaction_after_its_admission(ledger: Ledger) -> None:
    recorder = deploy_recorder(ledger, ledger.members[0])
    newcomer = Signer.fresh("newcomer")
    body = payload(ADMIT, "Street Clinic", MEMBER_KINDS.index("hospital"), LEVELS.index("street"),
                   [newcomer.address], b"\0" * 32)
    proposal_id, _ = ledger.propose(ledger.admins[0], Action.AdmitMember, body)

    # One block: the newcomer's transaction before the executing approval, then one after it.
    too_early = ledger.sign(newcomer, recorder, record(b"early", b"d", 1), nonce=0)
    approval = ledger.sign(ledger.admins[1], ledger.registry,
                           REGISTRY.encode("approveProposal", proposal_id))
    right_after = ledger.sign(newcomer, recorder, record(b"late", b"d", 2), nonce=0)
    built = ledger.seal([too_early, approval, right_after])
    block = sealed(built)

    assert [(tx.hash, NOT_ACTIVE in reason) for tx, reason in built.dropped] == [(too_early.hash, True)]
    assert [tx.hash for tx in block.transactions] == [approval.hash, right_after.hash]
    assert [receipt_status(r) for r in built.receipts] == [1, 1]
    assert recorded(ledger, recorder, b"late") == (newcomer.address, block.header.timestamp,
                                                   b"d".ljust(32, b"\0"), 2)
    assert recorded(ledger, recorder, b"early") == (ZERO, 0, b"\0" * 32, 0)
    assert ledger.view("activeMemberAt", newcomer.address, block.header.block_number) == (
        NEW_MEMBER, MEMBER_KINDS.index("hospital"), True)


def test_suspended_member_is_refused_from_the_next_block_and_its_history_stays(ledger: Ledger) -> None:
    recorder = deploy_recorder(ledger, ledger.members[0])
    member, bystander = ledger.members[1], ledger.members[2]
    member_id, kind = ledger.member_id(member), kind_of(member, ledger)

    before = ledger.send(member, recorder, record(b"before", b"d1", 1), abi=RECORDER)
    assert before.status == 1
    assert before.events == [Event("Recorded", {"key": b"before".ljust(32, b"\0"), "author": member.address,
                                                "digest": b"d1".ljust(32, b"\0"), "amount": 1})]
    written_before = recorded(ledger, recorder, b"before")
    assert written_before[0] == member.address

    _, suspended_events = ledger.govern(
        Action.SuspendMember, payload(["uint256", "string"], member_id, "audit finding 2025-17"))
    assert suspended_events == [Event("MemberSuspended", {"memberId": member_id, "reason": "audit finding 2025-17"})]
    h = ledger.chain.head.block_number
    assert ledger.member(member_id).status == Status.Suspended
    assert ledger.view("isActiveAccount", member.address) is False
    assert ledger.view("memberOf", member.address) == member_id  # still its account, just inactive

    nonce = ledger.nonce(member)
    refused = ledger.sign(member, recorder, record(b"after", b"d2", 2))
    other = ledger.sign(bystander, recorder, record(b"bystander", b"d3", 3))
    built = ledger.seal([refused, other])
    assert sealed(built).header.block_number == h + 1
    assert [(tx.hash, NOT_ACTIVE in reason) for tx, reason in built.dropped] == [(refused.hash, True)]
    assert [tx.hash for tx in sealed(built).transactions] == [other.hash]
    assert recorded(ledger, recorder, b"after") == (ZERO, 0, b"\0" * 32, 0)  # not executed
    assert recorded(ledger, recorder, b"bystander")[0] == bystander.address
    assert ledger.nonce(member) == nonce

    # What the member did before the suspension stays: its receipt in its block, and the state.
    old_block = ledger.chain.block(ledger.header(before.number))
    assert [tx.hash for tx in old_block.transactions] == [before.tx.hash]
    (old_receipt,) = ledger.chain.receipts(old_block)
    assert receipt_status(old_receipt) == 1
    assert RECORDER.decode_logs(old_receipt, recorder) == before.events
    assert recorded(ledger, recorder, b"before") == written_before

    # Membership at each height, from the registry's history and from the node's state view.
    assert ledger.view("activeMemberAt", member.address, before.number) == (member_id, kind, True)
    assert ledger.view("activeMemberAt", member.address, h - 1) == (member_id, kind, True)
    assert ledger.view("activeMemberAt", member.address, h) == (member_id, kind, False)
    assert ledger.view("activeMemberAt", member.address, h + 1) == (member_id, kind, False)
    assert ledger.chain.is_active_member(member.canonical, ledger.header(h - 1)) is True
    assert ledger.chain.is_active_member(member.canonical, ledger.header(h)) is False

    _, reinstated_events = ledger.govern(Action.ReinstateMember, payload(["uint256"], member_id))
    assert reinstated_events == [Event("MemberReinstated", {"memberId": member_id})]
    r = ledger.chain.head.block_number
    assert ledger.member(member_id).status == Status.Active
    # The very transaction refused while suspended is valid again.
    again = ledger.outcome(ledger.seal([refused]), refused, RECORDER, recorder)
    assert again.status == 1 and again.built.dropped == []
    assert recorded(ledger, recorder, b"after")[0] == member.address
    assert ledger.view("activeMemberAt", member.address, r) == (member_id, kind, True)
    assert ledger.view("activeMemberAt", member.address, h + 1) == (member_id, kind, False)


def test_rotation_add_new_key_then_remove_old_key(ledger: Ledger) -> None:
    recorder = deploy_recorder(ledger, ledger.members[0])
    old = ledger.members[3]
    new = Signer.fresh("rotated key")
    member_id, kind = ledger.member_id(old), kind_of(old, ledger)

    _, added = ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, member_id, new.address))
    assert added == [Event("AccountAdded", {"memberId": member_id, "account": new.address})]
    added_at = ledger.chain.head.block_number
    assert ledger.member(member_id).accounts == (old.address, new.address)
    assert ledger.view("memberOf", new.address) == member_id
    assert ledger.view("activeMemberAt", new.address, added_at) == (member_id, kind, True)
    assert ledger.send(new, recorder, record(b"new key", b"n", 1), abi=RECORDER).status == 1

    _, removed = ledger.govern(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, member_id, old.address))
    assert removed == [Event("AccountRemoved", {"memberId": member_id, "account": old.address})]
    removed_at = ledger.chain.head.block_number
    assert ledger.member(member_id).accounts == (new.address,)
    assert ledger.member(member_id).status == Status.Active
    assert ledger.view("memberOf", old.address) == 0
    assert ledger.view("isActiveAccount", old.address) is False
    assert ledger.view("activeMemberAt", old.address, removed_at - 1) == (member_id, kind, True)
    assert ledger.view("activeMemberAt", old.address, removed_at) == (0, 0, False)

    by_old = ledger.sign(old, recorder, record(b"old key", b"o", 2))
    by_new = ledger.sign(new, recorder, record(b"new key again", b"n", 3))
    built = ledger.seal([by_old, by_new])
    assert [(tx.hash, NOT_ACTIVE in reason) for tx, reason in built.dropped] == [(by_old.hash, True)]
    assert [tx.hash for tx in sealed(built).transactions] == [by_new.hash]
    assert [receipt_status(r) for r in built.receipts] == [1]
    assert recorded(ledger, recorder, b"old key") == (ZERO, 0, b"\0" * 32, 0)
    assert recorded(ledger, recorder, b"new key again")[0] == new.address


def test_account_added_to_a_suspended_member_stays_inactive_until_reinstatement(ledger: Ledger) -> None:
    member = ledger.members[5]
    member_id, kind = ledger.member_id(member), kind_of(member, ledger)
    extra = Signer.fresh("account added while suspended")
    ledger.govern(Action.SuspendMember, payload(["uint256", "string"], member_id, "pending review"))

    _, events = ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, member_id, extra.address))
    assert events == [Event("AccountAdded", {"memberId": member_id, "account": extra.address})]
    added_at = ledger.chain.head.block_number
    assert ledger.view("memberOf", extra.address) == member_id
    assert ledger.view("isActiveAccount", extra.address) is False
    assert ledger.view("activeMemberAt", extra.address, added_at) == (member_id, kind, False)
    refused = ledger.send(extra, ledger.registry, REGISTRY.encode("memberCount"))
    assert [(tx.hash, NOT_ACTIVE in reason) for tx, reason in refused.built.dropped] == [(refused.tx.hash, True)]

    ledger.govern(Action.ReinstateMember, payload(["uint256"], member_id))
    assert ledger.view("activeMemberAt", extra.address, ledger.chain.head.block_number) == (member_id, kind, True)
    assert ledger.send(extra, ledger.registry, REGISTRY.encode("memberCount")).status == 1
    assert ledger.send(member, ledger.registry, REGISTRY.encode("memberCount")).status == 1


def test_set_encryption_key(ledger: Ledger) -> None:
    member = ledger.members[0]
    member_id = ledger.member_id(member)
    before = ledger.member(member_id)
    key = keccak(text="rotated x25519 key")
    assert before.encryption_key != key
    _, events = ledger.govern(Action.SetEncryptionKey, payload(["uint256", "bytes32"], member_id, key))
    assert events == [Event("EncryptionKeySet", {"memberId": member_id, "key": key})]
    assert ledger.member(member_id) == before._replace(encryption_key=key)


def test_set_witnesses_and_clear_them(ledger: Ledger) -> None:
    outside = Signer.fresh("outside auditor")
    admit(ledger, "Provincial Audit Office", MemberKind.Auditor, outside)
    witnesses = (ledger.members[7].address, outside.address)
    _, events = ledger.govern(Action.SetWitnesses, payload(["address[]"], list(witnesses)))
    assert events == [Event("WitnessesChanged", {"witnesses": witnesses})]
    assert ledger.view("witnesses") == witnesses

    _, events = ledger.govern(Action.SetWitnesses, payload(["address[]"], []))
    assert events == [Event("WitnessesChanged", {"witnesses": ()})]
    assert ledger.view("witnesses") == ()


def test_set_sealers_hands_sealing_to_the_new_key(ledger: Ledger) -> None:
    old_key = ledger.sealer_key
    new_key = keys.PrivateKey(keccak(text="second sealer"))
    new_sealer = new_key.public_key.to_checksum_address()
    # Sealers are accounts of admin-kind members: the Audit Bureau (member 2) adds a sealer key.
    ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, 2, new_sealer))

    _, events = ledger.govern(Action.SetSealers, payload(["address[]"], [new_sealer]))
    assert events == [Event("SealersChanged", {"sealers": (new_sealer,)})]
    assert ledger.view("sealers") == (new_sealer,)
    head = ledger.chain.head
    # The block that changed the set was sealed by the sealer valid at its parent.
    assert recover_sealer(head) == old_key.public_key.to_canonical_address()
    assert ledger.chain.sealers_at(head) == (to_canonical_address(new_sealer),)

    any_tx = ledger.sign(ledger.members[0], ledger.registry, REGISTRY.encode("memberCount"))
    with pytest.raises(BlockRejected) as rejected:
        ledger.seal([any_tx], sealer_key=old_key)
    assert rejected.value.check == "sealer"
    assert rejected.value.number == head.block_number + 1
    assert ledger.chain.head.hash == head.hash  # nothing was written

    block = sealed(ledger.seal([any_tx], sealer_key=new_key))
    assert block.header.block_number == head.block_number + 1
    assert recover_sealer(block.header) == new_key.public_key.to_canonical_address()
    assert [tx.hash for tx in block.transactions] == [any_tx.hash]
    assert ledger.chain.head.hash == block.header.hash


def test_set_admins_changes_set_threshold_and_epoch(ledger: Ledger) -> None:
    a0, a1, a2 = ledger.admins
    newcomer = Signer.fresh("district operations centre")
    newcomer_id = admit(ledger, "District Operations Centre", MemberKind.Admin, newcomer)  # as the invariant requires
    new_admins = (a0.address, a1.address, newcomer.address)

    _, events = ledger.govern(Action.SetAdmins, payload(ADMINS, list(new_admins), 3))
    assert events == [Event("AdminsChanged", {"admins": new_admins, "threshold": 3, "epoch": 2})]
    assert ledger.view("admins") == new_admins
    assert ledger.view("threshold") == 3
    assert ledger.view("adminEpoch") == 2

    # The removed admin can no longer propose; the added one can.
    assert ledger.revert_of(a2, "propose", Action.SetWitnesses, b"") == ("AdminApprovalsNotAdmin", (a2.address,))
    witnesses = payload(["address[]"], [ledger.members[7].address])
    proposal_id, proposed = ledger.propose(newcomer, Action.SetWitnesses, witnesses)
    assert proposed.events[-1] == Event("ProposalApproved", {
        "proposalId": proposal_id, "approverMemberId": newcomer_id, "approver": newcomer.address,
        "approvals": 1, "threshold": 3})
    assert ledger.proposal(proposal_id).epoch == 2

    # Threshold 3: the second approval does not execute, the third does.
    second = ledger.approve(a0, proposal_id)
    assert second.status == 1
    assert second.events == [approved(ledger, proposal_id, a0, 2, threshold=3)]
    assert ledger.view("witnesses") == ()
    third = ledger.approve(a1, proposal_id)
    assert third.events == [
        approved(ledger, proposal_id, a1, 3, threshold=3),
        Event("WitnessesChanged", {"witnesses": (ledger.members[7].address,)}),
        Event("ProposalExecuted", {"proposalId": proposal_id, "action": Action.SetWitnesses}),
    ]
    assert ledger.view("witnesses") == (ledger.members[7].address,)


def test_threshold_one_executes_inside_propose(ledger: Ledger) -> None:
    a0 = ledger.admins[0]
    ledger.govern(Action.SetAdmins, payload(ADMINS, [a0.address], 1))
    assert (ledger.view("admins"), ledger.view("threshold")) == ((a0.address,), 1)
    key = keccak(text="key set by a lone admin")
    body = payload(["uint256", "bytes32"], 4, key)
    proposal_id, sent = ledger.propose(a0, Action.SetEncryptionKey, body)
    assert sent.events == [
        created(proposal_id, Action.SetEncryptionKey, a0, body, epoch=2),
        approved(ledger, proposal_id, a0, 1, threshold=1),
        Event("EncryptionKeySet", {"memberId": 4, "key": key}),
        Event("ProposalExecuted", {"proposalId": proposal_id, "action": Action.SetEncryptionKey}),
    ]
    assert ledger.proposal(proposal_id).executed is True
    assert ledger.member(4).encryption_key == key


# ------------------------------------------------------------------------ roles and custom errors
def test_non_admin_cannot_propose_or_approve(ledger: Ledger) -> None:
    member = ledger.members[0]
    body = payload(["address[]"], [member.address])
    call = REGISTRY.encode("propose", Action.SetWitnesses, body)

    assert ledger.revert_of(member, "propose", Action.SetWitnesses, body) == ("AdminApprovalsNotAdmin", (member.address,))
    sent = ledger.send(member, ledger.registry, call)
    assert sent.status == 0 and sent.events == []
    assert ledger.view("proposalCount") == 0

    proposal_id, _ = ledger.propose(ledger.admins[0], Action.SetWitnesses, body)
    assert ledger.revert_of(member, "approveProposal", proposal_id) == ("AdminApprovalsNotAdmin", (member.address,))
    sent = ledger.approve(member, proposal_id)
    assert sent.status == 0 and sent.events == []
    assert ledger.proposal(proposal_id).approvals == 1
    assert ledger.view("hasApproved", proposal_id, ledger.member_id(member)) is False
    # The sealer key belongs to an admin member but is not an admin account.
    sealer = Signer.of(ledger.devnet.keys["sealer"])
    assert ledger.revert_of(sealer, "approveProposal", proposal_id) == ("AdminApprovalsNotAdmin", (sealer.address,))
    assert ledger.view("witnesses") == ()

    # An account of no member does not even get a transaction into a block.
    stranger = Signer.fresh("stranger")
    head = ledger.chain.head
    refused = ledger.send(stranger, ledger.registry, call)
    assert refused.receipt is None
    assert [(tx.hash, NOT_ACTIVE in reason) for tx, reason in refused.built.dropped] == [(refused.tx.hash, True)]
    assert refused.built.block is None and ledger.chain.head == head  # nothing left to seal


def test_double_approval_reverts_with_already_approved(ledger: Ledger) -> None:
    a0 = ledger.admins[0]
    proposal_id, _ = ledger.propose(a0, Action.SetWitnesses, payload(["address[]"], []))
    assert ledger.revert_of(a0, "approveProposal", proposal_id) == ("AdminApprovalsAlreadyApproved", (proposal_id, 1))
    sent = ledger.approve(a0, proposal_id)
    assert sent.status == 0
    assert (ledger.proposal(proposal_id).approvals, ledger.proposal(proposal_id).executed) == (1, False)


def test_unknown_and_executed_proposals(ledger: Ledger) -> None:
    a2 = ledger.admins[2]
    assert ledger.revert_of(a2, "approveProposal", 7) == ("AdminApprovalsUnknownProposal", (7,))
    assert ledger.revert_of(a2, "approveProposal", 0) == ("AdminApprovalsUnknownProposal", (0,))
    assert ledger.approve(a2, 7).status == 0

    auditor = ledger.members[7].address
    proposal_id, _ = ledger.govern(Action.SetWitnesses, payload(["address[]"], [auditor]))
    assert ledger.revert_of(a2, "approveProposal", proposal_id) == ("AdminApprovalsAlreadyExecuted", (proposal_id,))
    late = ledger.approve(a2, proposal_id)
    assert late.status == 0 and late.events == []
    assert ledger.proposal(proposal_id).approvals == 2
    assert ledger.view("hasApproved", proposal_id, 3) is False


def test_proposal_goes_stale_when_the_admin_set_changes(ledger: Ledger) -> None:
    a0, a1, a2 = ledger.admins
    stale_id, _ = ledger.propose(a0, Action.SetWitnesses, payload(["address[]"], [ledger.members[7].address]))
    assert ledger.proposal(stale_id).epoch == 1
    # Same admins, same threshold: still a new epoch.
    ledger.govern(Action.SetAdmins, payload(ADMINS, [a0.address, a1.address, a2.address], 2),
                  proposer=a1, approver=a2)
    assert ledger.view("adminEpoch") == 2

    assert ledger.revert_of(a1, "approveProposal", stale_id) == ("AdminApprovalsStaleProposal", (stale_id, 1, 2))
    sent = ledger.approve(a1, stale_id)
    assert sent.status == 0
    assert ledger.view("witnesses") == ()
    assert (ledger.proposal(stale_id).approvals, ledger.proposal(stale_id).executed) == (1, False)


def test_invalid_threshold(ledger: Ledger) -> None:
    a0, a1, _ = ledger.admins
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [a0.address, a1.address], 3)) == (
        "MemberRegistryInvalidThreshold", (3, 2))
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [a0.address, a1.address], 0)) == (
        "MemberRegistryInvalidThreshold", (0, 2))
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [], 1)) == ("MemberRegistryInvalidThreshold", (1, 0))
    assert (ledger.view("threshold"), ledger.view("adminEpoch"), len(ledger.view("admins"))) == (2, 1, 3)


def test_admins_must_be_accounts_of_active_admin_members(ledger: Ledger) -> None:
    a0 = ledger.admins[0]
    stranger = Signer.fresh("not a member")
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [a0.address, stranger.address], 1)) == (
        "MemberRegistryIneligibleAccount", (stranger.address, MemberKind.Admin))
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [a0.address, a0.address], 1)) == (
        "MemberRegistryDuplicateAddress", (a0.address,))
    department = ledger.members[0]
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [a0.address, department.address], 1)) == (
        "MemberRegistryIneligibleAccount", (department.address, MemberKind.Admin))

    officer = Signer.fresh("suspended admin officer")
    officer_id = admit(ledger, "District Operations Centre", MemberKind.Admin, officer)
    ledger.govern(Action.SuspendMember, payload(["uint256", "string"], officer_id, "x"))
    assert ledger.refused(Action.SetAdmins, payload(ADMINS, [a0.address, officer.address], 1)) == (
        "MemberRegistryIneligibleAccount", (officer.address, MemberKind.Admin))


def test_account_already_taken(ledger: Ledger) -> None:
    m0, m1, m2 = ledger.members[:3]
    id0, id1, id2 = (ledger.member_id(m) for m in (m0, m1, m2))
    assert ledger.refused(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, id0, m1.address)) == (
        "MemberRegistryAccountTaken", (m1.address, id1))
    assert ledger.refused(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, id0, m0.address)) == (
        "MemberRegistryAccountTaken", (m0.address, id0))
    assert ledger.refused(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, id0, ledger.admins[0].address)) == (
        "MemberRegistryAccountTaken", (ledger.admins[0].address, 1))
    assert ledger.refused(Action.AdmitMember, payload(
        ADMIT, "Copycat", 0, 0, [Signer.fresh("fresh").address, m2.address], b"\0" * 32)) == (
        "MemberRegistryAccountTaken", (m2.address, id2))
    # The refused admission left no trace: no new member, the fresh account belongs to nobody.
    assert ledger.view("memberCount") == GENESIS_MEMBERS
    assert ledger.view("memberOf", Signer.fresh("fresh").address) == 0
    assert ledger.member(id0).accounts == (m0.address,)


def test_zero_duplicate_and_empty_address_lists(ledger: Ledger) -> None:
    member_id = ledger.member_id(ledger.members[0])
    sealer = ledger.view("sealers")[0]
    assert ledger.refused(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, member_id, ZERO)) == (
        "MemberRegistryInvalidAccount", (ZERO,))
    assert ledger.refused(Action.AdmitMember, payload(ADMIT, "Zero", 0, 0, [ZERO], b"\0" * 32)) == (
        "MemberRegistryInvalidAccount", (ZERO,))
    assert ledger.refused(Action.SetSealers, payload(["address[]"], [])) == ("MemberRegistryNoSealers", ())
    assert ledger.refused(Action.SetSealers, payload(["address[]"], [sealer, sealer])) == (
        "MemberRegistryDuplicateAddress", (sealer,))
    assert ledger.refused(Action.SetSealers, payload(["address[]"], [ZERO])) == ("MemberRegistryInvalidAccount", (ZERO,))
    assert ledger.refused(Action.SetWitnesses, payload(["address[]"], [ZERO])) == ("MemberRegistryInvalidAccount", (ZERO,))
    assert ledger.view("sealers") == (sealer,)


def test_unknown_member_and_wrong_status(ledger: Ledger) -> None:
    member = ledger.members[0]
    member_id = ledger.member_id(member)
    suspend = ["uint256", "string"]
    assert ledger.refused(Action.SuspendMember, payload(suspend, 99, "x")) == ("MemberRegistryUnknownMember", (99,))
    assert ledger.refused(Action.ReinstateMember, payload(["uint256"], 0)) == ("MemberRegistryUnknownMember", (0,))
    assert ledger.refused(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, NEW_MEMBER, Signer.fresh("a").address)) == (
        "MemberRegistryUnknownMember", (NEW_MEMBER,))
    assert ledger.refused(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, 99, member.address)) == (
        "MemberRegistryUnknownMember", (99,))
    assert ledger.refused(Action.SetEncryptionKey, payload(["uint256", "bytes32"], NEW_MEMBER, b"\1" * 32)) == (
        "MemberRegistryUnknownMember", (NEW_MEMBER,))
    assert ledger.refused(Action.ReinstateMember, payload(["uint256"], member_id)) == (
        "MemberRegistryInvalidMemberStatus", (member_id, Status.Active))
    ledger.govern(Action.SuspendMember, payload(suspend, member_id, "first"))
    assert ledger.refused(Action.SuspendMember, payload(suspend, member_id, "again")) == (
        "MemberRegistryInvalidMemberStatus", (member_id, Status.Suspended))


def test_admin_accounts_are_protected_until_removed_from_the_admin_set(ledger: Ledger) -> None:
    a0, a1, a2 = ledger.admins
    m0, m1 = ledger.members[:2]
    suspend = ["uint256", "string"]
    assert ledger.refused(Action.SuspendMember, payload(suspend, 1, "x")) == ("MemberRegistryMemberHoldsAdmin", (1, a0.address))
    assert ledger.refused(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, 1, a0.address)) == (
        "MemberRegistryAccountIsAdmin", (a0.address,))
    assert ledger.refused(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, ledger.member_id(m0), m1.address)) == (
        "MemberRegistryAccountNotOfMember", (ledger.member_id(m0), m1.address))
    assert ledger.member(1).status == Status.Active

    # Once a1 is out of the admin set its member can be suspended (by the remaining admins).
    ledger.govern(Action.SetAdmins, payload(ADMINS, [a0.address, a2.address], 2))
    _, events = ledger.govern(Action.SuspendMember, payload(suspend, 2, "rotated out"), proposer=a0, approver=a2)
    assert events == [Event("MemberSuspended", {"memberId": 2, "reason": "rotated out"})]
    assert ledger.view("isActiveAccount", a1.address) is False


def test_admit_member_rejects_kind_and_level_out_of_range(ledger: Ledger) -> None:
    account = Signer.fresh("out of range").address
    assert ledger.refused(Action.AdmitMember, payload(ADMIT, "Bad kind", 8, 0, [account], b"\0" * 32)) == (
        "MemberRegistryInvalidMemberKind", (8,))
    assert ledger.refused(Action.AdmitMember, payload(ADMIT, "Bad level", 0, 3, [account], b"\0" * 32)) == (
        "MemberRegistryInvalidLevel", (3,))
    assert ledger.view("memberCount") == GENESIS_MEMBERS
    assert ledger.view("memberOf", account) == 0


def test_unknown_action_and_malformed_payload_revert(ledger: Ledger) -> None:
    a0, a1, _ = ledger.admins
    # Action 9 does not exist: refused before anything is stored.
    assert ledger.revert_of(a0, "propose", 9, b"") == ("MemberRegistryUnknownAction", (9,))
    assert ledger.send(a0, ledger.registry, REGISTRY.encode("propose", 9, b"")).status == 0
    assert ledger.view("proposalCount") == 0

    # A payload that is not the action's ABI encoding is only decoded at execution, which reverts.
    proposal_id, _ = ledger.propose(a0, Action.AdmitMember, b"\x01\x02")
    with pytest.raises(ExecutionReverted):
        ledger.chain.call({"from": a1.canonical, "to": ledger.registry,
                           "data": REGISTRY.encode("approveProposal", proposal_id)}, ledger.chain.head)
    assert ledger.approve(a1, proposal_id).status == 0
    assert (ledger.proposal(proposal_id).approvals, ledger.view("memberCount")) == (1, GENESIS_MEMBERS)


def test_admission_needs_a_name_and_an_account(ledger: Ledger) -> None:
    fresh = Signer.fresh("nameless").address
    assert ledger.refused(Action.AdmitMember, payload(ADMIT, "", 0, 0, [fresh], b"\0" * 32)) == (
        "MemberRegistryEmptyName", ())
    assert ledger.refused(Action.AdmitMember, payload(ADMIT, "No Keys Bureau", 0, 0, [], b"\0" * 32)) == (
        "MemberRegistryNoAccounts", ())
    assert ledger.view("memberCount") == GENESIS_MEMBERS


def test_zero_address_as_admin_is_an_invalid_account(ledger: Ledger) -> None:
    admins = [a.address for a in ledger.admins[:2]] + [ZERO]
    assert ledger.refused(Action.SetAdmins, payload(("address[]", "uint256"), admins, 2)) == (
        "MemberRegistryInvalidAccount", (ZERO,))


# ------------------------------------------------------------------------ roles follow membership
def test_sealers_are_accounts_of_admin_members_and_leave_with_them(ledger: Ledger) -> None:
    a0, a1, a2 = ledger.admins
    sealer = ledger.view("sealers")[0]
    auditor = ledger.members[7]
    hospital = ledger.members[5]
    assert ledger.refused(Action.SetSealers, payload(["address[]"], [sealer, hospital.address])) == (
        "MemberRegistryIneligibleAccount", (hospital.address, MemberKind.Admin))
    assert ledger.refused(Action.SetSealers, payload(["address[]"], [auditor.address])) == (
        "MemberRegistryIneligibleAccount", (auditor.address, MemberKind.Admin))

    # A second sealer key held by the Audit Bureau (member 2), which also holds admin key a1.
    backup = Signer.fresh("audit bureau sealer")
    ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, 2, backup.address))
    ledger.govern(Action.SetSealers, payload(["address[]"], [sealer, backup.address]))
    ledger.govern(Action.SetWitnesses, payload(["address[]"], [auditor.address]))

    # Removing the backup key from its member takes it out of the sealer set.
    _, events = ledger.govern(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, 2, backup.address))
    assert events == [Event("AccountRemoved", {"memberId": 2, "account": backup.address}),
                      Event("SealersChanged", {"sealers": (sealer,)})]
    assert ledger.chain.sealers_at(ledger.chain.head) == (to_canonical_address(sealer),)
    # The last sealer cannot go: the chain would have nobody to seal it.
    assert ledger.refused(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, 1, sealer)) == (
        "MemberRegistryNoSealers", ())
    assert ledger.view("sealers") == (sealer,)

    # Suspending the Audit Bureau (once a1 has left the admin set) takes its keys out of the sets too.
    ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, 2, backup.address))
    ledger.govern(Action.SetSealers, payload(["address[]"], [sealer, backup.address]))
    ledger.govern(Action.SetAdmins, payload(ADMINS, [a0.address, a2.address], 2))
    _, events = ledger.govern(Action.SuspendMember, payload(["uint256", "string"], 2, "audit of the auditors"),
                              proposer=a0, approver=a2)
    assert events == [Event("MemberSuspended", {"memberId": 2, "reason": "audit of the auditors"}),
                      Event("SealersChanged", {"sealers": (sealer,)})]
    # Reinstating does not give the role back: that takes a new SetSealers.
    ledger.govern(Action.ReinstateMember, payload(["uint256"], 2), proposer=a0, approver=a2)
    assert ledger.view("sealers") == (sealer,)

    # The node keeps sealing with the dev sealer key throughout.
    assert ledger.send(a0, ledger.registry, REGISTRY.encode("memberCount")).status == 1


def test_reinstated_witness_needs_a_new_witness_set(ledger: Ledger) -> None:
    auditor = ledger.members[7]
    auditor_id = ledger.member_id(auditor)
    ledger.govern(Action.SetWitnesses, payload(["address[]"], [auditor.address]))
    _, events = ledger.govern(Action.RemoveAccount, payload(MEMBER_AND_ACCOUNT, auditor_id, auditor.address))
    assert events[-1] == Event("WitnessesChanged", {"witnesses": ()})
    ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, auditor_id, auditor.address))
    assert ledger.view("witnesses") == ()
    _, events = ledger.govern(Action.SetWitnesses, payload(["address[]"], [auditor.address]))
    assert events == [Event("WitnessesChanged", {"witnesses": (auditor.address,)})]
    # A member that is not suspended but whose role was never given keeps no role on suspension.
    _, events = ledger.govern(Action.SuspendMember, payload(["uint256", "string"], 4, "x"))
    assert events == [Event("MemberSuspended", {"memberId": 4, "reason": "x"})]
