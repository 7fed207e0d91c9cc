"""SupplyCustody on the project's own chain, in-process (PRODUCT.md, "Supply custody").

The chain is ``node.chain.LedgerChain`` over ``MemoryKV`` (the in-memory key-value store meant for
unit tests) through ``helpers.Ledger``: transactions are signed with eth_account and sealed with
``LedgerChain.build_block``, views and expected reverts go through ``LedgerChain.call``.

Covered: every role check and custom error with its arguments, every event with its arguments,
conservation of every lot after every successful step (the driver checks it), and a Hypothesis
state machine that drives random custody histories against a Python model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple, cast

import pytest
from eth.abc import SignedTransactionAPI
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_typing import Address
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import get_abi_output_types
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
from helpers import (Action, ContractAbi, Event, Ledger, MemberKind, Sent, Signer, Status, contract_address,
                     payload)
from node.errors import ExecutionReverted

ARTIFACT = artifact("SupplyCustody")


class TransferStatus(IntEnum):
    NONE = 0
    InTransit = 1
    Accepted = 2
    Refused = 3


class EventKind(IntEnum):
    NONE = 0
    Registered = 1
    Sent = 2
    Accepted = 3
    Refused = 4
    Consumed = 5
    Corrected = 6


class CorrectionKind(IntEnum):
    Loss = 0
    Found = 1


class LotView(NamedTuple):
    """``SupplyCustody.Lot`` as ``getLot(lotId)`` returns it."""

    original: int
    held: int
    in_transit: int
    consumed: int
    losses: int
    child_originals: int
    holder: int
    parent: int
    root: int
    pending_transfer: int
    item_code: bytes
    unit: bytes
    expiry: int
    receipt_code: bytes

    def conserved(self) -> bool:
        return self.original == (self.held + self.in_transit + self.consumed + self.losses
                                 + self.child_originals)


class IntakeView(NamedTuple):
    charity_id: int
    donor_commitment: bytes
    registered_at: int
    donor_public_name: str
    documents_cid: str


class TransferView(NamedTuple):
    lot_id: int
    parent_lot_id: int
    from_member_id: int
    to_member_id: int
    quantity: int
    received: int
    sent_at: int
    settled_at: int
    status: int


class EventView(NamedTuple):
    kind: int
    at: int
    member_id: int
    lot_id: int
    other_lot_id: int


class CustodyAbi(ContractAbi):
    """The SupplyCustody codec. ``transfer`` is overloaded (the action and the view); outputs are
    decoded by name and input count."""

    def decode_output(self, fn: str, output: bytes, arity: int | None = None) -> Any:
        (fn_abi,) = [e for e in self.abi if e.get("type") == "function" and e["name"] == fn
                     and (arity is None or len(e["inputs"]) == arity)]
        values = abi_decode(get_abi_output_types(fn_abi), output)  # type: ignore[arg-type]
        return values[0] if len(values) == 1 else values


CUSTODY = CustodyAbi(ARTIFACT["abi"])


def b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


MASK = b32("GTIN:06901234567892")
PCS = b32("pcs")
COMMIT = keccak(b"salt-1|Acme Medical Ltd")
EXPIRY = 1_900_000_000


class Custody:
    """One SupplyCustody deployment on a Ledger, with a driver that checks conservation."""

    def __init__(self, ledger: Ledger, deployer: Signer, registry: bytes | None = None) -> None:
        self.ledger = ledger
        nonce = ledger.nonce(deployer)
        sent = ledger.send(deployer, None, self.init_code(registry or ledger.registry))
        assert sent.status == 1, "SupplyCustody deployment failed"
        self.address = Address(contract_address(deployer.canonical, nonce))
        assert ledger.chain.state_at(ledger.chain.head).get_code(self.address)

    @staticmethod
    def init_code(registry: bytes) -> bytes:
        return bytes.fromhex(ARTIFACT["bytecode"][2:]) + abi_encode(["address"], [registry])

    # ----------------------------------------------------------------- writes
    def tx(self, signer: Signer, fn: str, *args: Any) -> SignedTransactionAPI:
        return self.ledger.sign(signer, self.address, CUSTODY.encode(fn, *args))

    def block(self, txs: Sequence[SignedTransactionAPI]) -> list[Sent]:
        """Seal one block holding ``txs``; every lot must balance afterwards."""
        built = self.ledger.seal(txs)
        outcomes = [self.ledger.outcome(built, tx, CUSTODY, self.address) for tx in txs]
        self.assert_all_conserved()
        return outcomes

    def send(self, signer: Signer, fn: str, *args: Any) -> Sent:
        (sent,) = self.block([self.tx(signer, fn, *args)])
        return sent

    def ok(self, signer: Signer, fn: str, *args: Any) -> Sent:
        """Send, and require success (with the custom error in the message if not)."""
        before = self.revert_or_none(signer, fn, *args)
        sent = self.send(signer, fn, *args)
        assert sent.status == 1, f"{fn}{args} reverted: {before}"
        return sent

    def refused(self, signer: Signer, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        """The custom error ``fn(*args)`` from ``signer`` reverts with, checked both by ``eth_call``
        and by a sealed transaction that must revert without events or any state change."""
        error = self.revert_of(signer, fn, *args)
        state = self.snapshot()
        sent = self.send(signer, fn, *args)
        assert sent.status == 0 and sent.events == [], f"{fn}{args} should have reverted"
        assert self.snapshot() == state
        return error

    # ----------------------------------------------------------------- reads
    def view(self, fn: str, *args: Any, arity: int | None = None) -> Any:
        output = self.ledger.chain.call({"to": self.address, "data": CUSTODY.encode(fn, *args)},
                                        self.ledger.chain.head)
        return CUSTODY.decode_output(fn, output, arity)

    def lot(self, lot_id: int) -> LotView:
        return LotView(*self.view("getLot", lot_id))

    def intake(self, lot_id: int) -> IntakeView:
        return IntakeView(*self.view("getIntake", lot_id))

    def transfer(self, transfer_id: int) -> TransferView:
        return TransferView(*self.view("getTransfer", transfer_id))

    def event(self, event_id: int) -> EventView:
        return EventView(*self.view("getEvent", event_id))

    def counts(self) -> tuple[int, int, int]:
        return self.view("lotCount"), self.view("transferCount"), self.view("eventCount")

    def snapshot(self) -> tuple[Any, ...]:
        """Everything the contract exposes, to show that a reverted call changed nothing."""
        lots, transfers, events = self.counts()
        return ((lots, transfers, events),
                tuple(self.lot(i) for i in range(1, lots + 1)),
                tuple(self.transfer(i) for i in range(1, transfers + 1)),
                tuple(self.event(i) for i in range(1, events + 1)))

    def assert_all_conserved(self) -> None:
        for lot_id in range(1, self.view("lotCount") + 1):
            lot = self.lot(lot_id)
            assert lot.conserved(), f"lot {lot_id} does not balance: {lot}"

    def revert_or_none(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]] | None:
        call: dict[str, Any] = {"to": self.address, "data": CUSTODY.encode(fn, *args)}
        if signer is not None:
            call["from"] = signer.canonical
        try:
            self.ledger.chain.call(call, self.ledger.chain.head)
        except ExecutionReverted as exc:
            return CUSTODY.decode_error(exc.data)
        return None

    def revert_of(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        error = self.revert_or_none(signer, fn, *args)
        assert error is not None, f"{fn}{args} from {signer} did not revert"
        return error

    def receipt_code(self, lot_id: int, commitment: bytes) -> bytes:
        """keccak256(abi.encode(block.chainid, address(this), lotId, donorCommitment))."""
        return keccak(abi_encode(["uint256", "address", "uint256", "bytes32"],
                                 [self.ledger.chain.chain_id, self.address, lot_id, commitment]))


@dataclass
class World:
    """A devnet ledger with one SupplyCustody deployed, and the dev members by role."""

    ledger: Ledger
    custody: Custody
    department: Signer
    transport: Signer
    charity: Signer
    warehouse: Signer
    logistics: Signer
    hospital: Signer
    regulator: Signer
    auditor: Signer
    admin: Signer

    @classmethod
    def build(cls, devnet: DevNet) -> World:
        ledger = Ledger(devnet)
        department, transport, charity, warehouse, logistics, hospital, regulator, auditor = ledger.members[:8]
        return cls(ledger, Custody(ledger, ledger.admins[0]), department, transport, charity, warehouse,
                   logistics, hospital, regulator, auditor, ledger.admins[0])

    def id(self, signer: Signer) -> int:
        return self.ledger.member_id(signer)

    def now(self) -> int:
        return int(self.ledger.chain.head.timestamp)

    def register(self, quantity: int = 1000, commitment: bytes = COMMIT, name: str = "Acme Medical Ltd",
                 documents: str = "bafy-intake", expiry: int = EXPIRY) -> int:
        sent = self.custody.ok(self.charity, "registerLot", MASK, quantity, PCS, commitment, name,
                               documents, expiry)
        (registered,) = sent.events
        return int(registered.args["lotId"])

    def send(self, sender: Signer, lot_id: int, quantity: int, receiver: Signer) -> tuple[int, int]:
        sent = self.custody.ok(sender, "transfer", lot_id, quantity, self.id(receiver))
        moved = sent.events[-1]
        assert moved.name == "TransferSent"
        return int(moved.args["transferId"]), int(moved.args["lotId"])

    def suspend(self, member: Signer) -> None:
        self.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], self.id(member), "audit hold"))
        assert self.ledger.member(self.id(member)).status == Status.Suspended


@pytest.fixture
def world(devnet: DevNet) -> World:
    return World.build(devnet)


# ------------------------------------------------------------------------------------ deployment
def test_constructor_needs_a_registry_with_code(world: World) -> None:
    stranger = Signer.fresh("not a registry")
    data = Custody.init_code(stranger.canonical)
    with pytest.raises(ExecutionReverted) as raised:
        world.ledger.chain.call({"from": world.admin.canonical, "data": data}, world.ledger.chain.head)
    assert CUSTODY.decode_error(raised.value.data) == ("SupplyCustodyInvalidRegistry", (stranger.address,))
    sent = world.ledger.send(world.admin, None, data)
    assert sent.status == 0
    assert to_checksum_address(world.custody.view("registry")) == to_checksum_address(world.ledger.registry)


# ------------------------------------------------------------------------------------ intake
def test_register_lot_records_the_donation_and_emits_its_receipt_code(world: World) -> None:
    c, charity = world.custody, world.id(world.charity)
    sent = c.ok(world.charity, "registerLot", MASK, 1000, PCS, COMMIT, "Acme Medical Ltd", "bafy-intake", EXPIRY)
    receipt = c.receipt_code(1, COMMIT)
    assert sent.events == [Event("LotRegistered", {
        "eventId": 1, "lotId": 1, "charityId": charity, "receiptCode": receipt, "itemCode": MASK,
        "quantity": 1000, "unit": PCS, "donorCommitment": COMMIT, "donorPublicName": "Acme Medical Ltd",
        "documentsCid": "bafy-intake", "expiry": EXPIRY})]
    at = world.now()
    assert c.lot(1) == LotView(1000, 1000, 0, 0, 0, 0, charity, 0, 1, 0, MASK, PCS, EXPIRY, receipt)
    assert c.intake(1) == IntakeView(charity, COMMIT, at, "Acme Medical Ltd", "bafy-intake")
    assert c.event(1) == EventView(EventKind.Registered, at, charity, 1, 0)
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
            "SupplyCustodyUnauthorizedKind", (world.id(signer), kind))


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
             ("correct", (1, lot, CorrectionKind.Loss, 1, "why"))]
    for fn, args in calls:
        assert c.revert_of(stranger, fn, *args) == ("SupplyCustodyNotActiveAccount", (stranger.address,))
        assert c.revert_of(None, fn, *args) == ("SupplyCustodyNotActiveAccount", ("0x" + "00" * 20,))
    # The node refuses the stranger's transaction before the contract sees it.
    sent = c.send(stranger, "consume", lot, 1, "bafy")
    assert sent.status is None and "not an active member" in sent.built.dropped[0][1]

    # A suspended receiver can neither be sent goods nor act; goods already sent to it stay in transit.
    world.suspend(world.warehouse)
    assert c.revert_of(world.warehouse, "accept", transfer_id, 40, "") == (
        "SupplyCustodyNotActiveAccount", (world.warehouse.address,))
    assert c.refused(world.charity, "transfer", lot, 1, world.id(world.warehouse)) == (
        "SupplyCustodyInactiveReceiver", (world.id(world.warehouse), Status.Suspended))
    assert c.transfer(transfer_id).status == TransferStatus.InTransit


# ------------------------------------------------------------------------------------ transfer
def test_sending_the_whole_held_quantity_moves_the_lot_itself(world: World) -> None:
    c = world.custody
    lot = world.register(300)
    charity, warehouse = world.id(world.charity), world.id(world.warehouse)
    sent = c.ok(world.charity, "transfer", lot, 300, warehouse)
    sent_at = world.now()
    assert sent.events == [Event("TransferSent", {
        "eventId": 2, "transferId": 1, "lotId": lot, "toMemberId": warehouse, "fromMemberId": charity,
        "quantity": 300})]
    assert c.lot(lot)[:10] == (300, 0, 300, 0, 0, 0, charity, 0, lot, 1)
    assert c.transfer(1) == TransferView(lot, 0, charity, warehouse, 300, 0, sent_at, 0,
                                         TransferStatus.InTransit)
    assert c.event(2) == EventView(EventKind.Sent, sent_at, charity, lot, 0)
    assert c.counts() == (1, 1, 2)

    sent = c.ok(world.warehouse, "accept", 1, 300, "")
    assert sent.events == [Event("TransferAccepted", {
        "eventId": 3, "transferId": 1, "lotId": lot, "memberId": warehouse, "sent": 300, "received": 300,
        "lossReason": ""})]
    settled = world.now()
    assert settled > sent_at
    assert c.lot(lot)[:10] == (300, 300, 0, 0, 0, 0, warehouse, 0, lot, 0)
    assert c.transfer(1) == TransferView(lot, 0, charity, warehouse, 300, 300, sent_at, settled,
                                         TransferStatus.Accepted)
    assert c.event(3) == EventView(EventKind.Accepted, settled, warehouse, lot, 0)


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
                               "fromMemberId": charity, "quantity": 250}),
    ]
    assert c.lot(lot) == LotView(1000, 750, 0, 0, 0, 250, charity, 0, lot, 0, MASK, PCS, EXPIRY, receipt)
    assert c.lot(2) == LotView(250, 0, 250, 0, 0, 0, charity, lot, lot, 1, MASK, PCS, EXPIRY, receipt)
    assert c.transfer(1) == TransferView(2, lot, charity, logistics, 250, 0, world.now(), 0,
                                         TransferStatus.InTransit)
    assert c.event(2) == EventView(EventKind.Sent, world.now(), charity, 2, lot)
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
            "SupplyCustodyUnauthorizedKind", (world.id(signer), kind))
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
    assert c.refused(world.charity, "correct", 1, lot, CorrectionKind.Loss, 1, "x") == (
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
        "eventId": 3, "transferId": transfer_id, "lotId": child, "memberId": warehouse, "sent": 200,
        "received": 190, "lossReason": "10 boxes crushed in the truck"})]
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
        "eventId": 3, "transferId": transfer_id, "lotId": lot, "memberId": hospital, "quantity": 100,
        "reason": "wrong item"})]
    assert c.lot(lot)[:10] == (100, 100, 0, 0, 0, 0, charity, 0, lot, 0)
    assert c.transfer(transfer_id) == TransferView(lot, 0, charity, hospital, 100, 0, sent_at, world.now(),
                                                   TransferStatus.Refused)
    assert c.event(3) == EventView(EventKind.Refused, world.now(), hospital, lot, 0)

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
        "eventId": 4, "lotId": child, "memberId": hospital, "quantity": 25, "documentsCid": "bafy-ward-3-issue-slip"})]
    assert c.lot(child)[:7] == (40, 15, 0, 25, 0, 0, hospital)
    assert c.event(4) == EventView(EventKind.Consumed, world.now(), hospital, child, 0)
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
            "SupplyCustodyUnauthorizedKind", (world.id(signer), kind))


# ------------------------------------------------------------------------------------ corrections
def test_corrections_are_new_events_pointing_at_the_wrong_one(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    transfer_id, child = world.send(world.charity, lot, 50, world.warehouse)   # event 2
    c.ok(world.warehouse, "accept", transfer_id, 45, "5 missing")               # event 3
    warehouse, charity = world.id(world.warehouse), world.id(world.charity)
    accepted = c.event(3)

    # The 5 "missing" boxes turn up: a Found correction of the accept event.
    sent = c.ok(world.warehouse, "correct", 3, child, CorrectionKind.Found, 5, "found behind the racks")
    assert sent.events == [Event("CorrectionRecorded", {
        "eventId": 4, "correctedEventId": 3, "lotId": child, "memberId": warehouse,
        "kind": CorrectionKind.Found, "quantity": 5, "reason": "found behind the racks"})]
    assert c.lot(child)[:7] == (50, 50, 0, 0, 0, 0, warehouse)
    assert c.event(4) == EventView(EventKind.Corrected, world.now(), warehouse, child, 0)
    assert c.event(3) == accepted  # nothing is rewritten
    # A recount at the warehouse: 2 fewer than received; then the correction itself is corrected.
    c.ok(world.warehouse, "correct", 3, child, CorrectionKind.Loss, 2, "recount")
    c.ok(world.warehouse, "correct", 5, child, CorrectionKind.Found, 1, "recount of the recount")
    assert c.lot(child)[:7] == (50, 49, 0, 0, 1, 0, warehouse)
    # The split event concerns both lots: the charity corrects the parent's count against it.
    sent = c.ok(world.charity, "correct", 2, lot, CorrectionKind.Loss, 3, "intake overcounted")
    assert sent.events[0].args["correctedEventId"] == 2 and sent.events[0].args["lotId"] == lot
    assert c.lot(lot)[:7] == (100, 47, 0, 0, 3, 50, charity)
    assert c.counts() == (2, 1, 7)


def test_correction_errors(world: World) -> None:
    c = world.custody
    lot = world.register(100)
    other = world.register(10)                                                   # event 2
    transfer_id, child = world.send(world.charity, lot, 50, world.warehouse)   # event 3
    c.ok(world.warehouse, "accept", transfer_id, 48, "2 wet")                   # event 4
    wh = world.warehouse
    for missing in (0, 5):
        assert c.refused(wh, "correct", missing, child, CorrectionKind.Loss, 1, "x") == (
            "SupplyCustodyUnknownEvent", (missing,))
    assert c.refused(wh, "correct", 4, 99, CorrectionKind.Loss, 1, "x") == ("SupplyCustodyUnknownLot", (99,))
    assert c.refused(wh, "correct", 4, lot, CorrectionKind.Loss, 1, "x") == (
        "SupplyCustodyNotHolder", (lot, world.id(wh)))
    assert c.refused(world.charity, "correct", 2, lot, CorrectionKind.Loss, 1, "x") == (
        "SupplyCustodyEventNotOfLot", (2, lot))
    assert c.refused(world.charity, "correct", 1, other, CorrectionKind.Loss, 1, "x") == (
        "SupplyCustodyEventNotOfLot", (1, other))
    assert c.refused(wh, "correct", 4, child, CorrectionKind.Loss, 0, "x") == ("SupplyCustodyZeroQuantity", ())
    assert c.refused(wh, "correct", 4, child, CorrectionKind.Loss, 1, "") == ("SupplyCustodyMissingField", ("reason",))
    assert c.refused(wh, "correct", 4, child, CorrectionKind.Loss, 49, "x") == (
        "SupplyCustodyExceedsHeld", (child, 49, 48))
    assert c.refused(wh, "correct", 4, child, CorrectionKind.Found, 3, "x") == (
        "SupplyCustodyExceedsLosses", (child, 3, 2))
    assert c.refused(world.charity, "correct", 1, lot, CorrectionKind.Found, 1, "x") == (
        "SupplyCustodyExceedsLosses", (lot, 1, 0))


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
    c.ok(world.logistics, "correct", 5, lot_l, CorrectionKind.Found, 3, "found in the depot")
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
class Model:
    lots: dict[int, ModelLot] = field(default_factory=dict)
    transfers: dict[int, ModelTransfer] = field(default_factory=dict)
    events: list[tuple[int, int]] = field(default_factory=list)  # (lotId, otherLotId) per event id


PICK = st.integers(min_value=0, max_value=10**6)


class CustodyMachine(RuleBasedStateMachine):
    """Random custody histories across charity, warehouse, logistics and hospital; after every step
    each lot's ``lot()`` view must equal the model and balance."""

    def __init__(self, devnet: DevNet) -> None:
        super().__init__()
        self.world = World.build(devnet)
        self.c = self.world.custody
        w = self.world
        self.members = {w.id(s): s for s in (w.charity, w.warehouse, w.logistics, w.hospital)}
        self.consumers = {w.id(w.charity), w.id(w.hospital)}
        self.model = Model()

    # ------------------------------------------------------------- helpers
    def _one(self, signer: Signer, fn: str, *args: Any) -> Sent:
        """One rule, one block: the call must succeed."""
        sent = self.c.ok(signer, fn, *args)
        assert len(sent.built.receipts) == 1
        return sent

    def _event(self, lot_id: int, other: int = 0) -> int:
        self.model.events.append((lot_id, other))
        return len(self.model.events)

    def _free_lots(self, holders: set[int] | None = None) -> list[int]:
        """Lots whose holder may act: not in transit, something held."""
        return [i for i, lot in self.model.lots.items()
                if lot.pending == 0 and lot.held > 0 and (holders is None or lot.holder in holders)]

    def _pending(self) -> list[int]:
        return [i for i, t in self.model.transfers.items() if t.status == TransferStatus.InTransit]

    def _correctable(self, kind: CorrectionKind) -> list[tuple[int, int]]:
        out = []
        for event_id, (lot_id, other) in enumerate(self.model.events, start=1):
            for target in (lot_id, other):
                lot = self.model.lots.get(target)
                if lot is not None and lot.pending == 0 and (
                        lot.held if kind == CorrectionKind.Loss else lot.losses) > 0:
                    out.append((event_id, target))
        return out

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
        event_id = self._event(lot_id)
        (registered,) = sent.events
        assert registered.name == "LotRegistered"
        assert (registered.args["eventId"], registered.args["lotId"], registered.args["quantity"]) == (
            event_id, lot_id, quantity)
        assert registered.args["receiptCode"] == self.c.receipt_code(lot_id, commitment)

    def _send(self, lot_id: int, quantity: int, to_pick: int) -> None:
        lot = self.model.lots[lot_id]
        receivers = sorted(m for m in self.members if m != lot.holder)
        receiver = receivers[to_pick % len(receivers)]
        sent = self._one(self.members[lot.holder], "transfer", lot_id, quantity, receiver)
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
        event_id = self._event(moved, parent)
        self.model.transfers[transfer_id] = ModelTransfer(moved, parent, lot.holder, receiver, quantity,
                                                          self.world.now())
        expected = [Event("TransferSent", {"eventId": event_id, "transferId": transfer_id, "lotId": moved,
                                           "toMemberId": receiver, "fromMemberId": lot.holder,
                                           "quantity": quantity})]
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
        sent = self._one(self.members[t.receiver], "accept", transfer_id, received, reason)
        lot = self.model.lots[t.lot_id]
        lot.in_transit -= t.quantity
        lot.held += received
        lot.losses += t.quantity - received
        lot.holder, lot.pending = t.receiver, 0
        t.received, t.settled_at, t.status = received, self.world.now(), TransferStatus.Accepted
        assert sent.events == [Event("TransferAccepted", {
            "eventId": self._event(t.lot_id), "transferId": transfer_id, "lotId": t.lot_id,
            "memberId": t.receiver, "sent": t.quantity, "received": received, "lossReason": reason})]

    @precondition(lambda self: bool(self._pending()))
    @rule(pick=PICK)
    def refuse(self, pick: int) -> None:
        pending = self._pending()
        transfer_id = pending[pick % len(pending)]
        t = self.model.transfers[transfer_id]
        sent = self._one(self.members[t.receiver], "refuse", transfer_id, "not ordered")
        lot = self.model.lots[t.lot_id]
        lot.in_transit -= t.quantity
        lot.held += t.quantity
        lot.pending = 0
        t.settled_at, t.status = self.world.now(), TransferStatus.Refused
        assert lot.holder == t.sender
        assert sent.events == [Event("TransferRefused", {
            "eventId": self._event(t.lot_id), "transferId": transfer_id, "lotId": t.lot_id,
            "memberId": t.receiver, "quantity": t.quantity, "reason": "not ordered"})]

    @precondition(lambda self: bool(self._free_lots(self.consumers)))
    @rule(pick=PICK, amount=PICK)
    def consume(self, pick: int, amount: int) -> None:
        lots = self._free_lots(self.consumers)
        lot_id = lots[pick % len(lots)]
        lot = self.model.lots[lot_id]
        quantity = 1 + amount % lot.held
        sent = self._one(self.members[lot.holder], "consume", lot_id, quantity, "bafy-slip")
        lot.held -= quantity
        lot.consumed += quantity
        assert sent.events == [Event("LotConsumed", {
            "eventId": self._event(lot_id), "lotId": lot_id, "memberId": lot.holder, "quantity": quantity,
            "documentsCid": "bafy-slip"})]

    @precondition(lambda self: bool(self._correctable(CorrectionKind.Loss))
                  or bool(self._correctable(CorrectionKind.Found)))
    @rule(pick=PICK, found=st.booleans(), amount=PICK)
    def correct(self, pick: int, found: bool, amount: int) -> None:
        kind = CorrectionKind.Found if found else CorrectionKind.Loss
        options = self._correctable(kind)
        if not options:
            kind = CorrectionKind.Loss if found else CorrectionKind.Found
            options = self._correctable(kind)
        event_id, lot_id = options[pick % len(options)]
        lot = self.model.lots[lot_id]
        quantity = 1 + amount % (lot.held if kind == CorrectionKind.Loss else lot.losses)
        sent = self._one(self.members[lot.holder], "correct", event_id, lot_id, kind, quantity, "recount")
        delta = quantity if kind == CorrectionKind.Loss else -quantity
        lot.held -= delta
        lot.losses += delta
        assert sent.events == [Event("CorrectionRecorded", {
            "eventId": self._event(lot_id), "correctedEventId": event_id, "lotId": lot_id,
            "memberId": lot.holder, "kind": kind, "quantity": quantity, "reason": "recount"})]

    @precondition(lambda self: bool(self._free_lots()))
    @rule(pick=PICK)
    def wrong_moves_are_refused(self, pick: int) -> None:
        """Cheap negative probes by eth_call: over-sending, a stranger's move, a second settle."""
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


def test_random_custody_histories_conserve_every_lot(devnet: DevNet) -> None:
    run_state_machine_as_test(
        lambda: CustodyMachine(devnet),  # type: ignore[arg-type]  # a factory is documented usage
        settings=settings(max_examples=15, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
