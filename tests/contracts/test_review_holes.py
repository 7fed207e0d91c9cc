"""The nine holes a review found in the contracts (issue 7), one test each.

Each test plays the review's attack, or the situation it found stuck, on the project's own chain
and asserts what the fixed contracts do instead. All of them fail on the contracts as they were
before issue 7: either the attack went through there, or the way out did not exist.
"""

from __future__ import annotations

import rlp
from eth_abi import encode as abi_encode
from eth_utils import keccak
from trie import HexaryTrie
from trie.iter import NodeIterator

from conftest import DevNet
from helpers import (
    DATA,
    ENTRY_REF,
    FIELDS,
    MEMBER_AND_ACCOUNT,
    PUBLIC_RECORD,
    SUBJECT_A,
    ZERO32,
    Action,
    BatchView,
    Category,
    Classification,
    CorrectionKind,
    CreditAction,
    CreditEnv,
    EntryAction,
    Event,
    EventKind,
    GrantState,
    Ledger,
    MemberKind,
    PositionalTree,
    RequestStatus,
    RestrictedContent,
    SharingAction,
    Sharing,
    Signer,
    Status,
    TransferStatus,
    World,
    b18,
    batch_leaves,
    batch_ref,
    entry_ref,
    leaf_hash,
    payload,
    record,
    restricted_commitment,
)

SUSPEND = ("uint256", "string")


def admit(ledger: Ledger, name: str, kind: int) -> tuple[Signer, int]:
    """Admit a member through M-of-N governance; its account and id."""
    account = Signer.fresh(name)
    _, events = ledger.govern(Action.AdmitMember, payload(
        ["string", "uint8", "uint8", "address[]", "bytes32"], name, int(kind), 0, [account.address],
        keccak(text=name)))
    (admitted,) = [e for e in events if e.name == "MemberAdmitted"]
    return account, int(admitted.args["memberId"])


# ------------------------------------------------------------------------------------------- 1
def test_hole_1_the_requester_never_gives_the_supervisors_approval(devnet: DevNet) -> None:
    """Review: the owner alone named the requester as supervisor, which then approved its own
    personal-data request. Now supervisors are assigned by M-of-N governance, never the owner,
    and never the requester (checked by member id when the owner approves, since an assignment
    can predate the request, and again at the supervisor's approval)."""
    ds = Sharing(Ledger(devnet))
    ledger = ds.ledger
    health, transport, regulator = ds.mid(ds.health), ds.mid(ds.transport), ds.mid(ds.regulator)
    dataset = ds.register(classification=Classification.Personal)

    # The owner's old way of naming a supervisor by itself does not exist any more.
    old = keccak(text="setSupervisor(uint256,uint256)")[:4] + abi_encode(["uint256", "uint256"], [dataset, transport])
    assert ledger.send(ds.health, ds.address, old, abi=DATA).status == 0
    # One admin is not enough either: the proposal waits for a second admin member.
    assign = payload(["uint256", "uint256"], dataset, transport)
    ledger.propose(ledger.admins[0], SharingAction.AssignSupervisor, assign, to=ds.address, abi=DATA)
    assert ds.dataset(dataset).supervisor_member_id == 0
    # Nor can governance make the owner its own supervisor.
    assert ledger.revert_of(ledger.admins[0], "propose", SharingAction.AssignSupervisor,
                            payload(["uint256", "uint256"], dataset, health), to=ds.address, abi=DATA) == (
        "DataSharingInvalidSupervisor", (dataset, health))

    # Governance assigns the transport bureau (a Department, so eligible) before any request ...
    assert ds.assign_supervisor(dataset, transport)[0].name == "SupervisorAssigned"
    # ... and then the transport bureau itself asks for the data.
    req = ds.new_request(dataset, requester=ds.transport)
    rid = ds.submit(req, signer=ds.transport, relayer=ds.transport)
    # The owner's approval would fix the requester as its own supervisor: refused.
    assert ds.refused(ds.health, "approve", rid, list(FIELDS), req.valid_until, 1) == (
        "DataSharingSupervisorIsParty", (rid, transport))
    assert ds.refused(ds.transport, "supervisorApprove", rid) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Pending))

    # With another supervisor assigned, the request goes through both approvals, and the requester
    # is never the one giving the second.
    ds.assign_supervisor(dataset, regulator)
    events = ds.ok(ds.health, "approve", rid, list(FIELDS), req.valid_until, 1)
    assert events[0].args["supervisorMemberId"] == regulator
    assert ds.refused(ds.transport, "supervisorApprove", rid) == ("DataSharingNotSupervisor", (rid, transport))
    assert ds.ok(ds.regulator, "supervisorApprove", rid)[0].name == "SupervisorApproved"
    assert ds.grant(rid).status == RequestStatus.Granted


# ------------------------------------------------------------------------------------------- 2
def test_hole_2_batch_roots_are_bound_to_their_issuer_and_to_one_entry_per_index(devnet: DevNet) -> None:
    """Review: another regulator anchored a root first and got the entries attributed to it, and a
    root could commit two entries for one index. Now leaves carry their issuer member and category,
    roots are unique per issuer, and the positional tree proves a leaf only at its own index."""
    env = CreditEnv.build(Ledger(devnet))
    reg, reg_id = env.regulator, env.regulator_id
    squatter, squatter_id = admit(env.ledger, "Tax Bureau", MemberKind.Regulator)
    env.authorize(reg_id, Category.Penalty)
    env.authorize(squatter_id, Category.Penalty)
    leaves = batch_leaves(reg_id, 6, Category.Penalty)
    tree = PositionalTree.build([leaf_hash(leaf) for leaf in leaves])

    # The squatter anchors the regulator's root first; none of the entries proves under its batch.
    env.ok(squatter, "anchorBatch", tree.root, 6, int(Category.Penalty), "bafy-squatted")
    assert not any(env.verify(1, tree.proof(i), leaf) for i, leaf in enumerate(leaves))
    # Relabelling the leaves with the squatter's id changes their hashes: still nothing proves.
    assert not env.verify(1, tree.proof(0), leaves[0]._replace(issuer_member_id=squatter_id))
    # The real issuer still anchors its own root (roots are unique per issuer), and every entry proves.
    batch_id, _ = env.anchor(reg, leaves, Category.Penalty, cid="bafy-real-batch")
    assert batch_id == 2
    assert all(env.verify(2, tree.proof(i), leaf) for i, leaf in enumerate(leaves))
    assert (env.view("batchOfRoot", squatter_id, tree.root), env.view("batchOfRoot", reg_id, tree.root)) == (1, 2)

    # A batch file that lists two entries for index 3: the root commits one leaf per position, and
    # a leaf proves only at the position its index names, so the second "entry 3" never verifies.
    rogue = leaves[3]._replace(amount=1, summary_hash=keccak(text="a milder summary"))
    doubled = [*leaves[:5], rogue]  # the sixth line of the file claims index 3 too
    dtree = PositionalTree.build([leaf_hash(leaf) for leaf in doubled])
    sent = env.ok(reg, "anchorBatch", dtree.root, 6, int(Category.Penalty), "bafy-doubled")
    assert env.verify(3, dtree.proof(3), doubled[3])
    assert not any(env.verify(3, dtree.proof(j), rogue) for j in range(6))
    # The anchor records the batch file and the claimed count: the gateway and the audit rebuild
    # the root from that file and flag the mismatch between line 6 and index 3.
    assert env.batch(3) == BatchView(dtree.root, 6, Category.Penalty, reg.address, sent.timestamp, reg_id,
                                     "bafy-doubled")


# ------------------------------------------------------------------------------------------- 3
def test_hole_3_batch_entries_are_superseded_and_revoked_by_reference(devnet: DevNet) -> None:
    """Review: only entries stored one by one could be corrected, not those of batches. Now an
    entry is named by (batch id, leaf, proof), the proof is checked on chain, and it is replaced
    once."""
    env = CreditEnv.build(Ledger(devnet))
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.Penalty)
    leaves = batch_leaves(reg_id, 4, Category.Penalty)
    batch_id, tree = env.anchor(reg, leaves, Category.Penalty)
    subject = leaves[2].uscc.decode()

    ref = batch_ref(batch_id, leaves[2], tree.proof(2))
    sent = env.ok(reg, "supersede", ref, record(subject, amount=123), "amount mistyped in the batch file")
    (superseded,) = sent.events
    assert (superseded.name, superseded.args["entryId"], superseded.args["oldEntryId"]) == ("EntrySuperseded", 1, 0)
    assert (env.entry(1).refers_to_batch, env.entry(1).refers_to_index, env.entry(1).amount) == (batch_id, 2, 123)
    assert env.view("batchEntryReplacedBy", batch_id, 2) == 1
    assert env.history(subject) == (1,)

    sent = env.ok(reg, "revoke", batch_ref(batch_id, leaves[0], tree.proof(0)), "issued to the wrong enterprise")
    assert sent.events[0].name == "EntryRevoked" and env.entry(2).action == EntryAction.Revoke
    # A leaf altered after anchoring does not pass the on-chain proof check.
    forged = leaves[1]._replace(amount=1)
    assert env.revert(reg, "revoke", batch_ref(batch_id, forged, tree.proof(1)), "x") == (
        "CreditInvalidBatchProof", (batch_id, 1))
    # An entry is replaced once.
    assert env.revert(reg, "revoke", ref, "again") == ("CreditBatchEntryAlreadyReplaced", (batch_id, 2, 1))


# ------------------------------------------------------------------------------------------- 4
def test_hole_4_a_later_holder_cannot_find_an_earlier_holders_loss(devnet: DevNet) -> None:
    """Review: a later holder "found" the loss an earlier holder recorded and consumed goods it
    never received; a correction could point at any event of the lot. Now only the member whose
    count the event recorded corrects it, by what that event counted."""
    w = World.build(devnet)
    c = w.custody
    charity, warehouse, hospital = w.id(w.charity), w.id(w.warehouse), w.id(w.hospital)
    lot = w.register(100)                                            # event 1
    t1, _ = w.send(w.charity, lot, 100, w.warehouse)                 # event 2
    c.ok(w.warehouse, "accept", t1, 90, "10 boxes missing")          # event 3: the warehouse's loss
    t2, _ = w.send(w.warehouse, lot, 90, w.hospital)                 # event 4
    c.ok(w.hospital, "accept", t2, 90, "")                           # event 5

    assert c.refused(w.hospital, "correct", 3, CorrectionKind.Found, 10, "found them") == (
        "SupplyCustodyNotEventParty", (3, hospital, warehouse))
    assert c.refused(w.hospital, "correct", 1, CorrectionKind.Loss, 1, "x") == (
        "SupplyCustodyNotEventParty", (1, hospital, charity))
    for kind in (CorrectionKind.Loss, CorrectionKind.Found):
        assert c.refused(w.hospital, "correct", 4, kind, 1, "x") == (
            "SupplyCustodyEventNotCorrectable", (4, EventKind.Sent, kind))
    assert c.refused(w.hospital, "correct", 5, CorrectionKind.Found, 1, "x") == (
        "SupplyCustodyEventNotCorrectable", (5, EventKind.Accepted, CorrectionKind.Found))
    # So the hospital consumes at most the 90 it received.
    assert c.refused(w.hospital, "consume", lot, 91, "bafy-slips") == ("SupplyCustodyExceedsHeld", (lot, 91, 90))
    # Its own count it may correct, within what it counted.
    c.ok(w.hospital, "correct", 5, CorrectionKind.Loss, 2, "recount")
    assert c.refused(w.hospital, "correct", 5, CorrectionKind.Loss, 89, "x") == (
        "SupplyCustodyExceedsCorrectable", (5, 89, 88))
    assert c.lot(lot)[:5] == (100, 88, 0, 0, 12)


# ------------------------------------------------------------------------------------------- 5
def test_hole_5_goods_sent_to_a_receiver_that_is_then_suspended_come_back(devnet: DevNet) -> None:
    """Review: only the receiver could settle a transfer, so goods sent to a member that was then
    suspended were stuck in transit forever. Now the sender recalls them."""
    w = World.build(devnet)
    c = w.custody
    lot = w.register(100)
    transfer_id, moved = w.send(w.charity, lot, 60, w.hospital)
    sent_at = c.transfer(transfer_id).sent_at
    assert c.refused(w.charity, "recall", transfer_id, "changed our mind") == (
        "SupplyCustodyRecallTooEarly", (transfer_id, Status.Active, sent_at + 7 * 86_400))

    w.suspend(w.hospital)
    sent = c.ok(w.charity, "recall", transfer_id, "receiver suspended")
    assert sent.events == [Event("TransferRecalled", {
        "eventId": 3, "transferId": transfer_id, "lotId": moved, "memberId": w.id(w.charity),
        "account": w.charity.address, "quantity": 60, "receiverStatus": Status.Suspended,
        "reason": "receiver suspended"})]
    assert c.transfer(transfer_id).status == TransferStatus.Recalled
    assert c.lot(moved)[:7] == (60, 60, 0, 0, 0, 0, w.id(w.charity))
    # The goods are the charity's to use again.
    w.send(w.charity, moved, 60, w.warehouse)


# ------------------------------------------------------------------------------------------- 6
def test_hole_6_a_gone_issuers_entries_are_corrected_by_the_admins(devnet: DevNet) -> None:
    """Review: entries of a regulator that was deauthorised or suspended could never be corrected
    or revoked. Now M-of-N governance corrects them, only while the issuer is gone."""
    env = CreditEnv.build(Ledger(devnet))
    reg, reg_id = env.regulator, env.regulator_id
    penalty = int(Category.Penalty)
    env.authorize(reg_id, Category.Penalty)
    env.issue(reg, SUBJECT_A)                                          # entry 1
    env.issue(reg, SUBJECT_A, amount=7)                                # entry 2
    env.deauthorize(reg_id, Category.Penalty)
    assert env.revert(reg, "revoke", entry_ref(1), "x") == ("CreditNotAuthorized", (reg.address, penalty))

    revoke = payload([ENTRY_REF, "string"], entry_ref(1), "issuer deauthorised; decision annulled")
    proposal_id, events = env.govern(CreditAction.RevokeGoneIssuerEntry, revoke)
    assert [e.name for e in events] == ["EntryRevoked"]
    revoked = env.entry(3)
    assert (revoked.action, revoked.refers_to, revoked.issuer_member_id, revoked.issuer, revoked.proposal_id) == (
        EntryAction.Revoke, 1, reg_id, env.ledger.admins[1].address, proposal_id)
    supersede = payload([ENTRY_REF, PUBLIC_RECORD, "string"], entry_ref(2), record(SUBJECT_A, amount=8),
                        "amount corrected on appeal")
    env.govern(CreditAction.SupersedeGoneIssuerEntry, supersede)
    assert (env.entry(4).amount, env.entry(4).refers_to) == (8, 2)
    assert env.history(SUBJECT_A) == (1, 2, 3, 4)

    # While the issuer can act, it answers for its own entries: governance is refused.
    env.authorize(reg_id, Category.Penalty)
    again = payload([ENTRY_REF, "string"], entry_ref(4), "x")
    assert env.revert(env.ledger.admins[0], "propose", CreditAction.RevokeGoneIssuerEntry, again) == (
        "CreditIssuerNotGone", (reg_id, penalty))


# ------------------------------------------------------------------------------------------- 7
def test_hole_7_approvals_count_members_and_roles_need_the_right_kind(devnet: DevNet) -> None:
    """Review: a member with two admin accounts reached a threshold of 2 alone, admin accounts could
    belong to a hospital, sealers and witnesses could be anyone, and a suspended member's account
    stayed a witness."""
    ledger = Ledger(devnet)
    a0, a1, a2 = ledger.admins
    hospital, auditor = ledger.members[5], ledger.members[7]
    second_key = Signer.fresh("big data bureau second admin key")
    ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, 1, second_key.address))
    ledger.govern(Action.SetAdmins, payload(["address[]", "uint256"],
                                            [a0.address, second_key.address, a1.address, a2.address], 2))

    proposal_id, _ = ledger.propose(a0, Action.SuspendMember, payload(SUSPEND, 4, "one member decides"))
    assert ledger.revert_of(second_key, "approveProposal", proposal_id) == (
        "AdminApprovalsAlreadyApproved", (proposal_id, 1))
    assert ledger.approve(second_key, proposal_id).status == 0
    assert ledger.proposal(proposal_id).executed is False and ledger.member(4).status == Status.Active
    # The same base counts Credit's approvals.
    env = CreditEnv.build(ledger)
    change_id, _ = env.propose(a0, CreditAction.SetIssuer, payload(["uint256", "uint8", "bool"], env.regulator_id, 1, True))
    assert env.revert(second_key, "approveProposal", change_id) == ("AdminApprovalsAlreadyApproved", (change_id, 1))

    # Four admin accounts are three admin members: a threshold of 4 is refused.
    assert ledger.refused(Action.SetAdmins, payload(["address[]", "uint256"],
                                                    [a0.address, second_key.address, a1.address, a2.address], 4)) == (
        "MemberRegistryInvalidThreshold", (4, 3))
    assert ledger.refused(Action.SetAdmins, payload(["address[]", "uint256"], [a0.address, hospital.address], 1)) == (
        "MemberRegistryIneligibleAccount", (hospital.address, MemberKind.Admin))
    stranger = Signer.fresh("not a member")
    assert ledger.refused(Action.SetSealers, payload(["address[]"], [stranger.address])) == (
        "MemberRegistryIneligibleAccount", (stranger.address, MemberKind.Admin))
    assert ledger.refused(Action.SetWitnesses, payload(["address[]"], [hospital.address])) == (
        "MemberRegistryIneligibleAccount", (hospital.address, MemberKind.Auditor))

    ledger.govern(Action.SetWitnesses, payload(["address[]"], [auditor.address]))
    _, events = ledger.govern(Action.SuspendMember, payload(SUSPEND, ledger.member_id(auditor), "conflict of interest"))
    assert events == [Event("MemberSuspended", {"memberId": ledger.member_id(auditor), "reason": "conflict of interest"}),
                      Event("WitnessesChanged", {"witnesses": ()})]
    assert ledger.view("witnesses") == ()


# ------------------------------------------------------------------------------------------- 8
def test_hole_8_a_requester_cancels_a_signed_request_and_withdraws_a_pending_one(devnet: DevNet) -> None:
    """Review: a signed share request could not be cancelled, nor a pending one withdrawn."""
    ds = Sharing(Ledger(devnet))
    hospital = ds.mid(ds.hospital)
    dataset = ds.register()
    signed = ds.new_request(dataset, nonce=5)
    signature = ds.sign(ds.hospital, signed)
    assert ds.ok(ds.hospital, "cancelNonce", 5) == [Event("NonceCancelled", {
        "requester": ds.hospital.address, "nonce": 5, "requesterMemberId": hospital})]
    assert ds.refused(ds.warehouse, "submitRequest", signed.abi(), signature) == (
        "DataSharingNonceUsed", (ds.hospital.address, 5))

    req = ds.new_request(dataset, nonce=6)
    rid = ds.submit(req)
    assert ds.refused(ds.health, "withdrawRequest", rid, "x") == ("DataSharingNotRequester", (rid, ds.mid(ds.health)))
    assert ds.ok(ds.hospital, "withdrawRequest", rid, "no longer needed") == [Event("RequestWithdrawn", {
        "requestId": rid, "datasetId": dataset, "requesterMemberId": hospital, "account": ds.hospital.address,
        "reason": "no longer needed"})]
    assert (ds.request(rid).status, ds.state(rid)) == (RequestStatus.Withdrawn, GrantState.Withdrawn)
    assert ds.refused(ds.health, "approve", rid, list(FIELDS), req.valid_until, 1) == (
        "DataSharingInvalidStatus", (rid, RequestStatus.Withdrawn))


# ------------------------------------------------------------------------------------------- 9
def storage_values(ledger: Ledger, address: bytes) -> list[bytes]:
    """Every word in the contract's storage trie (RLP-decoded values)."""
    root = bytes(ledger.chain.get_proof(address, [], ledger.chain.head)["storageHash"])
    return [rlp.decode(v) for v in NodeIterator(HexaryTrie(ledger.chain.db, root)).values()]


def test_hole_9_a_restricted_entry_puts_nothing_readable_on_chain(devnet: DevNet) -> None:
    """Review: restricted entries were readable by anyone through entry() and EntryIssued. Now only
    the category, a salted subject tag and a salted commitment reach the chain."""
    env = CreditEnv.build(Ledger(devnet))
    reg, reg_id = env.regulator, env.regulator_id
    env.authorize(reg_id, Category.SeriousDishonesty)
    evidence = "bafkreirestrictedevidence"
    summary = keccak(text="Falsified emergency-supply invoices")
    content = RestrictedContent(b18(SUBJECT_A), keccak(text="subject salt"), int(Category.SeriousDishonesty), 4,
                                1_700_000_000, 0, 987_654_321, summary, keccak(text=evidence), keccak(text="salt"))
    tag, commitment = restricted_commitment(content)
    assert env.view("restrictedCommitment", tuple(content)) == (tag, commitment)

    sent = env.ok(reg, "issueRestricted", int(Category.SeriousDishonesty), tag, commitment)
    stored = env.entry(1)
    assert (stored.uscc, stored.is_public, stored.amount, stored.summary_hash, stored.evidence_cid,
            stored.effective_date, stored.severity) == (b"\0" * 18, False, 0, ZERO32, "", 0, 0)
    assert (stored.subject_tag, stored.commitment, stored.issuer_member_id) == (tag, commitment, reg_id)
    # Nothing readable in the transaction, its logs or the contract's storage.
    readable = [b18(SUBJECT_A), summary, evidence.encode(), (987_654_321).to_bytes(4, "big")]
    assert sent.receipt is not None
    exposed = [bytes(sent.tx.data), *(bytes(log.data) + b"".join(t.to_bytes(32, "big") for t in log.topics)
                                      for log in sent.receipt.logs), *storage_values(env.ledger, env.credit)]
    for secret in readable:
        assert not any(secret in blob for blob in exposed), secret
    assert env.history(SUBJECT_A) == ()

    # A correction stays restricted and keeps the subject tag; a public one is refused.
    _, corrected = restricted_commitment(content._replace(amount=1, salt=keccak(text="salt 2")))
    env.ok(reg, "supersedeRestricted", entry_ref(1), corrected, "amount corrected")
    assert (env.entry(2).subject_tag, env.entry(2).commitment, env.entry(2).refers_to) == (tag, corrected, 1)
    assert env.revert(reg, "supersede", entry_ref(2), record(SUBJECT_A, category=Category.SeriousDishonesty),
                      "x") == ("CreditVisibilityChanged", (False,))
