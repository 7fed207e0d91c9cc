"""The product's rules, re-checked from the chain's events (PRODUCT.md, "Rules the product must
keep"; contracts/README.md, "Who may act" and "Rules other code relies on").

The engine replays every event of the four contracts in chain order from receipts the audit has
already checked against their headers, keeping its own model of the consortium, the data-sharing
grants, the custody ledger and the credit issuers, and checks at each step:

* **membership** — every transaction's sender is an account of an Active member at that point of
  the chain (the node checks it before each transaction; so does the audit, from
  ``MemberAdmitted``, ``AccountAdded/Removed``, ``MemberSuspended/Reinstated``);
* **governance** — every change the consortium decides (members, accounts, keys, sealer, witness
  and admin sets, supervisors, issuers, corrections of a gone issuer's entries) is an effect of a
  ``ProposalExecuted`` in the same receipt, whose proposal was approved by at least the registry's
  threshold of distinct admin members, each an admin when it approved (``AdminApprovals``);
* **access** — every ``AccessRecorded`` is by the grant's requester while the grant is active:
  granted (and, for personal data, supervisor-approved), not revoked, within its validity window
  by block time, delivered, and numbered one above the previous access, never above its cap;
* **credit** — every entry and batch is issued by a member authorised for its category at that
  block (``IssuerAuthorized/Deauthorized``), unless the consortium's proposal made it; every public
  entry's USCC carries a valid GB 32100-2015 check character;
* **conservation** — for every lot, after every event: ``original = held + in transit + consumed +
  losses + Σ child originals``, no quantity negative, an acceptance receiving at most what was sent.

Anomalies (reported with their evidence, not violations): goods in transit longer than a
threshold, goods held by a warehouse longer than a threshold, a lot's losses above a share of its
original quantity, and a grantee's daily accesses far above its own median. Every loss is listed
with the proof of the event that recorded it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_hash.auto import keccak

from audit.chain import Header, Receipt, Transaction
from audit.events import Event
from audit.genesis import ChainSpec

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

#: Events that only an executed M-of-N proposal may cause (contract, event).
GOVERNED = {
    ("MemberRegistry", e) for e in ("MemberAdmitted", "MemberSuspended", "MemberReinstated", "AccountAdded",
                                    "AccountRemoved", "EncryptionKeySet", "SealersChanged", "WitnessesChanged",
                                    "AdminsChanged")
} | {("DataSharing", "SupervisorAssigned"), ("Credit", "IssuerAuthorized"), ("Credit", "IssuerDeauthorized")}


@dataclass(frozen=True)
class Thresholds:
    """When custody and access records become anomalies (defaults as the gateway's alerts)."""

    transit_seconds: int = 48 * 3600
    held_seconds: int = 30 * 24 * 3600
    loss_ratio: float = 0.05
    #: A grantee's day counts as far above its normal when it has this many times its median
    #: daily accesses (and at least ``access_minimum``), once it has ``access_days`` days of history.
    access_factor: float = 3.0
    access_minimum: int = 5
    access_days: int = 3


@dataclass
class Finding:
    """One thing the audit found: a ``violation`` of a rule, an ``anomaly``, a ``loss`` (the
    product's record of goods lost, listed with its proof), or a ``warning`` about the audit itself
    (a payload it could not fetch, a check it could not run)."""

    severity: str
    rule: str
    message: str
    block: int | None = None
    tx_hash: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def uscc_valid(code: str) -> bool:
    """GB 32100-2015: 18 characters of the alphabet; position i (1-based, i ≤ 17) weighs
    3^(i-1) mod 31; the check character's value is (31 − Σ value·weight mod 31) mod 31."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(code[:17]))
    return USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


@dataclass
class _Member:
    id: int
    name: str
    kind: str
    status: str = "Active"
    accounts: set[bytes] = field(default_factory=set)


@dataclass
class _Lot:
    id: int
    original: int = 0
    held: int = 0
    in_transit: int = 0
    consumed: int = 0
    losses: int = 0
    child_originals: int = 0
    holder: int = 0
    held_since: int = 0

    def balance(self) -> int:
        return self.held + self.in_transit + self.consumed + self.losses + self.child_originals


@dataclass
class _Grant:
    id: int
    dataset: int
    requester: int
    valid_from: int
    valid_until: int = 0
    max_accesses: int = 0
    status: str = "Pending"
    delivered: bool = False
    accesses: int = 0


@dataclass
class _Transfer:
    id: int
    lot: int
    sender: int
    receiver: int
    quantity: int
    sent_at: int
    settled_at: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


ProofFn = Callable[[int, int], dict[str, Any]]


class RuleEngine:
    """Replays the contracts' events and checks the rules (module docstring)."""

    def __init__(self, spec: ChainSpec, enums: dict[str, list[str]], thresholds: Thresholds = Thresholds()) -> None:
        self.spec = spec
        self.enums = enums
        self.thresholds = thresholds
        self.findings: list[Finding] = []
        self.members: dict[int, _Member] = {}
        self.account_member: dict[bytes, int] = {}
        self.admins: set[bytes] = set(spec.admins)
        self.threshold = spec.threshold
        self.epoch: int | None = None
        self.sealers: list[bytes] = list(spec.sealers)
        self.witnesses: list[bytes] = []
        self.proposals: dict[tuple[str, int], dict[str, Any]] = {}
        self.issuers: set[tuple[int, int]] = set()
        self.datasets: dict[int, dict[str, Any]] = {}
        self.grants: dict[int, _Grant] = {}
        self.lots: dict[int, _Lot] = {}
        self.transfers: dict[int, _Transfer] = {}
        self.payloads: list[dict[str, Any]] = []
        #: Blocks where a SealersChanged took effect: (block, new set) — the set applies from the next block.
        self.sealer_changes: list[tuple[int, list[bytes]]] = []
        # What the report's charts draw.
        self.stock: list[dict[str, Any]] = []
        self.flows: dict[str, dict[str, int]] = defaultdict(lambda: {"sent": 0, "received": 0, "lost": 0, "consumed": 0})
        self.accesses: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self._daily: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.checked: dict[str, int] = defaultdict(int)
        for member in spec.members:
            self.members[member.id] = _Member(member.id, member.name, member.kind, "Active", set(member.accounts))
            for account in member.accounts:
                self.account_member[account] = member.id

    # ------------------------------------------------------------------ helpers
    def _enum(self, name: str, value: int) -> str:
        names = self.enums.get(name, [])
        return names[value] if 0 <= value < len(names) else str(value)

    def _name(self, member_id: int) -> str:
        member = self.members.get(member_id)
        return member.name if member else f"member {member_id}"

    def is_active(self, account: bytes) -> bool:
        member_id = self.account_member.get(account)
        return member_id is not None and self.members[member_id].status == "Active"

    def _add(self, severity: str, rule: str, message: str, block: int | None, tx: Transaction | None,
             evidence: dict[str, Any] | None = None) -> None:
        self.findings.append(Finding(severity, rule, message, block, None if tx is None else "0x" + tx.hash.hex(),
                                     evidence or {}))

    def _setup(self, tx: Transaction) -> bool:
        """A transaction that deploys one of the address book's contracts (chains deployed by
        ``scripts/deploy``: the deployer needs no membership)."""
        if tx.to is not None:
            return False
        created = keccak(rlp.encode([tx.sender, tx.nonce]))[12:]
        return created in self.spec.addresses.values()

    # ------------------------------------------------------------------ one block
    def block(self, header: Header, txs: Sequence[Transaction], receipts: Sequence[Receipt],
              events: Sequence[Sequence[Event | None]], proof: ProofFn) -> None:
        """Check every transaction of a verified block, in order."""
        now = header.timestamp
        custody_changed = False
        for index, (tx, receipt, logs) in enumerate(zip(txs, receipts, events)):
            setup = self._setup(tx)
            self.checked["transactions"] += 1
            if setup:
                self.checked["setup transactions"] += 1
            elif not self.is_active(tx.sender):
                member_id = self.account_member.get(tx.sender)
                why = "belongs to no member" if member_id is None else f"belongs to {self._name(member_id)}, which is {self.members[member_id].status}"
                self._add("violation", "membership", f"transaction {index} of block {header.number} was sent by "
                          f"0x{tx.sender.hex()}, which {why} at that point of the chain", header.number, tx,
                          {"sender": "0x" + tx.sender.hex(), "txIndex": index})
            if receipt.status != 1:
                if receipt.logs:
                    self._add("violation", "chain data", f"transaction {index} of block {header.number} failed, yet its "
                              f"receipt carries {len(receipt.logs)} log(s); a reverted transaction leaves none (EIP-658)",
                              header.number, tx, {"txIndex": index})
                continue
            pending: list[tuple[int, Event]] = []
            for position, event in enumerate(logs):
                if event is None:
                    continue
                self.checked["events"] += 1
                context = _Context(self, header, tx, index, position, proof, now)
                key = (event.contract, event.name)
                governed = key in GOVERNED or (
                    event.contract == "Credit" and event.name in ("EntrySuperseded", "EntryRevoked")
                    and int(event.args["entry"]["proposalId"]) != 0)
                if governed and not setup:
                    pending.append((position, event))
                if event.name == "ProposalExecuted":
                    self._executed(event, pending, context)
                    pending = []
                handler = getattr(self, f"_on_{event.name}", None)
                if handler is not None:
                    handler(event.args, context, event.contract)
                if event.contract == "SupplyCustody":
                    custody_changed = True
            for position, event in pending:
                context = _Context(self, header, tx, index, position, proof, now)
                self._add("violation", "governance", f"{event.contract}.{event.name} in block {header.number} "
                          "is not the effect of an executed M-of-N proposal (no ProposalExecuted follows it in "
                          "its receipt)", header.number, tx, context.evidence())
        if custody_changed:
            self._snapshot(now, header.number)

    def _executed(self, event: Event, effects: list[tuple[int, Event]], ctx: _Context) -> None:
        proposal = self.proposals.get((event.contract, int(event.args["proposalId"])))
        self.checked["proposals executed"] += 1
        if proposal is None:
            self._add("violation", "governance", f"{event.contract} executed proposal {event.args['proposalId']}, "
                      "which was never created", ctx.header.number, ctx.tx, ctx.evidence())
            return
        approvers = proposal["approvers"]
        if len(approvers) < self.threshold:
            self._add("violation", "governance", f"{event.contract} executed proposal {event.args['proposalId']} "
                      f"with {len(approvers)} approving admin member(s), below the threshold of {self.threshold}",
                      ctx.header.number, ctx.tx, {**ctx.evidence(), "approvers": sorted(approvers)})
        if self.epoch is not None and proposal["epoch"] is not None and proposal["epoch"] != self.epoch:
            self._add("violation", "governance", f"{event.contract} executed proposal {event.args['proposalId']} "
                      f"of admin epoch {proposal['epoch']} in epoch {self.epoch} (stale)", ctx.header.number, ctx.tx,
                      ctx.evidence())

    def _snapshot(self, now: int, number: int) -> None:
        held: dict[str, int] = defaultdict(int)
        for lot in self.lots.values():
            if lot.held:
                held[self._name(lot.holder)] += lot.held
        self.stock.append({"time": now, "block": number, "held": dict(held)})

    # ------------------------------------------------------------------ members and governance
    def _on_MemberAdmitted(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A member joins, Active, with its kind (registry ``MemberAdmitted``)."""
        member_id = int(a["memberId"])
        self.members[member_id] = _Member(member_id, a["name"], self._enum("MemberRegistry.MemberKind", int(a["kind"])).lower())

    def _on_AccountAdded(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The account acts for the member from now on (active while the member is)."""
        account = bytes.fromhex(a["account"][2:])
        member = self.members.setdefault(int(a["memberId"]), _Member(int(a["memberId"]), f"member {a['memberId']}", "?"))
        member.accounts.add(account)
        self.account_member[account] = member.id

    def _on_AccountRemoved(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The account belongs to nobody from now on."""
        account = bytes.fromhex(a["account"][2:])
        member = self.members.get(int(a["memberId"]))
        if member is not None:
            member.accounts.discard(account)
        self.account_member.pop(account, None)

    def _on_MemberSuspended(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The member's accounts may no longer send transactions."""
        if int(a["memberId"]) in self.members:
            self.members[int(a["memberId"])].status = "Suspended"

    def _on_MemberReinstated(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The member is Active again."""
        if int(a["memberId"]) in self.members:
            self.members[int(a["memberId"])].status = "Active"

    def _on_SealersChanged(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The whole sealer set, in force from the next block (seals are checked against it)."""
        self.sealers = [bytes.fromhex(s[2:]) for s in a["sealers"]]
        self.sealer_changes.append((ctx.header.number, list(self.sealers)))

    def _on_WitnessesChanged(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The whole witness set (cosignatures count for its accounts)."""
        self.witnesses = [bytes.fromhex(s[2:]) for s in a["witnesses"]]

    def _on_AdminsChanged(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """Admin accounts, threshold and epoch: proposals of older epochs are stale."""
        self.admins = {bytes.fromhex(s[2:]) for s in a["admins"]}
        self.threshold = int(a["threshold"])
        self.epoch = int(a["epoch"])

    def _on_ProposalCreated(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A proposal of this contract; its approvals are counted per admin member."""
        self.proposals[(contract, int(a["proposalId"]))] = {"action": int(a["action"]), "approvers": set(),
                                                             "epoch": int(a["epoch"])}
        if self.epoch is None:
            self.epoch = int(a["epoch"])

    def _on_ProposalApproved(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """An approval counts only from an account in the admin set at that point."""
        proposal = self.proposals.get((contract, int(a["proposalId"])))
        approver = bytes.fromhex(a["approver"][2:])
        if approver not in self.admins:
            self._add("violation", "governance", f"{contract} proposal {a['proposalId']} was approved by "
                      f"0x{approver.hex()}, not an admin account at block {ctx.header.number}",
                      ctx.header.number, ctx.tx, ctx.evidence())
            return
        if proposal is not None:
            proposal["approvers"].add(int(a["approverMemberId"]))

    # ------------------------------------------------------------------ data sharing
    def _on_DatasetRegistered(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A dataset; its schema is a payload to fetch."""
        self.datasets[int(a["datasetId"])] = {"owner": int(a["ownerMemberId"]), "title": a["title"],
                                              "classification": int(a["classification"])}
        self._payload(a["schemaCid"], None, "dataset schema", ctx)

    def _on_RequestSubmitted(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A signed share request; its ``validFrom`` bounds the grant."""
        request = a["request"]
        self.grants[int(a["requestId"])] = _Grant(int(a["requestId"]), int(a["datasetId"]), int(a["requesterMemberId"]),
                                                  int(request["validFrom"]))

    def _on_RequestApproved(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The grant's terms in force (validity, cap) and its status."""
        grant = self.grants.get(int(a["requestId"]))
        if grant is None:
            return
        grant.valid_until, grant.max_accesses = int(a["validUntil"]), int(a["maxAccesses"])
        grant.status = self._enum("DataSharing.RequestStatus", int(a["status"]))

    def _on_SupervisorApproved(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The supervisor's second approval of personal data grants it."""
        if int(a["requestId"]) in self.grants:
            self.grants[int(a["requestId"])].status = "Granted"

    def _status(self, key: str, status: str) -> Callable[[dict[str, Any], _Context, str], None]:
        def apply(a: dict[str, Any], ctx: _Context, contract: str) -> None:
            if int(a[key]) in self.grants:
                self.grants[int(a[key])].status = status
        return apply

    def _on_RequestRejected(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The request is rejected: no access may follow."""
        self._status("requestId", "Rejected")(a, ctx, contract)

    def _on_RequestWithdrawn(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The request is withdrawn: no access may follow."""
        self._status("requestId", "Withdrawn")(a, ctx, contract)

    def _on_GrantRevoked(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The owner revoked the grant: no access may follow."""
        self._status("grantId", "Revoked")(a, ctx, contract)

    def _on_PayloadDelivered(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The encrypted payload is delivered; its ciphertext is fetched and hashed."""
        if int(a["grantId"]) in self.grants:
            self.grants[int(a["grantId"])].delivered = True
        self._payload(a["cid"], a["ciphertextHash"], "delivery (ciphertext)", ctx)

    def _on_AccessRecorded(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """An access must fall inside its grant (module docstring, "access")."""
        self.checked["accesses"] += 1
        grant = self.grants.get(int(a["grantId"]))
        count, now = int(a["accessCount"]), ctx.now
        problems = []
        if grant is None:
            problems.append("no such grant was ever requested")
        else:
            if int(a["memberId"]) != grant.requester:
                problems.append(f"the accessing member {a['memberId']} is not the requester {grant.requester}")
            if grant.status != "Granted":
                problems.append(f"the grant is {grant.status}, not granted")
            if now < grant.valid_from:
                problems.append(f"block time {now} is before the grant's validFrom {grant.valid_from}")
            if now > grant.valid_until:
                problems.append(f"block time {now} is after the grant's validUntil {grant.valid_until}")
            if not grant.delivered:
                problems.append("nothing was delivered under the grant")
            if count != grant.accesses + 1:
                problems.append(f"access number {count} follows access {grant.accesses}")
            if count > grant.max_accesses:
                problems.append(f"access number {count} is above the grant's cap of {grant.max_accesses}")
            grant.accesses = max(grant.accesses, count)
        if problems:
            self._add("violation", "access", f"access {count} to grant {a['grantId']} (dataset {a['datasetId']}) in "
                      f"block {ctx.header.number} is outside its grant: " + "; ".join(problems),
                      ctx.header.number, ctx.tx, ctx.evidence())
        dataset = int(a["datasetId"])
        self.accesses[dataset].append((now, len(self.accesses[dataset]) + 1))
        self._daily[int(a["memberId"])][now // 86_400] += 1

    # ------------------------------------------------------------------ custody
    def _lot(self, lot_id: int) -> _Lot:
        return self.lots.setdefault(lot_id, _Lot(lot_id))

    def _check_lot(self, lot: _Lot, ctx: _Context, what: str) -> None:
        self.checked["custody events"] += 1
        values = {"original": lot.original, "held": lot.held, "inTransit": lot.in_transit, "consumed": lot.consumed,
                  "losses": lot.losses, "childOriginals": lot.child_originals}
        negative = [k for k, v in values.items() if v < 0]
        if negative or lot.balance() != lot.original:
            self._add("violation", "conservation", f"lot {lot.id} breaks conservation after {what} in block "
                      f"{ctx.header.number}: original {lot.original} ≠ held {lot.held} + in transit {lot.in_transit} "
                      f"+ consumed {lot.consumed} + losses {lot.losses} + child originals {lot.child_originals}"
                      + (f"; negative: {', '.join(negative)}" if negative else ""),
                      ctx.header.number, ctx.tx, {**ctx.evidence(), "lot": lot.id, "values": values})

    def _on_LotRegistered(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A lot: original = held = quantity, held by the charity."""
        lot = self._lot(int(a["lotId"]))
        lot.original = lot.held = int(a["quantity"])
        lot.holder, lot.held_since = int(a["charityId"]), ctx.now
        self.flows[self._name(lot.holder)]["received"] += lot.held
        self._check_lot(lot, ctx, "its registration")
        self._payload(a["documentsCid"], None, "lot intake documents", ctx)

    def _on_LotSplit(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A child lot of ``quantity`` leaves the parent's held quantity; the parent's child originals grow."""
        parent, child = self._lot(int(a["parentLotId"])), self._lot(int(a["childLotId"]))
        q = int(a["quantity"])
        parent.held -= q
        parent.child_originals += q
        child.original = child.held = q
        child.holder, child.held_since = parent.holder, ctx.now
        self._check_lot(parent, ctx, f"splitting off lot {child.id}")
        self._check_lot(child, ctx, "its split")

    def _on_TransferSent(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """``quantity`` moves from held to in transit."""
        lot, q = self._lot(int(a["lotId"])), int(a["quantity"])
        lot.held -= q
        lot.in_transit += q
        self.transfers[int(a["transferId"])] = _Transfer(int(a["transferId"]), lot.id, int(a["fromMemberId"]),
                                                         int(a["toMemberId"]), q, ctx.now, evidence=ctx.location())
        self.flows[self._name(int(a["fromMemberId"]))]["sent"] += q
        self._check_lot(lot, ctx, f"transfer {a['transferId']}")

    def _settle(self, a: dict[str, Any], ctx: _Context) -> _Transfer | None:
        transfer = self.transfers.get(int(a["transferId"]))
        if transfer is not None:
            transfer.settled_at = ctx.now
        return transfer

    def _on_TransferAccepted(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """``sent`` leaves transit; ``received`` is held by the receiver; the rest is lost."""
        lot, sent, received = self._lot(int(a["lotId"])), int(a["sent"]), int(a["received"])
        transfer = self._settle(a, ctx)
        if received > sent:
            self._add("violation", "conservation", f"transfer {a['transferId']} was accepted with {received} received, "
                      f"more than the {sent} sent", ctx.header.number, ctx.tx, ctx.evidence())
        if transfer is not None and (transfer.quantity != sent or transfer.receiver != int(a["memberId"])):
            self._add("violation", "conservation", f"transfer {a['transferId']} was sent as {transfer.quantity} to "
                      f"{self._name(transfer.receiver)} but accepted as {sent} by {self._name(int(a['memberId']))}",
                      ctx.header.number, ctx.tx, ctx.evidence())
        lot.in_transit -= sent
        lot.held += received
        lot.losses += sent - received
        self._holder(lot, int(a["memberId"]), ctx)
        self.flows[self._name(int(a["memberId"]))]["received"] += received
        if sent > received:
            self.flows[self._name(int(a["memberId"]))]["lost"] += sent - received
            self._add("loss", "loss", f"{sent - received} of {sent} sent in transfer {a['transferId']} (lot {lot.id}) "
                      f"were lost in transit: {a['lossReason'] or 'no reason given'}", ctx.header.number, ctx.tx,
                      {**ctx.evidence(), "lot": lot.id, "transfer": int(a["transferId"]), "sent": sent,
                       "received": received, "reason": a["lossReason"]})
        self._check_lot(lot, ctx, f"acceptance of transfer {a['transferId']}")

    def _holder(self, lot: _Lot, member_id: int, ctx: _Context) -> None:
        if lot.holder != member_id:
            self._held_check(lot, ctx.now, ctx)
            lot.holder, lot.held_since = member_id, ctx.now

    def _on_TransferRefused(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The goods return from transit to the sender's held quantity."""
        lot, q = self._lot(int(a["lotId"])), int(a["quantity"])
        self._settle(a, ctx)
        lot.in_transit -= q
        lot.held += q
        self._check_lot(lot, ctx, f"refusal of transfer {a['transferId']}")

    def _on_TransferRecalled(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """As a refusal, by the sender."""
        lot, q = self._lot(int(a["lotId"])), int(a["quantity"])
        self._settle(a, ctx)
        lot.in_transit -= q
        lot.held += q
        self._check_lot(lot, ctx, f"recall of transfer {a['transferId']}")

    def _on_LotConsumed(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The holder consumes ``quantity`` of what it holds."""
        lot, q = self._lot(int(a["lotId"])), int(a["quantity"])
        if int(a["memberId"]) != lot.holder:
            self._add("violation", "conservation", f"lot {lot.id} was consumed by {self._name(int(a['memberId']))}, "
                      f"not its holder {self._name(lot.holder)}", ctx.header.number, ctx.tx, ctx.evidence())
        lot.held -= q
        lot.consumed += q
        self.flows[self._name(int(a["memberId"]))]["consumed"] += q
        self._check_lot(lot, ctx, "consumption")
        self._payload(a["documentsCid"], None, "consumption documents", ctx)

    def _on_CorrectionRecorded(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """``Found`` moves losses back to held; ``Loss`` moves held to losses."""
        lot, q = self._lot(int(a["lotId"])), int(a["quantity"])
        if self._enum("SupplyCustody.CorrectionKind", int(a["kind"])) == "Found":
            lot.losses -= q
            lot.held += q
        else:
            lot.held -= q
            lot.losses += q
        self._check_lot(lot, ctx, f"correction of event {a['correctedEventId']}")

    # ------------------------------------------------------------------ credit
    def _on_IssuerAuthorized(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The member may issue entries in the category from now on."""
        self.issuers.add((int(a["memberId"]), int(a["category"])))

    def _on_IssuerDeauthorized(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """The member may no longer issue entries in the category."""
        self.issuers.discard((int(a["memberId"]), int(a["category"])))

    def _entry(self, a: dict[str, Any], ctx: _Context, verb: str) -> None:
        entry = a["entry"]
        self.checked["credit entries"] += 1
        issuer, category = int(entry["issuerMemberId"]), int(entry["category"])
        if int(entry["proposalId"]) == 0 and (issuer, category) not in self.issuers:
            self._add("violation", "credit", f"credit entry {a['entryId']} ({verb}) in block {ctx.header.number} was "
                      f"made by {self._name(issuer)}, not authorised for category "
                      f"{self._enum('Credit.Category', category)}", ctx.header.number, ctx.tx, ctx.evidence())
        if entry["isPublic"]:
            code = bytes.fromhex(entry["uscc"][2:]).decode("ascii", errors="replace")
            if not uscc_valid(code):
                self._add("violation", "credit", f"credit entry {a['entryId']} names {code!r}, not a valid USCC "
                          "(GB 32100-2015 check character)", ctx.header.number, ctx.tx, ctx.evidence())
        if entry.get("evidenceCid"):
            self._payload(entry["evidenceCid"], None, f"credit entry {a['entryId']} evidence", ctx)

    def _on_EntryIssued(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A credit entry, by an authorised issuer."""
        self._entry(a, ctx, "issued")

    def _on_EntrySuperseded(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A correction, by an authorised issuer or the consortium's proposal."""
        self._entry(a, ctx, "correction")

    def _on_EntryRevoked(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A revocation, by an authorised issuer or the consortium's proposal."""
        self._entry(a, ctx, "revocation")

    def _on_BatchAnchored(self, a: dict[str, Any], ctx: _Context, contract: str) -> None:
        """A batch root, by an authorised issuer; its file is a payload to fetch."""
        self.checked["credit batches"] += 1
        issuer, category = int(a["issuerMemberId"]), int(a["category"])
        if (issuer, category) not in self.issuers:
            self._add("violation", "credit", f"batch {a['batchId']} in block {ctx.header.number} was anchored by "
                      f"{self._name(issuer)}, not authorised for category {self._enum('Credit.Category', category)}",
                      ctx.header.number, ctx.tx, ctx.evidence())
        self._payload(a["batchFileCid"], None, f"batch {a['batchId']} file", ctx)

    # ------------------------------------------------------------------ payloads and the end
    def _payload(self, cid: str, sha256: str | None, what: str, ctx: _Context) -> None:
        if cid:
            self.payloads.append({"cid": cid, "sha256": sha256, "what": what, "block": ctx.header.number,
                                  "txHash": "0x" + ctx.tx.hash.hex(), "evidence": ctx.location()})

    def _held_check(self, lot: _Lot, until: int, ctx: _Context | None) -> None:
        member = self.members.get(lot.holder)
        if member is None or member.kind != "warehouse" or lot.held <= 0:
            return
        if until - lot.held_since > self.thresholds.held_seconds:
            self._add("anomaly", "held too long", f"{member.name} held {lot.held} of lot {lot.id} for "
                      f"{(until - lot.held_since) / 86_400:.1f} days (threshold "
                      f"{self.thresholds.held_seconds / 86_400:g})", None, None, {"lot": lot.id})

    def finish(self, head_time: int) -> None:
        """Anomalies that need the whole chain: transfers, holdings, loss ratios, access volume."""
        t = self.thresholds
        for transfer in self.transfers.values():
            end = transfer.settled_at if transfer.settled_at is not None else head_time
            if end - transfer.sent_at > t.transit_seconds:
                state = "still in transit" if transfer.settled_at is None else "in transit"
                self._add("anomaly", "in transit too long", f"transfer {transfer.id} of lot {transfer.lot} "
                          f"({transfer.quantity} from {self._name(transfer.sender)} to {self._name(transfer.receiver)}) "
                          f"was {state} for {(end - transfer.sent_at) / 3600:.1f} h (threshold {t.transit_seconds / 3600:g} h)",
                          transfer.evidence.get("block"), None, transfer.evidence)
        for lot in self.lots.values():
            self._held_check(lot, head_time, None)
            if lot.original and lot.losses / lot.original > t.loss_ratio:
                self._add("anomaly", "loss ratio", f"lot {lot.id} lost {lot.losses} of {lot.original} "
                          f"({100 * lot.losses / lot.original:.1f} %, threshold {100 * t.loss_ratio:g} %)", None, None,
                          {"lot": lot.id, "losses": lot.losses, "original": lot.original})
        for member_id, days in self._daily.items():
            if len(days) < t.access_days:
                continue
            normal = statistics.median(days.values())
            for day, count in sorted(days.items()):
                if count >= t.access_minimum and count > t.access_factor * normal:
                    self._add("anomaly", "access volume", f"{self._name(member_id)} made {count} accesses on day "
                              f"{day} (its median is {normal:g} a day)", None, None, {"member": member_id, "day": day})


@dataclass
class _Context:
    engine: RuleEngine
    header: Header
    tx: Transaction
    tx_index: int
    log_index: int
    proof: ProofFn
    now: int

    def location(self) -> dict[str, Any]:
        """Where the event is: block, transaction and the log's position in its receipt."""
        return {"block": self.header.number, "txHash": "0x" + self.tx.hash.hex(), "txIndex": self.tx_index,
                "logIndex": self.log_index}

    def evidence(self) -> dict[str, Any]:
        """Where the event is, with the receipt proof of its log (the gateway's wire format)."""
        return {**self.location(), "proof": self.proof(self.tx_index, self.log_index)}
