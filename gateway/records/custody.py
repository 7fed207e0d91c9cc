"""Lots, transfers and every custody event, from ``SupplyCustody`` events.

Each lot keeps the quantities of the conservation rule (PRODUCT.md, "Supply custody")::

    original = held + in_transit + consumed + losses + child_originals

updated event by event exactly as the contract updates them; the indexer re-checks the rule after
every event and refuses to index a chain that breaks it (the audit toolkit re-checks it
independently). A donation's lots share the root lot's receipt code, so a donor's trace is one
query on ``root_lot_id``.
"""

from __future__ import annotations

import json

from sqlmodel import Field, Session, SQLModel

from gateway.errors import ChainDataInvalid
from gateway.indexer import IndexContext, IndexedEvent
from gateway.receipt_code import prefix_of
from gateway.records.enums import name_of


class Lot(SQLModel, table=True):
    __tablename__ = "lot"

    id: int = Field(primary_key=True)
    root_lot_id: int = Field(index=True)
    parent_lot_id: int = 0
    charity_member_id: int
    receipt_code: str = Field(max_length=66)
    #: The 60-bit prefix a donor's short receipt code stands for (gateway.receipt_code).
    receipt_prefix: int = Field(index=True)
    item_code: str
    unit: str
    expiry: int
    donor_commitment: str
    donor_public_name: str = ""
    documents_cid: str = ""
    holder_member_id: int = Field(index=True)
    original: int
    held: int
    in_transit: int = 0
    consumed: int = 0
    losses: int = 0
    child_originals: int = 0
    pending_transfer_id: int = 0
    #: When the current holder started holding goods of this lot (for "held too long").
    held_since: int = 0
    registered_at: int
    block_number: int
    block_log_index: int


class Transfer(SQLModel, table=True):
    __tablename__ = "transfer"

    id: int = Field(primary_key=True)
    lot_id: int = Field(index=True)
    from_member_id: int = Field(index=True)
    to_member_id: int = Field(index=True)
    quantity: int
    status: str = Field(index=True)
    received: int = 0
    reason: str = ""
    sent_at: int
    closed_at: int | None = None


class CustodyEvent(SQLModel, table=True):
    """One custody event (the contract's ``eventId``; a split and its sending share one id)."""

    __tablename__ = "custody_event"

    block_number: int = Field(primary_key=True)
    block_log_index: int = Field(primary_key=True)
    event_id: int = Field(index=True)
    name: str
    lot_id: int = Field(index=True)
    root_lot_id: int = Field(index=True)
    member_id: int
    account: str = ""
    transfer_id: int = 0
    to_member_id: int = 0
    quantity: int = 0
    received: int = 0
    lost: int = 0
    corrected_event_id: int = 0
    correction: str = ""
    reason: str = ""
    documents_cid: str = ""
    at: int


def _unit(value: str) -> str:
    """``bytes32`` unit names are ASCII, zero-padded (``"piece"``)."""
    raw = bytes.fromhex(value[2:]).rstrip(b"\0")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value


def conserved(lot: Lot) -> bool:
    return lot.original == lot.held + lot.in_transit + lot.consumed + lot.losses + lot.child_originals


class CustodyRecords:
    EVENTS = frozenset(("SupplyCustody", e) for e in (
        "LotRegistered", "LotSplit", "TransferSent", "TransferAccepted", "TransferRefused", "TransferRecalled",
        "LotConsumed", "CorrectionRecorded"))

    def apply(self, s: Session, ev: IndexedEvent, ctx: IndexContext) -> None:
        a = ev.args
        where = {"block_number": ev.block_number, "block_log_index": ev.block_log_index}
        name = ev.name
        if name == "LotRegistered":
            code = bytes.fromhex(a["receiptCode"][2:])
            lot = Lot(id=a["lotId"], root_lot_id=a["lotId"], charity_member_id=a["charityId"],
                      receipt_code=a["receiptCode"], receipt_prefix=prefix_of(code), item_code=a["itemCode"],
                      unit=_unit(a["unit"]), expiry=int(a["expiry"]), donor_commitment=a["donorCommitment"],
                      donor_public_name=a["donorPublicName"], documents_cid=a["documentsCid"],
                      holder_member_id=a["charityId"], original=int(a["quantity"]), held=int(a["quantity"]),
                      held_since=ev.timestamp, registered_at=ev.timestamp, **where)
            s.add(lot)
            s.flush()
            self._event(s, ev, lot, a["charityId"], quantity=int(a["quantity"]), documents_cid=a["documentsCid"])
            return
        if name == "LotSplit":
            parent = self._lot(s, a["parentLotId"], ev)
            quantity = int(a["quantity"])
            parent.held -= quantity
            parent.child_originals += quantity
            child = Lot(id=a["childLotId"], root_lot_id=parent.root_lot_id, parent_lot_id=parent.id,
                        charity_member_id=parent.charity_member_id, receipt_code=parent.receipt_code,
                        receipt_prefix=parent.receipt_prefix, item_code=parent.item_code, unit=parent.unit,
                        expiry=parent.expiry, donor_commitment=parent.donor_commitment,
                        donor_public_name=parent.donor_public_name, documents_cid=parent.documents_cid,
                        holder_member_id=a["memberId"], original=quantity, held=quantity, held_since=ev.timestamp,
                        registered_at=ev.timestamp, **where)
            s.add(parent)
            s.add(child)
            s.flush()
            self._check(parent, ev)
            self._event(s, ev, parent, a["memberId"], quantity=quantity, transfer_id=0,
                        to_member_id=0, reason=f"split into lot {child.id}")
            return
        lot = self._lot(s, a["lotId"], ev)
        if name == "TransferSent":
            quantity = int(a["quantity"])
            lot.held -= quantity
            lot.in_transit += quantity
            lot.pending_transfer_id = a["transferId"]
            s.add(Transfer(id=a["transferId"], lot_id=lot.id, from_member_id=a["fromMemberId"],
                           to_member_id=a["toMemberId"], quantity=quantity, status="InTransit", sent_at=ev.timestamp))
            self._event(s, ev, lot, a["fromMemberId"], account=a["account"], transfer_id=a["transferId"],
                        to_member_id=a["toMemberId"], quantity=quantity)
        elif name == "TransferAccepted":
            sent, received = int(a["sent"]), int(a["received"])
            lot.in_transit -= sent
            lot.held += received
            lot.losses += sent - received
            lot.holder_member_id = a["memberId"]
            lot.held_since = ev.timestamp
            lot.pending_transfer_id = 0
            self._close(s, a["transferId"], "Accepted", received, a["lossReason"], ev.timestamp)
            self._event(s, ev, lot, a["memberId"], account=a["account"], transfer_id=a["transferId"], quantity=sent,
                        received=received, lost=sent - received, reason=a["lossReason"])
        elif name in ("TransferRefused", "TransferRecalled"):
            quantity = int(a["quantity"])
            lot.in_transit -= quantity
            lot.held += quantity
            lot.pending_transfer_id = 0
            status = "Refused" if name == "TransferRefused" else "Recalled"
            self._close(s, a["transferId"], status, 0, a["reason"], ev.timestamp)
            self._event(s, ev, lot, a["memberId"], account=a["account"], transfer_id=a["transferId"],
                        quantity=quantity, reason=a["reason"])
        elif name == "LotConsumed":
            quantity = int(a["quantity"])
            lot.held -= quantity
            lot.consumed += quantity
            self._event(s, ev, lot, a["memberId"], account=a["account"], quantity=quantity,
                        documents_cid=a["documentsCid"])
        elif name == "CorrectionRecorded":
            quantity = int(a["quantity"])
            kind = name_of("SupplyCustody.CorrectionKind", a["kind"])
            if kind == "Loss":
                lot.held -= quantity
                lot.losses += quantity
            else:
                lot.losses -= quantity
                lot.held += quantity
            self._event(s, ev, lot, a["memberId"], account=a["account"], quantity=quantity,
                        corrected_event_id=a["correctedEventId"], correction=kind, reason=a["reason"],
                        lost=quantity if kind == "Loss" else -quantity)
        s.add(lot)
        self._check(lot, ev)

    @staticmethod
    def _lot(s: Session, lot_id: int, ev: IndexedEvent) -> Lot:
        lot = s.get(Lot, lot_id)
        if lot is None:
            raise ChainDataInvalid(f"block {ev.block_number} {ev.name}", f"names lot {lot_id}, which was never registered")
        return lot

    @staticmethod
    def _check(lot: Lot, ev: IndexedEvent) -> None:
        if not conserved(lot) or min(lot.held, lot.in_transit, lot.consumed, lot.losses) < 0:
            raise ChainDataInvalid(
                f"block {ev.block_number} {ev.name}",
                f"lot {lot.id} breaks conservation: original {lot.original} != held {lot.held} + in transit "
                f"{lot.in_transit} + consumed {lot.consumed} + losses {lot.losses} + children {lot.child_originals}")

    @staticmethod
    def _close(s: Session, transfer_id: int, status: str, received: int, reason: str, at: int) -> None:
        transfer = s.get(Transfer, transfer_id)
        if transfer is not None:
            transfer.status, transfer.received, transfer.reason, transfer.closed_at = status, received, reason, at
            s.add(transfer)

    @staticmethod
    def _event(s: Session, ev: IndexedEvent, lot: Lot, member_id: int, **fields: object) -> None:
        account = fields.get("account", ev.args.get("account", ""))
        fields["account"] = account.lower() if isinstance(account, str) else ""
        s.add(CustodyEvent(block_number=ev.block_number, block_log_index=ev.block_log_index,
                           event_id=ev.args["eventId"], name=ev.name, lot_id=lot.id, root_lot_id=lot.root_lot_id,
                           member_id=member_id, at=ev.timestamp, **fields))  # type: ignore[arg-type]


def quantities(lot: Lot) -> dict[str, int]:
    return {"original": lot.original, "held": lot.held, "inTransit": lot.in_transit, "consumed": lot.consumed,
            "losses": lot.losses, "childOriginals": lot.child_originals}


def as_json(value: object) -> str:
    return json.dumps(value)
