"""SupplyCustody on the project's own chain, in-process (PRODUCT.md, "Supply custody").

The chain is ``node.chain.LedgerChain`` over ``MemoryKV`` (the in-memory key-value store meant for
unit tests) through ``helpers.Ledger``: transactions are signed with eth_account and sealed with
``LedgerChain.build_block``, views and expected reverts go through ``LedgerChain.call``.

Covered: every role check and custom error with its arguments, every event with its arguments,
conservation of every lot after every successful step (the driver checks it), the correction
rules (only the party whose count an event recorded corrects it, by what it counted), the
sender's recall, and a Hypothesis state machine that drives random custody histories, recalls and
corrections included, against a Python model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from eth.abc import SignedTransactionAPI
from eth.vm.spoof import SpoofTransaction
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conftest import DevNet, artifact
from helpers import (
    COMMIT,
    CUSTODY,
    EXPIRY,
    MASK,
    PCS,
    CorrectionKind,
    Custody,
    Event,
    EventKind,
    EventView,
    IntakeView,
    LotView,
    MemberKind,
    Sent,
    Signer,
    Status,
    TransferStatus,
    TransferView,
    World,
)
from node.errors import ExecutionReverted

ARTIFACT = artifact("SupplyCustody")
WEEK = 7 * 24 * 3600


@pytest.fixture
def world(devnet: DevNet) -> World:
    return World.build(devnet)


# ------------------------------------------------------------------------------------ deployment
def test_constructor_needs_a_registry_with_code(world: World) -> None:
    stranger = Signer.fresh("not a registry")
    data = Custody.init_code(stranger.canonical)
    with pytest.raises(ExecutionReverted) as raised:
        world.ledger.chain.call({"from": world.admin.canonical, "data": data}, world.ledger.chain.head)
    assert CUSTODY.decode_error(raised.value.data) == ("MemberGatedInvalidRegistry", (stranger.address,))
    sent = world.ledger.send(world.admin, None, data)
    assert sent.status == 0
    assert to_checksum_address(world.custody.view("registry")) == to_checksum_address(world.ledger.registry)


# ------------------------------------------------------------------------------------ intake
def test_register_lot_records_the_donation_and_emits_its_receipt_code(world: World) -> None:
    c, charity = world.custody, world.id(world.charity)
    sent = c.ok(world.charity, "registerLot", MASK, 1000, PCS, COMMIT, "Acme Medical Ltd", "bafy-intake", EXPIRY)
    receipt = c.receipt_code(1, COMMIT)
    assert sent.events == [Event("LotRegistered", {
        "eventId": 1, "lotId": 1, "charityId": charity, "receiptCode": receipt,
        "account": world.charity.address, "itemCode": MASK,
        "quantity": 1000, "unit": PCS, "donorCommitment": COMMIT, "donorPublicName": "Acme Medical Ltd",
        "documentsCid": "bafy-intake", "expiry": EXPIRY})]
    at = world.now()
    assert c.lot(1) == LotView(1000, 1000, 0, 0, 0, 0, charity, 0, 1, 0, MASK, PCS, EXPIRY, receipt)
    assert c.intake(1) == IntakeView(charity, COMMIT, at, "Acme Medical Ltd", "bafy-intake")
    assert c.event(1) == EventView(EventKind.Registered, at, charity, 1, 0, 0, 0, 1000, 0)
    assert c.view("lotIdByReceipt", receipt) == 1
    assert c.view("lotIdByReceipt", keccak(b"unknown")) == 0
    assert c.counts() == (1, 0, 1)

    # An anonymous donor, the same commitment again: the lot id makes a different receipt code.
    sent = c.ok(world.charity, "registerLot", MASK, 5, PCS, COMMIT, "", "bafy-2", 0)
    assert sent.events[0].args["receiptCode"] == c.receipt_code(2, COMMIT) != receipt
    assert sent.events[0].args["donorPublicName"] == ""
    assert c.intake(2).donor_public_name == ""
    assert c.view("lotIdByReceipt", c.receipt_code(2, COMMIT)) == 2

    # The receipt code is bound to the deployment (chain id and contract address), not only the lot.
    other = Custody(world.ledger, world.admin)
    sent = other.ok(world.charity, "registerLot", MASK, 1000, PCS, COMMIT, "", "bafy-intake", 0)
    assert sent.events[0].args["receiptCode"] == other.receipt_code(1, COMMIT) != receipt


def test_only_charities_register_lots(world: World) -> None:
    args = (MASK, 10, PCS, COMMIT, "", "bafy", 0)
    for signer, kind in [(world.department, MemberKind.Department), (world.warehouse, MemberKind.Warehouse),
                         (world.logistics, MemberKind.Logistics), (world.hospital, MemberKind.Hospital),
                         (world.regulator, MemberKind.Regulator), (world.auditor, MemberKind.Auditor),
                         (world.admin, MemberKind.Admin)]:
        assert world.custody.refused(signer, "registerLot", *args) == (
            "MemberGatedUnauthorizedKind", (world.id(signer), kind))


def test_register_lot_rejects_empty_fields(world: World) -> None:
    c, ch = world.custody, world.charity
    assert c.refused(ch, "registerLot", MASK, 0, PCS, COMMIT, "", "bafy", 0) == ("SupplyCustodyZeroQuantity", ())
    for args, name in [((bytes(32), 1, PCS, COMMIT, "", "bafy", 0), "itemCode"),
                       ((MASK, 1, bytes(32), COMMIT, "", "bafy", 0), "unit"),
                       ((MASK, 1, PCS, bytes(32), "", "bafy", 0), "donorCommitment"),
                       ((MASK, 1, PCS, COMMIT, "Acme", "", 0), "documentsCid")]:
        assert c.refused(ch, "registerLot", *args) == ("SupplyCustodyMissingField", (name,))


# ------------------------------------------------------------------------------------ membership
def test_only_active_member_accounts_act(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    transfer_id, _ = world.send(world.charity, lot, 40, world.warehouse)
    stranger = Signer.fresh("stranger")
    calls = [("registerLot", (MASK, 1, PCS, COMMIT, "", "bafy", 0)),
             ("transfer", (lot, 1, world.id(world.hospital))),
             ("accept", (transfer_id, 40, "")),
             ("refuse", (transfer_id, "no")),
             ("consume", (lot, 1, "bafy")),
             ("recall", (transfer_id, "why")),
             ("correct", (1, CorrectionKind.Loss, 1, "why"))]
    for fn, args in calls:
        assert c.revert_of(stranger, fn, *args) == ("MemberGatedNotActive", (stranger.address,))
        assert c.revert_of(None, fn, *args) == ("MemberGatedNotActive", ("0x" + "00" * 20,))
    # The node refuses the stranger's transaction before the contract sees it.
    sent = c.send(stranger, "consume", lot, 1, "bafy")
    assert sent.status is None and "not an active member" in sent.built.dropped[0][1]

    # A suspended receiver can neither be sent goods nor act; goods already sent to it stay in transit.
    world.suspend(world.warehouse)
    assert c.revert_of(world.warehouse, "accept", transfer_id, 40, "") == (
        "MemberGatedNotActive", (world.warehouse.address,))
    assert c.refused(world.charity, "transfer", lot, 1, world.id(world.warehouse)) == (
        "SupplyCustodyInactiveReceiver", (world.id(world.warehouse), Status.Suspended))
    assert c.transfer(transfer_id).status == TransferStatus.InTransit  # until its sender recalls them


# ------------------------------------------------------------------------------------ transfer
def test_sending_the_whole_held_quantity_moves_the_lot_itself(world: World) -> None:
    c = world.custody
    lot = world.register(300)
    charity, warehouse = world.id(world.charity), world.id(world.warehouse)
    sent = c.ok(world.charity, "transfer", lot, 300, warehouse)
    sent_at = world.now()
    assert sent.events == [Event("TransferSent", {
        "eventId": 2, "transferId": 1, "lotId": lot, "toMemberId": warehouse, "fromMemberId": charity,
        "account": world.charity.address, "parentLotId": 0, "quantity": 300})]
    assert c.lot(lot)[:10] == (300, 0, 300, 0, 0, 0, charity, 0, lot, 1)
    assert c.transfer(1) == TransferView(lot, 0, charity, warehouse, 300, 0, sent_at, 0,
                                         TransferStatus.InTransit)
    assert c.event(2) == EventView(EventKind.Sent, sent_at, charity, lot, 0, 1, 0, 0, 0)
    assert c.counts() == (1, 1, 2)

    sent = c.ok(world.warehouse, "accept", 1, 300, "")
    assert sent.events == [Event("TransferAccepted", {
        "eventId": 3, "transferId": 1, "lotId": lot, "memberId": warehouse, "account": world.warehouse.address,
        "sent": 300, "received": 300, "lossReason": ""})]
    settled = world.now()
    assert settled > sent_at
    assert c.lot(lot)[:10] == (300, 300, 0, 0, 0, 0, warehouse, 0, lot, 0)
    assert c.transfer(1) == TransferView(lot, 0, charity, warehouse, 300, 300, sent_at, settled,
                                         TransferStatus.Accepted)
    assert c.event(3) == EventView(EventKind.Accepted, settled, warehouse, lot, 0, 1, 0, 300, 0)


def test_sending_part_splits_off_a_child_lot_in_transit(world: World) -> None:
    c = world.custody
    lot = world.register(1000)
    receipt = c.lot(lot).receipt_code
    charity, logistics = world.id(world.charity), world.id(world.logistics)
    sent = c.ok(world.charity, "transfer", lot, 250, logistics)
    assert sent.events == [
        Event("LotSplit", {"eventId": 2, "parentLotId": lot, "childLotId": 2, "memberId": charity,
                           "quantity": 250}),
        Event("TransferSent", {"eventId": 2, "transferId": 1, "lotId": 2, "toMemberId": logistics,
                               "fromMemberId": charity, "account": world.charity.address, "parentLotId": lot,
                               "quantity": 250}),
    ]
    assert c.lot(lot) == LotView(1000, 750, 0, 0, 0, 250, charity, 0, lot, 0, MASK, PCS, EXPIRY, receipt)
    assert c.lot(2) == LotView(250, 0, 250, 0, 0, 0, charity, lot, lot, 1, MASK, PCS, EXPIRY, receipt)
    assert c.transfer(1) == TransferView(2, lot, charity, logistics, 250, 0, world.now(), 0,
                                         TransferStatus.InTransit)
    assert c.event(2) == EventView(EventKind.Sent, world.now(), charity, 2, lot, 1, 0, 0, 0)
    # The child carries its donation's receipt code and intake record; the code still finds the root.
    assert c.intake(2) == c.intake(lot)
    assert c.view("lotIdByReceipt", receipt) == lot

    # The parent is not in transit: its holder keeps using the rest, a grandchild splits off the child.
    world.send(world.charity, lot, 100, world.warehouse)
    c.ok(world.logistics, "accept", 1, 250, "")
    _, grandchild = world.send(world.logistics, 2, 50, world.hospital)
    assert c.lot(grandchild)[:10] == (50, 0, 50, 0, 0, 0, logistics, 2, lot, 3)
    assert c.lot(2)[:7] == (250, 200, 0, 0, 0, 50, logistics)
    assert c.lot(lot)[:6] == (1000, 650, 0, 0, 0, 350)
    assert c.counts() == (4, 3, 5)


def test_transfer_checks_holder_quantity_and_receiver(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    hospital = world.id(world.hospital)
    assert c.refused(world.warehouse, "transfer", lot, 1, hospital) == (
        "SupplyCustodyNotHolder", (lot, world.id(world.warehouse)))
    assert c.refused(world.charity, "transfer", 99, 1, hospital) == ("SupplyCustodyUnknownLot", (99,))
    assert c.refused(world.charity, "transfer", 0, 1, hospital) == ("SupplyCustodyUnknownLot", (0,))
    assert c.refused(world.charity, "transfer", lot, 0, hospital) == ("SupplyCustodyZeroQuantity", ())
    assert c.refused(world.charity, "transfer", lot, 101, hospital) == (
        "SupplyCustodyExceedsHeld", (lot, 101, 100))
    assert c.refused(world.charity, "transfer", lot, 1, world.id(world.charity)) == (
        "SupplyCustodySelfTransfer", (lot, world.id(world.charity)))
    count = world.ledger.view("memberCount")
    for member_id in (0, count + 1):
        assert c.refused(world.charity, "transfer", lot, 1, member_id) == (
            "SupplyCustodyUnknownMember", (member_id,))
    for signer, kind in [(world.department, MemberKind.Department), (world.transport, MemberKind.Department),
                         (world.regulator, MemberKind.Regulator), (world.auditor, MemberKind.Auditor),
                         (world.admin, MemberKind.Admin)]:
        assert c.refused(world.charity, "transfer", lot, 1, world.id(signer)) == (
            "SupplyCustodyInvalidReceiverKind", (world.id(signer), kind))
    # Every custody kind may receive (the charity itself is excluded as the sender).
    for receiver in (world.warehouse, world.logistics, world.hospital):
        world.send(world.charity, lot, 1, receiver)


def test_a_lot_in_transit_is_frozen_for_its_holder(world: World) -> None:
    c = world.custody
    lot = world.register(10)
    transfer_id, _ = world.send(world.charity, lot, 10, world.hospital)
    # The sender is still the recorded holder but can neither send, consume nor correct the lot.
    assert c.refused(world.charity, "transfer", lot, 1, world.id(world.warehouse)) == (
        "SupplyCustodyLotInTransit", (lot, transfer_id))
    assert c.refused(world.charity, "consume", lot, 1, "bafy") == ("SupplyCustodyLotInTransit", (lot, transfer_id))
    assert c.refused(world.charity, "correct", 1, CorrectionKind.Loss, 1, "x") == (
        "SupplyCustodyLotInTransit", (lot, transfer_id))
    # And the receiver does not hold it until it accepts.
    assert c.refused(world.hospital, "consume", lot, 1, "bafy") == (
        "SupplyCustodyNotHolder", (lot, world.id(world.hospital)))


# ------------------------------------------------------------------------------------ accept / refuse
def test_accept_with_a_shortfall_records_the_loss_with_its_reason(world: World) -> None:
    c = world.custody
    lot = world.register(500)
    transfer_id, child = world.send(world.charity, lot, 200, world.warehouse)
    warehouse = world.id(world.warehouse)
    assert c.refused(world.warehouse, "accept", transfer_id, 201, "") == (
        "SupplyCustodyExceedsSent", (transfer_id, 201, 200))
    assert c.refused(world.warehouse, "accept", transfer_id, 190, "") == ("SupplyCustodyMissingField", ("lossReason",))
    sent = c.ok(world.warehouse, "accept", transfer_id, 190, "10 boxes crushed in the truck")
    assert sent.events == [Event("TransferAccepted", {
        "eventId": 3, "transferId": transfer_id, "lotId": child, "memberId": warehouse,
        "account": world.warehouse.address, "sent": 200, "received": 190, "lossReason": "10 boxes crushed in the truck"})]
    assert (c.event(3).added, c.event(3).lost) == (190, 10)
    assert c.lot(child)[:7] == (200, 190, 0, 0, 10, 0, warehouse)
    assert c.lot(lot)[:7] == (500, 300, 0, 0, 0, 200, world.id(world.charity))
    assert c.transfer(transfer_id).received == 190

    # Nothing arrived at all: everything sent becomes a loss, and the receiver still holds the lot.
    transfer_id, _ = world.send(world.warehouse, child, 190, world.logistics)
    c.ok(world.logistics, "accept", transfer_id, 0, "truck stolen")
    assert c.lot(child)[:7] == (200, 0, 0, 0, 200, 0, world.id(world.logistics))


def test_refusing_returns_the_goods_to_the_sender(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    charity, hospital = world.id(world.charity), world.id(world.hospital)
    # A whole lot comes back to the sender's holding.
    transfer_id, _ = world.send(world.charity, lot, 100, world.hospital)
    sent_at = world.now()
    assert c.refused(world.hospital, "refuse", transfer_id, "") == ("SupplyCustodyMissingField", ("reason",))
    sent = c.ok(world.hospital, "refuse", transfer_id, "wrong item")
    assert sent.events == [Event("TransferRefused", {
        "eventId": 3, "transferId": transfer_id, "lotId": lot, "memberId": hospital,
        "account": world.hospital.address, "quantity": 100, "reason": "wrong item"})]
    assert c.lot(lot)[:10] == (100, 100, 0, 0, 0, 0, charity, 0, lot, 0)
    assert c.transfer(transfer_id) == TransferView(lot, 0, charity, hospital, 100, 0, sent_at, world.now(),
                                                   TransferStatus.Refused)
    assert c.event(3) == EventView(EventKind.Refused, world.now(), hospital, lot, 0, transfer_id, 0, 100, 0)

    # A refused child lot stays a lot of its own, held by the sender, and can be sent again.
    transfer_id, child = world.send(world.charity, lot, 30, world.hospital)
    c.ok(world.hospital, "refuse", transfer_id, "expired")
    assert c.lot(child)[:10] == (30, 30, 0, 0, 0, 0, charity, lot, lot, 0)
    assert c.lot(lot)[:6] == (100, 70, 0, 0, 0, 30)
    again, moved = world.send(world.charity, child, 30, world.warehouse)
    assert moved == child
    c.ok(world.warehouse, "accept", again, 30, "")
    assert c.lot(child).holder == world.id(world.warehouse)


def test_only_the_receiver_settles_a_transfer_once(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    transfer_id, _ = world.send(world.charity, lot, 60, world.warehouse)
    for signer in (world.charity, world.logistics):
        for fn, args in [("accept", (transfer_id, 60, "")), ("refuse", (transfer_id, "no"))]:
            assert c.refused(signer, fn, *args) == ("SupplyCustodyNotReceiver", (transfer_id, world.id(signer)))
    for missing in (0, 2):
        assert c.refused(world.warehouse, "accept", missing, 1, "") == ("SupplyCustodyUnknownTransfer", (missing,))
        assert c.refused(world.warehouse, "refuse", missing, "no") == ("SupplyCustodyUnknownTransfer", (missing,))
    c.ok(world.warehouse, "accept", transfer_id, 60, "")
    assert c.refused(world.warehouse, "accept", transfer_id, 60, "") == (
        "SupplyCustodyTransferSettled", (transfer_id, TransferStatus.Accepted))
    assert c.refused(world.warehouse, "refuse", transfer_id, "late") == (
        "SupplyCustodyTransferSettled", (transfer_id, TransferStatus.Accepted))
    refused_id, _ = world.send(world.charity, lot, 40, world.warehouse)
    c.ok(world.warehouse, "refuse", refused_id, "no space")
    assert c.refused(world.warehouse, "accept", refused_id, 40, "") == (
        "SupplyCustodyTransferSettled", (refused_id, TransferStatus.Refused))


# ------------------------------------------------------------------------------------ consume
def test_hospitals_and_charities_consume_with_a_document(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    transfer_id, child = world.send(world.charity, lot, 40, world.hospital)
    c.ok(world.hospital, "accept", transfer_id, 40, "")
    hospital, charity = world.id(world.hospital), world.id(world.charity)
    assert c.refused(world.hospital, "consume", child, 0, "bafy") == ("SupplyCustodyZeroQuantity", ())
    assert c.refused(world.hospital, "consume", child, 41, "bafy") == ("SupplyCustodyExceedsHeld", (child, 41, 40))
    assert c.refused(world.hospital, "consume", child, 1, "") == ("SupplyCustodyMissingField", ("documentsCid",))
    assert c.refused(world.hospital, "consume", lot, 1, "bafy") == ("SupplyCustodyNotHolder", (lot, hospital))
    assert c.refused(world.hospital, "consume", 77, 1, "bafy") == ("SupplyCustodyUnknownLot", (77,))
    sent = c.ok(world.hospital, "consume", child, 25, "bafy-ward-3-issue-slip")
    assert sent.events == [Event("LotConsumed", {
        "eventId": 4, "lotId": child, "memberId": hospital, "account": world.hospital.address, "quantity": 25,
        "documentsCid": "bafy-ward-3-issue-slip"})]
    assert c.lot(child)[:7] == (40, 15, 0, 25, 0, 0, hospital)
    assert c.event(4) == EventView(EventKind.Consumed, world.now(), hospital, child, 0, 0, 0, 0, 0)
    # The intake charity distributes directly to people.
    c.ok(world.charity, "consume", lot, 60, "bafy-distribution-list")
    assert c.lot(lot)[:7] == (100, 0, 0, 60, 0, 40, charity)


def test_warehouses_and_logistics_cannot_consume(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    for signer, kind in [(world.warehouse, MemberKind.Warehouse), (world.logistics, MemberKind.Logistics)]:
        transfer_id, moved = world.send(world.charity, lot, 10, signer)
        c.ok(signer, "accept", transfer_id, 10, "")
        assert c.refused(signer, "consume", moved, 1, "bafy") == (
            "MemberGatedUnauthorizedKind", (world.id(signer), kind))


# ------------------------------------------------------------------------------------ corrections
def test_corrections_are_new_events_pointing_at_the_wrong_one(world: World) -> None:
    c = world.custody
    lot = world.register(100)                                                    # event 1
    transfer_id, child = world.send(world.charity, lot, 50, world.warehouse)   # event 2
    c.ok(world.warehouse, "accept", transfer_id, 45, "5 missing")               # event 3
    warehouse, charity = world.id(world.warehouse), world.id(world.charity)
    accepted = c.event(3)
    assert (accepted.added, accepted.lost) == (45, 5)

    # The 5 "missing" boxes turn up: the receiver that recorded the loss corrects its acceptance.
    sent = c.ok(world.warehouse, "correct", 3, CorrectionKind.Found, 5, "found behind the racks")
    assert sent.events == [Event("CorrectionRecorded", {
        "eventId": 4, "correctedEventId": 3, "lotId": child, "memberId": warehouse,
        "account": world.warehouse.address, "kind": CorrectionKind.Found, "quantity": 5,
        "reason": "found behind the racks"})]
    assert c.lot(child)[:7] == (50, 50, 0, 0, 0, 0, warehouse)
    assert c.event(4) == EventView(EventKind.Corrected, world.now(), warehouse, child, 0, 0, 3, 5, 0)
    assert c.event(3) == accepted  # nothing is rewritten
    assert c.view("correctedOf", 3) == (0, 5)
    # A recount at the warehouse: 2 fewer than received; then the correction itself is corrected.
    c.ok(world.warehouse, "correct", 3, CorrectionKind.Loss, 2, "recount")                 # event 5
    c.ok(world.warehouse, "correct", 5, CorrectionKind.Found, 1, "recount of the recount")  # event 6
    assert c.lot(child)[:7] == (50, 49, 0, 0, 1, 0, warehouse)
    assert (c.view("correctedOf", 3), c.view("correctedOf", 5)) == ((2, 5), (0, 1))
    # The intake charity corrects its own registration count on the parent it still holds.
    sent = c.ok(world.charity, "correct", 1, CorrectionKind.Loss, 3, "intake overcounted")
    assert (sent.events[0].args["correctedEventId"], sent.events[0].args["lotId"]) == (1, lot)
    assert c.lot(lot)[:7] == (100, 47, 0, 0, 3, 50, charity)
    assert c.counts() == (2, 1, 7)


def test_correction_errors(world: World) -> None:
    c = world.custody
    wh, ch = world.warehouse, world.charity
    warehouse, charity = world.id(wh), world.id(ch)
    lot = world.register(100)                                            # event 1
    other = world.register(10)                                           # event 2
    transfer_id, child = world.send(ch, lot, 50, wh)                   # event 3
    c.ok(wh, "accept", transfer_id, 48, "2 wet")                        # event 4: added 48, lost 2
    c.ok(ch, "consume", other, 1, "bafy-slip")                           # event 5
    for missing in (0, 6):
        assert c.refused(wh, "correct", missing, CorrectionKind.Loss, 1, "x") == ("SupplyCustodyUnknownEvent", (missing,))
    # Sending and consuming count nothing into anyone's held quantity; a registration records no loss.
    for kind in (CorrectionKind.Loss, CorrectionKind.Found):
        assert c.refused(ch, "correct", 3, kind, 1, "x") == ("SupplyCustodyEventNotCorrectable", (3, EventKind.Sent, kind))
        assert c.refused(ch, "correct", 5, kind, 1, "x") == (
            "SupplyCustodyEventNotCorrectable", (5, EventKind.Consumed, kind))
    assert c.refused(ch, "correct", 1, CorrectionKind.Found, 1, "x") == (
        "SupplyCustodyEventNotCorrectable", (1, EventKind.Registered, CorrectionKind.Found))
    # Only the member whose count the event recorded.
    assert c.refused(wh, "correct", 1, CorrectionKind.Loss, 1, "x") == ("SupplyCustodyNotEventParty", (1, warehouse, charity))
    assert c.refused(ch, "correct", 4, CorrectionKind.Found, 1, "x") == ("SupplyCustodyNotEventParty", (4, charity, warehouse))
    assert c.refused(ch, "correct", 4, CorrectionKind.Loss, 1, "x") == ("SupplyCustodyNotEventParty", (4, charity, warehouse))
    assert c.refused(wh, "correct", 4, CorrectionKind.Loss, 0, "x") == ("SupplyCustodyZeroQuantity", ())
    assert c.refused(wh, "correct", 4, CorrectionKind.Loss, 1, "") == ("SupplyCustodyMissingField", ("reason",))
    # No more than the event counted, nor more than is held.
    assert c.refused(wh, "correct", 4, CorrectionKind.Loss, 49, "x") == ("SupplyCustodyExceedsCorrectable", (4, 49, 48))
    assert c.refused(wh, "correct", 4, CorrectionKind.Found, 3, "x") == ("SupplyCustodyExceedsCorrectable", (4, 3, 2))
    world.send(wh, child, 40, world.hospital)
    assert c.refused(wh, "correct", 4, CorrectionKind.Loss, 9, "x") == ("SupplyCustodyExceedsHeld", (child, 9, 8))
    # And only while it holds the lot.
    transit, _ = world.send(wh, child, 8, world.logistics)
    assert c.refused(wh, "correct", 4, CorrectionKind.Found, 1, "x") == ("SupplyCustodyLotInTransit", (child, transit))
    c.ok(world.logistics, "accept", transit, 8, "")
    assert c.refused(wh, "correct", 4, CorrectionKind.Found, 1, "x") == ("SupplyCustodyNotHolder", (child, warehouse))
    assert c.revert_of(None, "correctedOf", 99) == ("SupplyCustodyUnknownEvent", (99,))


def test_a_refused_or_recalled_return_is_corrected_by_the_sender(world: World) -> None:
    """A refusal is recorded by the receiver but puts the goods back into the sender's count: the
    other party of the transfer, the sender, is the one that may correct how many came back."""
    c = world.custody
    lot = world.register(100)
    transfer_id, child = world.send(world.charity, lot, 30, world.hospital)   # event 2
    c.ok(world.hospital, "refuse", transfer_id, "wrong size")                  # event 3
    assert c.refused(world.hospital, "correct", 3, CorrectionKind.Loss, 1, "x") == (
        "SupplyCustodyNotEventParty", (3, world.id(world.hospital), world.id(world.charity)))
    c.ok(world.charity, "correct", 3, CorrectionKind.Loss, 2, "2 boxes did not come back")
    assert c.lot(child)[:7] == (30, 28, 0, 0, 2, 0, world.id(world.charity))
    assert c.refused(world.charity, "correct", 3, CorrectionKind.Loss, 29, "x") == (
        "SupplyCustodyExceedsCorrectable", (3, 29, 28))


# ------------------------------------------------------------------------------------ recall
def test_the_sender_recalls_goods_in_transit_after_the_timeout(world: World) -> None:
    c = world.custody
    charity, warehouse = world.id(world.charity), world.id(world.warehouse)
    lot = world.register(100)
    transfer_id, moved = world.send(world.charity, lot, 100, world.warehouse)
    sent_at = c.transfer(transfer_id).sent_at
    assert c.view("transitTimeout") == WEEK
    # The last second of the week is still the receiver's.
    assert c.refused(world.charity, "recall", transfer_id, "x", at=sent_at + WEEK) == (
        "SupplyCustodyRecallTooEarly", (transfer_id, Status.Active, sent_at + WEEK))
    assert c.refused(world.warehouse, "recall", transfer_id, "x") == ("SupplyCustodyNotSender", (transfer_id, warehouse))
    assert c.refused(world.charity, "recall", 9, "x") == ("SupplyCustodyUnknownTransfer", (9,))
    assert c.refused(world.charity, "recall", transfer_id, "") == ("SupplyCustodyMissingField", ("reason",))

    sent = c.ok(world.charity, "recall", transfer_id, "never acknowledged")
    assert sent.events == [Event("TransferRecalled", {
        "eventId": 3, "transferId": transfer_id, "lotId": moved, "memberId": charity,
        "account": world.charity.address, "quantity": 100, "receiverStatus": Status.Active,
        "reason": "never acknowledged"})]
    assert c.transfer(transfer_id) == TransferView(moved, 0, charity, warehouse, 100, 0, sent_at, world.now(),
                                                   TransferStatus.Recalled)
    assert c.event(3) == EventView(EventKind.Recalled, world.now(), charity, moved, 0, transfer_id, 0, 100, 0)
    assert c.lot(moved)[:10] == (100, 100, 0, 0, 0, 0, charity, 0, lot, 0)
    # Settled: the receiver cannot accept any more, nor the sender recall twice.
    assert c.refused(world.warehouse, "accept", transfer_id, 100, "") == (
        "SupplyCustodyTransferSettled", (transfer_id, TransferStatus.Recalled))
    assert c.refused(world.charity, "recall", transfer_id, "again") == (
        "SupplyCustodyTransferSettled", (transfer_id, TransferStatus.Recalled))
    # A settled transfer cannot be recalled either.
    accepted, _ = world.send(world.charity, lot, 10, world.warehouse)
    c.ok(world.warehouse, "accept", accepted, 10, "")
    assert c.refused(world.charity, "recall", accepted, "x", at=world.now() + WEEK + 1) == (
        "SupplyCustodyTransferSettled", (accepted, TransferStatus.Accepted))
    # The sender corrects the count of what came back, like after a refusal.
    c.ok(world.charity, "correct", 3, CorrectionKind.Loss, 4, "4 boxes were not returned")
    assert c.lot(moved)[:5] == (100, 86, 0, 0, 4)


# ------------------------------------------------------------------------------------ views
def test_views_of_unknown_ids_revert(world: World) -> None:
    c = world.custody
    world.register(1)
    for fn, value, error in [("getLot", 2, "SupplyCustodyUnknownLot"), ("getLot", 0, "SupplyCustodyUnknownLot"),
                             ("getIntake", 2, "SupplyCustodyUnknownLot"),
                             ("getTransfer", 1, "SupplyCustodyUnknownTransfer"),
                             ("getEvent", 0, "SupplyCustodyUnknownEvent"),
                             ("getEvent", 2, "SupplyCustodyUnknownEvent")]:
        assert c.revert_of(None, fn, value) == (error, (value,))


def test_conservation_is_enforced_after_a_change(world: World) -> None:
    """Unreachable through the API, so the lot is corrupted in a throwaway state (the way
    ``eth_call`` state overrides work): one unit too many held makes the next change revert."""
    c = world.custody
    lot = world.register(100)
    layout = ARTIFACT["storageLayout"]
    (lots,) = [s for s in layout["storage"] if s["label"] == "_lots"]
    lot_type = layout["types"][layout["types"][lots["type"]]["value"]]
    (held,) = [m for m in lot_type["members"] if m["label"] == "held"]
    base = int.from_bytes(keccak(abi_encode(["uint256", "uint256"], [lot, int(lots["slot"])])), "big")

    chain = world.ledger.chain
    header = chain.head
    call = {"from": world.charity.canonical, "data": CUSTODY.encode("consume", lot, 1, "bafy")}
    with chain.chain_class(chain.db).get_vm(header).in_costless_state() as state:
        assert state.get_storage(c.address, base + int(held["slot"])) == 100
        state.set_storage(c.address, base + int(held["slot"]), 101)
        unsigned = chain.vm_class.create_unsigned_transaction(
            nonce=state.get_nonce(world.charity.canonical), gas_price=0, gas=5_000_000, to=c.address,
            value=0, data=call["data"])
        # SpoofTransaction proxies every SignedTransactionAPI attribute (py-evm's own pattern).
        spoof = SpoofTransaction(unsigned, from_=call["from"])
        computation = state.costless_execute_transaction(cast(SignedTransactionAPI, spoof))
    assert computation.is_error
    assert CUSTODY.decode_error(bytes(computation.output)) == (
        "SupplyCustodyConservationViolated", (lot, 100, 101))
    # The real state is untouched and balances.
    assert c.lot(lot).held == 100 and c.revert_or_none(world.charity, "consume", lot, 1, "bafy") is None


# ------------------------------------------------------------------------------------ a journey
def test_a_donation_from_intake_to_the_ward(world: World) -> None:
    """A full custody path with every kind of step; the driver checks every lot balances after each."""
    c = world.custody
    lot = world.register(1000)
    t1, lot_w = world.send(world.charity, lot, 600, world.warehouse)
    c.ok(world.warehouse, "accept", t1, 600, "")
    t2, lot_l = world.send(world.warehouse, lot_w, 600, world.logistics)
    assert lot_l == lot_w
    c.ok(world.logistics, "accept", t2, 597, "3 crushed")
    t3, lot_h = world.send(world.logistics, lot_l, 500, world.hospital)
    c.ok(world.hospital, "accept", t3, 500, "")
    c.ok(world.hospital, "consume", lot_h, 480, "bafy-issue-slips")
    c.ok(world.logistics, "correct", 5, CorrectionKind.Found, 3, "found in the depot")
    c.ok(world.charity, "consume", lot, 400, "bafy-street-distribution")
    events = [c.event(i) for i in range(1, c.view("eventCount") + 1)]
    assert [e.kind for e in events] == [EventKind.Registered, EventKind.Sent, EventKind.Accepted, EventKind.Sent,
                                        EventKind.Accepted, EventKind.Sent, EventKind.Accepted,
                                        EventKind.Consumed, EventKind.Corrected, EventKind.Consumed]
    assert c.lot(lot)[:6] == (1000, 0, 0, 400, 0, 600)
    assert c.lot(lot_w)[:6] == (600, 100, 0, 0, 0, 500)
    assert c.lot(lot_h)[:6] == (500, 20, 0, 480, 0, 0)
    # The donor's receipt code finds the donation; every lot that descends from it carries it.
    code = c.receipt_code(lot, COMMIT)
    assert c.view("lotIdByReceipt", code) == lot
    assert {c.lot(i).receipt_code for i in (lot, lot_w, lot_h)} == {code}


# ------------------------------------------------------------------------------------ stateful
@dataclass
class ModelLot:
    original: int
    holder: int
    root: int
    parent: int = 0
    held: int = 0
    in_transit: int = 0
    consumed: int = 0
    losses: int = 0
    child_originals: int = 0
    pending: int = 0

    def numbers(self) -> tuple[int, ...]:
        return (self.original, self.held, self.in_transit, self.consumed, self.losses, self.child_originals,
                self.holder, self.parent, self.root, self.pending)


@dataclass
class ModelTransfer:
    lot_id: int
    parent_lot_id: int
    sender: int
    receiver: int
    quantity: int
    sent_at: int
    received: int = 0
    settled_at: int = 0
    status: TransferStatus = TransferStatus.InTransit

    def view(self) -> TransferView:
        return TransferView(self.lot_id, self.parent_lot_id, self.sender, self.receiver, self.quantity,
                            self.received, self.sent_at, self.settled_at, self.status)


@dataclass
class ModelEvent:
    """What an event counted, and for whom: the bounds of the corrections it can take."""

    lot_id: int
    recorder: int  # the acting member; may correct a loss it recorded (Found)
    gainer: int  # the member whose held quantity it increased; may correct that (Loss)
    added: int = 0
    lost: int = 0
    loss_corrected: int = 0
    found_corrected: int = 0


@dataclass
class Model:
    lots: dict[int, ModelLot] = field(default_factory=dict)
    transfers: dict[int, ModelTransfer] = field(default_factory=dict)
    events: list[ModelEvent] = field(default_factory=list)  # event id i is events[i - 1]


PICK = st.integers(min_value=0, max_value=10**6)


class CustodyMachine(RuleBasedStateMachine):
    """Random custody histories across charity, warehouse, logistics and hospital, recalls and
    corrections included; after every step each lot's ``lot()`` view must equal the model and
    balance, and every event's corrections stay within what it counted."""

    def __init__(self, devnet: DevNet) -> None:
        super().__init__()
        self.world = World.build(devnet)
        self.c = self.world.custody
        w = self.world
        self.members = {w.id(s): s for s in (w.charity, w.warehouse, w.logistics, w.hospital)}
        self.consumers = {w.id(w.charity), w.id(w.hospital)}
        self.model = Model()

    # ------------------------------------------------------------- helpers
    def _one(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> Sent:
        """One rule, one block: the call must succeed."""
        sent = self.c.ok(signer, fn, *args, at=at)
        assert len(sent.built.receipts) == 1
        return sent

    def _event(self, event: ModelEvent) -> int:
        self.model.events.append(event)
        return len(self.model.events)

    def _free_lots(self, holders: set[int] | None = None) -> list[int]:
        """Lots whose holder may act: not in transit, something held."""
        return [i for i, lot in self.model.lots.items()
                if lot.pending == 0 and lot.held > 0 and (holders is None or lot.holder in holders)]

    def _pending(self) -> list[int]:
        return [i for i, t in self.model.transfers.items() if t.status == TransferStatus.InTransit]

    def _correctable(self, kind: int) -> list[int]:
        """Event ids a correction of ``kind`` may be made against now, by the member it names."""
        out = []
        for event_id, e in enumerate(self.model.events, start=1):
            lot = self.model.lots[e.lot_id]
            party = e.gainer if kind == CorrectionKind.Loss else e.recorder
            left = e.added - e.loss_corrected if kind == CorrectionKind.Loss else e.lost - e.found_corrected
            if left > 0 and lot.pending == 0 and lot.holder == party and (kind == CorrectionKind.Found or lot.held > 0):
                out.append(event_id)
        return out

    def _return(self, transfer_id: int, status: int) -> ModelTransfer:
        """Refusal or recall: the goods go back into the sender's held quantity."""
        t = self.model.transfers[transfer_id]
        lot = self.model.lots[t.lot_id]
        lot.in_transit -= t.quantity
        lot.held += t.quantity
        lot.pending = 0
        t.settled_at, t.status = self.world.now(), status
        assert lot.holder == t.sender
        return t

    # ------------------------------------------------------------- rules
    @initialize(quantity=st.integers(1, 500))
    def first_intake(self, quantity: int) -> None:
        self.intake(quantity)

    # New donations only while few lots are free to move, so steps go to custody, not intake.
    @precondition(lambda self: len(self._free_lots()) < 3)
    @rule(quantity=st.integers(1, 500))
    def intake(self, quantity: int) -> None:
        charity = self.world.id(self.world.charity)
        commitment = keccak(quantity.to_bytes(32, "big"))
        sent = self._one(self.world.charity, "registerLot", MASK, quantity, PCS, commitment, "", "bafy", 0)
        lot_id = len(self.model.lots) + 1
        self.model.lots[lot_id] = ModelLot(quantity, charity, lot_id, held=quantity)
        event_id = self._event(ModelEvent(lot_id, charity, charity, added=quantity))
        (registered,) = sent.events
        assert registered.name == "LotRegistered"
        assert (registered.args["eventId"], registered.args["lotId"], registered.args["quantity"]) == (
            event_id, lot_id, quantity)
        assert registered.args["receiptCode"] == self.c.receipt_code(lot_id, commitment)

    def _send(self, lot_id: int, quantity: int, to_pick: int) -> None:
        lot = self.model.lots[lot_id]
        receivers = sorted(m for m in self.members if m != lot.holder)
        receiver = receivers[to_pick % len(receivers)]
        sender = self.members[lot.holder]
        sent = self._one(sender, "transfer", lot_id, quantity, receiver)
        transfer_id = len(self.model.transfers) + 1
        if quantity == lot.held:
            moved, parent = lot_id, 0
            lot.held, lot.in_transit, lot.pending = 0, quantity, transfer_id
        else:
            moved, parent = len(self.model.lots) + 1, lot_id
            lot.held -= quantity
            lot.child_originals += quantity
            self.model.lots[moved] = ModelLot(quantity, lot.holder, lot.root, parent=lot_id, in_transit=quantity,
                                              pending=transfer_id)
        event_id = self._event(ModelEvent(moved, lot.holder, lot.holder))
        self.model.transfers[transfer_id] = ModelTransfer(moved, parent, lot.holder, receiver, quantity,
                                                          self.world.now())
        expected = [Event("TransferSent", {"eventId": event_id, "transferId": transfer_id, "lotId": moved,
                                           "toMemberId": receiver, "fromMemberId": lot.holder,
                                           "account": sender.address, "parentLotId": parent, "quantity": quantity})]
        if parent:
            expected.insert(0, Event("LotSplit", {"eventId": event_id, "parentLotId": lot_id, "childLotId": moved,
                                                  "memberId": lot.holder, "quantity": quantity}))
        assert sent.events == expected

    @precondition(lambda self: bool(self._free_lots()))
    @rule(pick=PICK, to_pick=PICK)
    def send_whole(self, pick: int, to_pick: int) -> None:
        lots = self._free_lots()
        lot_id = lots[pick % len(lots)]
        self._send(lot_id, self.model.lots[lot_id].held, to_pick)

    @precondition(lambda self: any(self.model.lots[i].held > 1 for i in self._free_lots()))
    @rule(pick=PICK, to_pick=PICK, part=PICK)
    def send_part(self, pick: int, to_pick: int, part: int) -> None:
        lots = [i for i in self._free_lots() if self.model.lots[i].held > 1]
        lot_id = lots[pick % len(lots)]
        self._send(lot_id, 1 + part % (self.model.lots[lot_id].held - 1), to_pick)

    @precondition(lambda self: bool(self._pending()))
    @rule(pick=PICK, shortfall=st.integers(0, 3))
    def accept(self, pick: int, shortfall: int) -> None:
        pending = self._pending()
        transfer_id = pending[pick % len(pending)]
        t = self.model.transfers[transfer_id]
        received = max(0, t.quantity - shortfall)
        reason = "damaged in transit" if received < t.quantity else ""
        receiver = self.members[t.receiver]
        sent = self._one(receiver, "accept", transfer_id, received, reason)
        lot = self.model.lots[t.lot_id]
        lot.in_transit -= t.quantity
        lot.held += received
        lot.losses += t.quantity - received
        lot.holder, lot.pending = t.receiver, 0
        t.received, t.settled_at, t.status = received, self.world.now(), TransferStatus.Accepted
        event_id = self._event(ModelEvent(t.lot_id, t.receiver, t.receiver, added=received, lost=t.quantity - received))
        assert sent.events == [Event("TransferAccepted", {
            "eventId": event_id, "transferId": transfer_id, "lotId": t.lot_id, "memberId": t.receiver,
            "account": receiver.address, "sent": t.quantity, "received": received, "lossReason": reason})]

    @precondition(lambda self: bool(self._pending()))
    @rule(pick=PICK)
    def refuse(self, pick: int) -> None:
        pending = self._pending()
        transfer_id = pending[pick % len(pending)]
        receiver = self.members[self.model.transfers[transfer_id].receiver]
        sent = self._one(receiver, "refuse", transfer_id, "not ordered")
        t = self._return(transfer_id, TransferStatus.Refused)
        # Recorded by the receiver, but the goods went back into the sender's count.
        event_id = self._event(ModelEvent(t.lot_id, t.receiver, t.sender, added=t.quantity))
        assert sent.events == [Event("TransferRefused", {
            "eventId": event_id, "transferId": transfer_id, "lotId": t.lot_id, "memberId": t.receiver,
            "account": receiver.address, "quantity": t.quantity, "reason": "not ordered"})]

    @precondition(lambda self: bool(self._pending()))
    @rule(pick=PICK, suspend=st.booleans())
    def recall(self, pick: int, suspend: bool) -> None:
        """The sender takes goods back: after the receiver's suspension (then reinstated), or once
        the transit timeout has passed (the block is sealed a week and a second after sending)."""
        pending = self._pending()
        transfer_id = pending[pick % len(pending)]
        t = self.model.transfers[transfer_id]
        sender = self.members[t.sender]
        at = None
        if suspend:
            self.world.suspend(self.members[t.receiver])
        else:
            at = max(self.world.now(), t.sent_at + WEEK) + 1
        sent = self._one(sender, "recall", transfer_id, "receiver silent", at=at)
        status = Status.Suspended if suspend else Status.Active
        if suspend:
            self.world.reinstate(self.members[t.receiver])
        self._return(transfer_id, TransferStatus.Recalled)
        t.settled_at = sent.timestamp
        event_id = self._event(ModelEvent(t.lot_id, t.sender, t.sender, added=t.quantity))
        assert sent.events == [Event("TransferRecalled", {
            "eventId": event_id, "transferId": transfer_id, "lotId": t.lot_id, "memberId": t.sender,
            "account": sender.address, "quantity": t.quantity, "receiverStatus": status,
            "reason": "receiver silent"})]

    @precondition(lambda self: bool(self._free_lots(self.consumers)))
    @rule(pick=PICK, amount=PICK)
    def consume(self, pick: int, amount: int) -> None:
        lots = self._free_lots(self.consumers)
        lot_id = lots[pick % len(lots)]
        lot = self.model.lots[lot_id]
        quantity = 1 + amount % lot.held
        holder = self.members[lot.holder]
        sent = self._one(holder, "consume", lot_id, quantity, "bafy-slip")
        lot.held -= quantity
        lot.consumed += quantity
        event_id = self._event(ModelEvent(lot_id, lot.holder, lot.holder))
        assert sent.events == [Event("LotConsumed", {
            "eventId": event_id, "lotId": lot_id, "memberId": lot.holder, "account": holder.address,
            "quantity": quantity, "documentsCid": "bafy-slip"})]

    @precondition(lambda self: bool(self._correctable(CorrectionKind.Loss))
                  or bool(self._correctable(CorrectionKind.Found)))
    @rule(pick=PICK, found=st.booleans(), amount=PICK)
    def correct(self, pick: int, found: bool, amount: int) -> None:
        kind = CorrectionKind.Found if found else CorrectionKind.Loss
        options = self._correctable(kind)
        if not options:
            kind = CorrectionKind.Loss if found else CorrectionKind.Found
            options = self._correctable(kind)
        event_id = options[pick % len(options)]
        e = self.model.events[event_id - 1]
        lot = self.model.lots[e.lot_id]
        if kind == CorrectionKind.Loss:
            limit = min(e.added - e.loss_corrected, lot.held)
        else:
            limit = e.lost - e.found_corrected
        quantity = 1 + amount % limit
        corrector = self.members[lot.holder]
        sent = self._one(corrector, "correct", event_id, kind, quantity, "recount")
        if kind == CorrectionKind.Loss:
            lot.held -= quantity
            lot.losses += quantity
            e.loss_corrected += quantity
            correction = ModelEvent(e.lot_id, lot.holder, lot.holder, lost=quantity)
        else:
            lot.held += quantity
            lot.losses -= quantity
            e.found_corrected += quantity
            correction = ModelEvent(e.lot_id, lot.holder, lot.holder, added=quantity)
        assert sent.events == [Event("CorrectionRecorded", {
            "eventId": self._event(correction), "correctedEventId": event_id, "lotId": e.lot_id,
            "memberId": lot.holder, "account": corrector.address, "kind": kind, "quantity": quantity,
            "reason": "recount"})]

    @precondition(lambda self: bool(self._free_lots()))
    @rule(pick=PICK)
    def wrong_moves_are_refused(self, pick: int) -> None:
        """Cheap negative probes by eth_call: over-sending, a stranger's move, a second settle, a
        correction by a member whose count the event did not record, an early recall."""
        lots = self._free_lots()
        lot_id = lots[pick % len(lots)]
        lot = self.model.lots[lot_id]
        holder = self.members[lot.holder]
        receiver = next(m for m in self.members if m != lot.holder)
        assert self.c.revert_of(holder, "transfer", lot_id, lot.held + 1, receiver) == (
            "SupplyCustodyExceedsHeld", (lot_id, lot.held + 1, lot.held))
        assert self.c.revert_of(self.members[receiver], "transfer", lot_id, 1, lot.holder) == (
            "SupplyCustodyNotHolder", (lot_id, receiver))
        settled = [i for i, t in self.model.transfers.items() if t.status != TransferStatus.InTransit]
        if settled:
            t = self.model.transfers[settled[pick % len(settled)]]
            assert self.c.revert_of(self.members[t.receiver], "refuse", settled[pick % len(settled)], "x") == (
                "SupplyCustodyTransferSettled", (settled[pick % len(settled)], t.status))
        gains = [i for i, e in enumerate(self.model.events, start=1) if e.added > 0]
        if gains:
            event_id = gains[pick % len(gains)]
            party = self.model.events[event_id - 1].gainer
            stranger = next(m for m in self.members if m != party)
            assert self.c.revert_of(self.members[stranger], "correct", event_id, CorrectionKind.Loss, 1, "x") == (
                "SupplyCustodyNotEventParty", (event_id, stranger, party))
        pending = [i for i, t in self.model.transfers.items()
                   if t.status == TransferStatus.InTransit and self.world.now() <= t.sent_at + WEEK]
        if pending:
            t = self.model.transfers[pending[0]]
            assert self.c.revert_of(self.members[t.sender], "recall", pending[0], "x") == (
                "SupplyCustodyRecallTooEarly", (pending[0], Status.Active, t.sent_at + WEEK))

    # ------------------------------------------------------------- invariants
    @invariant()
    def every_lot_matches_the_model_and_balances(self) -> None:
        assert self.c.counts() == (len(self.model.lots), len(self.model.transfers), len(self.model.events))
        for lot_id, expected in self.model.lots.items():
            lot = self.c.lot(lot_id)
            assert lot.conserved(), f"lot {lot_id}: {lot}"
            assert sum(expected.numbers()[1:6]) == expected.original
            assert lot[:10] == expected.numbers(), f"lot {lot_id}"
            children = [m.original for m in self.model.lots.values() if m.parent == lot_id]
            assert lot.child_originals == sum(children)
        for transfer_id, t in self.model.transfers.items():
            assert self.c.transfer(transfer_id) == t.view()
        for event_id, e in enumerate(self.model.events, start=1):
            assert self.c.view("correctedOf", event_id) == (e.loss_corrected, e.found_corrected)
            assert e.loss_corrected <= e.added and e.found_corrected <= e.lost


def test_random_custody_histories_conserve_every_lot(devnet: DevNet) -> None:
    run_state_machine_as_test(
        lambda: CustodyMachine(devnet),  # type: ignore[arg-type]  # a factory is documented usage
        settings=settings(max_examples=15, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
