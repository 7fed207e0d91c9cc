// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MemberGated} from "./MemberGated.sol";
import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title SupplyCustody
 * @notice Custody of donated supplies from intake to consumption (PRODUCT.md, "Supply custody"):
 * lots, hand-overs between members, losses, consumption and corrections.
 *
 * Actors are members of the {MemberRegistry} given at construction. Every state-changing call is
 * made by an account of an Active member and acts for that member, as the registry records it at
 * the block of the transaction ({MemberGated}; {MemberGated.MemberGatedNotActive} otherwise).
 *
 * Quantities are in the lot's base unit. Every lot keeps, at every step,
 *
 *     original == held + inTransit + consumed + losses + childOriginals
 *
 * and every change re-checks it ({SupplyCustodyConservationViolated}, unreachable through this API).
 *
 * Life of a lot:
 *
 * - {registerLot}: a Charity member registers a donation; it holds the whole `original`. The lot's
 *   public identifier is its receipt code `keccak256(abi.encode(chainid, this, lotId,
 *   donorCommitment))`, which the donor receives; {lotIdByReceipt} finds the lot from it without
 *   revealing the donor, whose identity is only in the salted `donorCommitment`.
 * - {transfer}: the holder sends `q` of its held quantity to another custody member. Sending the
 *   whole held quantity moves the lot itself (same id); sending a part first splits off a child lot
 *   whose `original` is `q` (the parent adds `q` to `childOriginals`) and moves the child. While the
 *   transfer is pending, the moved lot's quantity is `inTransit`, its `holder` is still the sender,
 *   its `pendingTransfer` names the transfer, and nobody may act on it except the receiver.
 * - {accept}: the receiver takes `r <= q`; `q - r` becomes a loss with a reason; the receiver
 *   becomes the holder. {refuse}: the goods go back to the sender, who stays the holder of the
 *   moved lot. A refused child lot is not merged back into its parent: it stays a lot of its own,
 *   held by the sender, who may send or consume it like any other lot.
 * - {recall}: the sender takes back goods still in transit, as if refused, when the receiver is no
 *   longer an Active member (it can then neither accept nor refuse), or when the transfer has been
 *   in transit for longer than {transitTimeout} (7 days): a receiver that has had a week to accept
 *   or refuse has failed its step, and goods must not stay on nobody's books forever.
 * - {consume}: a Hospital or Charity holder records consumption or distribution to people, with a
 *   document. Warehouses and logistics members are intermediaries: their goods leave only by
 *   transfer or as recorded losses.
 * - {correct}: nothing is rewritten. A correction is a new event that points at an earlier event
 *   and moves quantity between `held` and `losses` of that event's lot, which keeps conservation by
 *   construction. Only the member whose count the corrected event recorded may correct it, only
 *   while it holds the lot, and only by the quantity that event counted:
 *   - `Found` (losses back to held) corrects an event that recorded a loss: an acceptance with a
 *     shortfall, or a `Loss` correction. It is made by the member that recorded that loss (the
 *     receiver), up to the loss that event recorded less what was already found against it. So a
 *     later holder can never "find", and then consume, a loss an earlier holder recorded.
 *   - `Loss` (held to losses) corrects an event that put goods into the holder's count: a
 *     registration (by the intake charity), an acceptance (by the receiver), a refusal or a recall
 *     (by the sender, to whom the goods came back; for a refusal that is the other party of the
 *     transfer), or a `Found` correction (by its author), up to what that event counted less what
 *     was already corrected as lost against it.
 *   Sending, splitting and consuming count nothing into anyone's held quantity, so they cannot be
 *   corrected ({SupplyCustodyEventNotCorrectable}).
 *
 * Only Charity, Warehouse, Logistics and Hospital members hold goods; departments, regulators,
 * auditors and admins cannot be receivers.
 *
 * Every state-changing call takes the next sequential event id, carried by each event it emits and
 * kept in {getEvent} so that corrections can point at it. Every Solidity event carries the acting
 * member and the account it used, so the records can be rebuilt from the logs alone.
 */
contract SupplyCustody is MemberGated {
    /// @dev The state of a transfer; `None` only for ids that do not exist.
    enum TransferStatus {
        None,
        InTransit,
        Accepted,
        Refused,
        Recalled
    }

    /// @dev Which call produced an event id.
    enum EventKind {
        None,
        Registered,
        Sent,
        Accepted,
        Refused,
        Consumed,
        Corrected,
        Recalled
    }

    /// @dev What a correction does: `Loss` moves quantity from held to losses, `Found` from losses
    /// back to held.
    enum CorrectionKind {
        Loss,
        Found
    }

    /// @dev A lot, as stored and as returned by {getLot}. Member ids are those of the registry; lot
    /// and transfer ids start at 1, and 0 means "none".
    struct Lot {
        uint256 original;
        uint256 held;
        uint256 inTransit;
        uint256 consumed;
        uint256 losses;
        uint256 childOriginals; // sum of the `original` of every child lot split off this one
        uint256 holder; // member id; the sender while a transfer of this lot is pending
        uint256 parent; // lot this one was split off, 0 for a registered lot
        uint256 root; // the registered lot this one descends from (itself for a registered lot)
        uint256 pendingTransfer; // the transfer moving this lot, 0 when none is pending
        bytes32 itemCode; // category code or GS1 GTIN
        bytes32 unit;
        uint64 expiry; // unix time, 0 when the goods do not expire
        bytes32 receiptCode; // of the root lot: child lots carry their donation's receipt code
    }

    /// @dev The intake record of a registered lot, as stored and as returned by {intake}.
    struct Intake {
        uint256 charityId;
        bytes32 donorCommitment; // salted commitment to the donor; never the donor in clear
        uint64 registeredAt; // block timestamp
        string donorPublicName; // optional, empty when the donor stays anonymous
        string documentsCid; // IPFS CID of the intake documents
    }

    /// @dev A transfer, as stored and as returned by {transfer}.
    struct Transfer {
        uint256 lotId; // the moved lot (a new child lot when part of a lot was sent)
        uint256 parentLotId; // the lot a child was split off, 0 when a whole lot moved
        uint256 fromMemberId;
        uint256 toMemberId;
        uint256 quantity; // sent
        uint256 received; // accepted quantity; 0 until accepted
        uint64 sentAt; // block timestamp
        uint64 settledAt; // block timestamp of accept or refuse, 0 while in transit
        TransferStatus status;
    }

    /// @dev What {getEvent} returns: the call behind an event id, the lots it changed and what it
    /// counted, which bounds the corrections it can take.
    struct EventRecord {
        EventKind kind;
        uint64 at; // block timestamp
        uint256 memberId; // the acting member
        uint256 lotId; // the lot registered, moved, accepted, refused, recalled, consumed or corrected
        uint256 otherLotId; // for a split transfer, the parent lot; otherwise 0
        uint256 transferId; // Sent, Accepted, Refused, Recalled: the transfer; otherwise 0
        uint256 refersTo; // Corrected: the corrected event; otherwise 0
        uint256 added; // quantity this event put into the held quantity of `lotId`
        uint256 lost; // quantity this event recorded as lost on `lotId`
    }

    /// @dev Goods in transit for longer than this may be recalled by their sender.
    uint64 private constant TRANSIT_TIMEOUT = 7 days;

    mapping(uint256 lotId => Lot) private _lots;
    mapping(uint256 lotId => Intake) private _intakes;
    mapping(bytes32 receiptCode => uint256 lotId) private _lotIdByReceipt;
    uint256 private _lotCount;

    mapping(uint256 transferId => Transfer) private _transfers;
    uint256 private _transferCount;

    mapping(uint256 eventId => EventRecord) private _events;
    uint256 private _eventCount;
    // Quantities already corrected against an event: Loss corrections (at most its `added`) and
    // Found corrections (at most its `lost`).
    mapping(uint256 eventId => uint256) private _lossCorrected;
    mapping(uint256 eventId => uint256) private _foundCorrected;

    /// @dev Charity `charityId` registered lot `lotId` through `account`; the donor's receipt code
    /// is `receiptCode`.
    event LotRegistered(
        uint256 eventId,
        uint256 indexed lotId,
        uint256 indexed charityId,
        bytes32 indexed receiptCode,
        address account,
        bytes32 itemCode,
        uint256 quantity,
        bytes32 unit,
        bytes32 donorCommitment,
        string donorPublicName,
        string documentsCid,
        uint64 expiry
    );
    /// @dev Member `memberId` split child lot `childLotId` of `quantity` off `parentLotId` to send it;
    /// the child has its parent's item, unit, expiry and receipt code. {TransferSent} follows.
    event LotSplit(
        uint256 eventId,
        uint256 indexed parentLotId,
        uint256 indexed childLotId,
        uint256 indexed memberId,
        uint256 quantity
    );
    /// @dev Member `fromMemberId` sent `quantity` of lot `lotId` (split off `parentLotId`, or 0 when
    /// the whole lot moved) to `toMemberId` through `account`.
    event TransferSent(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed toMemberId,
        uint256 fromMemberId,
        address account,
        uint256 parentLotId,
        uint256 quantity
    );
    /// @dev Receiver `memberId` accepted `received` of the `sent` quantity; `sent - received` is a
    /// loss of lot `lotId` with `lossReason`. The receiver now holds the lot.
    event TransferAccepted(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        address account,
        uint256 sent,
        uint256 received,
        string lossReason
    );
    /// @dev Receiver `memberId` refused the transfer; `quantity` went back to the sender.
    event TransferRefused(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        address account,
        uint256 quantity,
        string reason
    );
    /// @dev Sender `memberId` took back `quantity` still in transit; `receiverStatus` is the
    /// receiver's status at that block (Active means the transit timeout had passed).
    event TransferRecalled(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        address account,
        uint256 quantity,
        MemberRegistry.Status receiverStatus,
        string reason
    );
    /// @dev Holder `memberId` recorded `quantity` of lot `lotId` consumed or distributed.
    event LotConsumed(
        uint256 eventId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        address account,
        uint256 quantity,
        string documentsCid
    );
    /// @dev Member `memberId` corrected event `correctedEventId` of lot `lotId`: `Loss` moved
    /// `quantity` from held to losses, `Found` from losses to held.
    event CorrectionRecorded(
        uint256 eventId,
        uint256 indexed correctedEventId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        address account,
        CorrectionKind kind,
        uint256 quantity,
        string reason
    );

    /// @dev Member `memberId`, of kind `kind`, does not hold goods and cannot receive them.
    error SupplyCustodyInvalidReceiverKind(uint256 memberId, MemberRegistry.MemberKind kind);
    /// @dev No member has id `memberId`.
    error SupplyCustodyUnknownMember(uint256 memberId);
    /// @dev The receiver `memberId` is not Active.
    error SupplyCustodyInactiveReceiver(uint256 memberId, MemberRegistry.Status status);
    /// @dev No lot has id `lotId`.
    error SupplyCustodyUnknownLot(uint256 lotId);
    /// @dev No transfer has id `transferId`.
    error SupplyCustodyUnknownTransfer(uint256 transferId);
    /// @dev No event has id `eventId`.
    error SupplyCustodyUnknownEvent(uint256 eventId);
    /// @dev Member `memberId` does not hold lot `lotId`.
    error SupplyCustodyNotHolder(uint256 lotId, uint256 memberId);
    /// @dev Member `memberId` is not the receiver of transfer `transferId`.
    error SupplyCustodyNotReceiver(uint256 transferId, uint256 memberId);
    /// @dev Member `memberId` is not the sender of transfer `transferId`.
    error SupplyCustodyNotSender(uint256 transferId, uint256 memberId);
    /// @dev Transfer `transferId` cannot be recalled yet: its receiver is `receiverStatus` (Active),
    /// and the transit timeout ends at `recallableAt`.
    error SupplyCustodyRecallTooEarly(uint256 transferId, MemberRegistry.Status receiverStatus, uint64 recallableAt);
    /// @dev Transfer `transferId` is no longer in transit.
    error SupplyCustodyTransferSettled(uint256 transferId, TransferStatus status);
    /// @dev Lot `lotId` is in transit under transfer `transferId`; its holder cannot act on it.
    error SupplyCustodyLotInTransit(uint256 lotId, uint256 transferId);
    /// @dev A quantity of zero was given where a positive one is needed.
    error SupplyCustodyZeroQuantity();
    /// @dev `quantity` is more than the `held` quantity of lot `lotId`.
    error SupplyCustodyExceedsHeld(uint256 lotId, uint256 quantity, uint256 held);
    /// @dev `received` is more than the `sent` quantity of transfer `transferId`.
    error SupplyCustodyExceedsSent(uint256 transferId, uint256 received, uint256 sent);
    /// @dev `quantity` is more than the `remaining` quantity event `eventId` can still be corrected by.
    error SupplyCustodyExceedsCorrectable(uint256 eventId, uint256 quantity, uint256 remaining);
    /// @dev Member `memberId` tried to send lot `lotId` to itself.
    error SupplyCustodySelfTransfer(uint256 lotId, uint256 memberId);
    /// @dev The required field `field` is empty (zero or the empty string).
    error SupplyCustodyMissingField(string field);
    /// @dev Event `eventId`, of kind `eventKind`, counted nothing that a `correction` could correct.
    error SupplyCustodyEventNotCorrectable(uint256 eventId, EventKind eventKind, CorrectionKind correction);
    /// @dev Member `memberId` is not the member whose count event `eventId` recorded (`party`).
    error SupplyCustodyNotEventParty(uint256 eventId, uint256 memberId, uint256 party);
    /// @dev Lot `lotId` no longer balances: `original` differs from what is accounted for.
    error SupplyCustodyConservationViolated(uint256 lotId, uint256 original, uint256 accounted);

    /// @dev `registry_` is the consortium's {MemberRegistry}; it cannot be changed later.
    constructor(MemberRegistry registry_) MemberGated(registry_) {}

    // ------------------------------------------------------------------------------------------
    // Custody
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Registers a donated lot; the calling Charity member is its intake charity and holder.
     * @dev Callable by accounts of Active members of kind Charity ({MemberGatedUnauthorizedKind}).
     * `quantity` must be positive ({SupplyCustodyZeroQuantity}); `itemCode`, `unit`,
     * `donorCommitment` and `documentsCid` must not be empty ({SupplyCustodyMissingField});
     * `donorPublicName` may be empty; `expiry` is a unix time or 0 for none.
     *
     * Emits {LotRegistered} with the lot's receipt code.
     */
    function registerLot(
        bytes32 itemCode,
        uint256 quantity,
        bytes32 unit,
        bytes32 donorCommitment,
        string calldata donorPublicName,
        string calldata documentsCid,
        uint64 expiry
    ) external returns (uint256 lotId) {
        uint256 memberId = _actorOfKind(_kind(MemberRegistry.MemberKind.Charity));
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (itemCode == bytes32(0)) revert SupplyCustodyMissingField("itemCode");
        if (unit == bytes32(0)) revert SupplyCustodyMissingField("unit");
        if (donorCommitment == bytes32(0)) revert SupplyCustodyMissingField("donorCommitment");
        if (bytes(documentsCid).length == 0) revert SupplyCustodyMissingField("documentsCid");

        lotId = ++_lotCount;
        bytes32 receiptCode = keccak256(abi.encode(block.chainid, address(this), lotId, donorCommitment));
        Lot storage l = _lots[lotId];
        l.original = quantity;
        l.held = quantity;
        l.holder = memberId;
        l.root = lotId;
        l.itemCode = itemCode;
        l.unit = unit;
        l.expiry = expiry;
        l.receiptCode = receiptCode;
        _intakes[lotId] = Intake({
            charityId: memberId,
            donorCommitment: donorCommitment,
            registeredAt: uint64(block.timestamp),
            donorPublicName: donorPublicName,
            documentsCid: documentsCid
        });
        _lotIdByReceipt[receiptCode] = lotId;
        EventRecord storage e = _recordEvent(EventKind.Registered, memberId, lotId, 0);
        e.added = quantity;
        _checkConservation(lotId);
        _emitRegistered(_eventCount, lotId);
    }

    /**
     * @notice Sends `quantity` of lot `lotId` to member `toMemberId`; the goods are in transit
     * until the receiver accepts or refuses (or the sender recalls them, see {recall}).
     * @dev Callable by accounts of the lot's holder ({SupplyCustodyNotHolder}) while the lot is not
     * itself in transit ({SupplyCustodyLotInTransit}). `quantity` must be positive and at most the
     * held quantity ({SupplyCustodyZeroQuantity}, {SupplyCustodyExceedsHeld}). The receiver must be
     * another ({SupplyCustodySelfTransfer}), existing ({SupplyCustodyUnknownMember}), Active
     * ({SupplyCustodyInactiveReceiver}) member of kind Charity, Warehouse, Logistics or Hospital
     * ({SupplyCustodyInvalidReceiverKind}).
     *
     * Sending the whole held quantity moves lot `lotId` itself and `movedLotId == lotId`. Sending
     * a part splits off a new child lot, `movedLotId`, and emits {LotSplit} first.
     *
     * Emits {LotSplit} (part only), then {TransferSent}.
     */
    function transfer(
        uint256 lotId,
        uint256 quantity,
        uint256 toMemberId
    ) external returns (uint256 transferId, uint256 movedLotId) {
        (uint256 memberId, ) = _actor();
        Lot storage l = _heldLot(lotId, memberId);
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (quantity > l.held) revert SupplyCustodyExceedsHeld(lotId, quantity, l.held);
        if (toMemberId == memberId) revert SupplyCustodySelfTransfer(lotId, memberId);
        _checkReceiver(toMemberId);

        transferId = ++_transferCount;
        uint256 parentLotId;
        if (quantity == l.held) {
            movedLotId = lotId;
            l.held = 0;
            l.inTransit = quantity;
            l.pendingTransfer = transferId;
            _recordEvent(EventKind.Sent, memberId, lotId, 0).transferId = transferId;
        } else {
            parentLotId = lotId;
            movedLotId = ++_lotCount;
            l.held -= quantity;
            l.childOriginals += quantity;
            Lot storage child = _lots[movedLotId];
            child.original = quantity;
            child.inTransit = quantity;
            child.holder = memberId;
            child.parent = lotId;
            child.root = l.root;
            child.pendingTransfer = transferId;
            child.itemCode = l.itemCode;
            child.unit = l.unit;
            child.expiry = l.expiry;
            child.receiptCode = l.receiptCode;
            _recordEvent(EventKind.Sent, memberId, movedLotId, lotId).transferId = transferId;
            _checkConservation(lotId);
            emit LotSplit(_eventCount, lotId, movedLotId, memberId, quantity);
        }
        _transfers[transferId] = Transfer({
            lotId: movedLotId,
            parentLotId: parentLotId,
            fromMemberId: memberId,
            toMemberId: toMemberId,
            quantity: quantity,
            received: 0,
            sentAt: uint64(block.timestamp),
            settledAt: 0,
            status: TransferStatus.InTransit
        });
        _checkConservation(movedLotId);
        emit TransferSent(_eventCount, transferId, movedLotId, toMemberId, memberId, msg.sender, parentLotId, quantity);
    }

    /**
     * @notice Accepts transfer `transferId` with the quantity actually received; the receiver
     * becomes the holder and any shortfall is recorded as a loss of the moved lot.
     * @dev Callable by accounts of the transfer's receiver ({SupplyCustodyNotReceiver}) while it is
     * in transit ({SupplyCustodyUnknownTransfer}, {SupplyCustodyTransferSettled}).
     * `receivedQuantity` may be anything from 0 to the sent quantity ({SupplyCustodyExceedsSent});
     * when it is less, `lossReason` must not be empty ({SupplyCustodyMissingField}).
     *
     * Emits {TransferAccepted}.
     */
    function accept(uint256 transferId, uint256 receivedQuantity, string calldata lossReason) external {
        (uint256 memberId, ) = _actor();
        Transfer storage t = _pendingTransferTo(transferId, memberId);
        uint256 sent = t.quantity;
        if (receivedQuantity > sent) revert SupplyCustodyExceedsSent(transferId, receivedQuantity, sent);
        if (receivedQuantity < sent && bytes(lossReason).length == 0) revert SupplyCustodyMissingField("lossReason");

        uint256 lotId = t.lotId;
        Lot storage l = _lots[lotId];
        l.inTransit -= sent;
        l.held += receivedQuantity;
        l.losses += sent - receivedQuantity;
        l.holder = memberId;
        l.pendingTransfer = 0;
        t.received = receivedQuantity;
        t.settledAt = uint64(block.timestamp);
        t.status = TransferStatus.Accepted;
        EventRecord storage e = _recordEvent(EventKind.Accepted, memberId, lotId, 0);
        e.transferId = transferId;
        e.added = receivedQuantity;
        e.lost = sent - receivedQuantity;
        _checkConservation(lotId);
        emit TransferAccepted(_eventCount, transferId, lotId, memberId, msg.sender, sent, receivedQuantity, lossReason);
    }

    /**
     * @notice Refuses transfer `transferId`; the whole sent quantity returns to the sender, who
     * stays the holder of the moved lot (a refused child lot is not merged back into its parent).
     * @dev Callable by accounts of the transfer's receiver ({SupplyCustodyNotReceiver}) while it is
     * in transit ({SupplyCustodyUnknownTransfer}, {SupplyCustodyTransferSettled}); `reason` must not
     * be empty ({SupplyCustodyMissingField}).
     *
     * Emits {TransferRefused}.
     */
    function refuse(uint256 transferId, string calldata reason) external {
        (uint256 memberId, ) = _actor();
        Transfer storage t = _pendingTransferTo(transferId, memberId);
        if (bytes(reason).length == 0) revert SupplyCustodyMissingField("reason");
        (uint256 lotId, uint256 quantity) = _returnToSender(transferId, t, TransferStatus.Refused, EventKind.Refused, memberId);
        emit TransferRefused(_eventCount, transferId, lotId, memberId, msg.sender, quantity, reason);
    }

    /**
     * @notice Takes back goods still in transit under transfer `transferId`, as if the receiver had
     * refused them: the whole sent quantity returns to the sender, who stays the holder.
     * @dev Callable by accounts of the transfer's sender ({SupplyCustodyNotSender}) while it is in
     * transit ({SupplyCustodyUnknownTransfer}, {SupplyCustodyTransferSettled}), with a non-empty
     * `reason` ({SupplyCustodyMissingField}), and only when the receiver is no longer an Active
     * member at this block, or when more than {transitTimeout} seconds have passed since it was sent
     * ({SupplyCustodyRecallTooEarly} otherwise).
     *
     * Emits {TransferRecalled}.
     */
    function recall(uint256 transferId, string calldata reason) external {
        (uint256 memberId, ) = _actor();
        Transfer storage t = _transfers[transferId];
        if (t.status == TransferStatus.None) revert SupplyCustodyUnknownTransfer(transferId);
        if (t.fromMemberId != memberId) revert SupplyCustodyNotSender(transferId, memberId);
        if (t.status != TransferStatus.InTransit) revert SupplyCustodyTransferSettled(transferId, t.status);
        if (bytes(reason).length == 0) revert SupplyCustodyMissingField("reason");
        (, MemberRegistry.Status receiverStatus) = _memberInfo(t.toMemberId);
        uint64 recallableAt = t.sentAt + TRANSIT_TIMEOUT;
        if (receiverStatus == MemberRegistry.Status.Active && block.timestamp <= recallableAt) {
            revert SupplyCustodyRecallTooEarly(transferId, receiverStatus, recallableAt);
        }
        (uint256 lotId, uint256 quantity) = _returnToSender(transferId, t, TransferStatus.Recalled, EventKind.Recalled, memberId);
        emit TransferRecalled(_eventCount, transferId, lotId, memberId, msg.sender, quantity, receiverStatus, reason);
    }

    /**
     * @notice Records that `quantity` of lot `lotId` was consumed or distributed to people, with
     * the document that proves it.
     * @dev Callable by accounts of the lot's holder ({SupplyCustodyNotHolder}) while the lot is not
     * in transit ({SupplyCustodyLotInTransit}), and only if the holder is a Hospital or a Charity
     * ({MemberGatedUnauthorizedKind}). `quantity` must be positive and at most the held quantity
     * ({SupplyCustodyZeroQuantity}, {SupplyCustodyExceedsHeld}); `documentsCid` must not be empty
     * ({SupplyCustodyMissingField}).
     *
     * Emits {LotConsumed}.
     */
    function consume(uint256 lotId, uint256 quantity, string calldata documentsCid) external {
        uint256 memberId = _actorOfKind(
            _kind(MemberRegistry.MemberKind.Hospital) | _kind(MemberRegistry.MemberKind.Charity)
        );
        Lot storage l = _heldLot(lotId, memberId);
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (quantity > l.held) revert SupplyCustodyExceedsHeld(lotId, quantity, l.held);
        if (bytes(documentsCid).length == 0) revert SupplyCustodyMissingField("documentsCid");

        l.held -= quantity;
        l.consumed += quantity;
        _recordEvent(EventKind.Consumed, memberId, lotId, 0);
        _checkConservation(lotId);
        emit LotConsumed(_eventCount, lotId, memberId, msg.sender, quantity, documentsCid);
    }

    /**
     * @notice Corrects event `eventId` by a new event on its lot: `Loss` moves `quantity` from held
     * to losses (goods counted in that were not there), `Found` moves it from losses back to held
     * (goods that event recorded lost turned up). The corrected event is not changed.
     * @dev The rules are in the contract documentation. Reverts with {SupplyCustodyUnknownEvent};
     * {SupplyCustodyEventNotCorrectable} when the event counted nothing the correction could correct
     * (Found needs a recorded loss, Loss needs goods counted in); {SupplyCustodyNotEventParty} when
     * the caller's member is not the one whose count the event recorded; {SupplyCustodyNotHolder} or
     * {SupplyCustodyLotInTransit} unless it holds the lot and the lot is not in transit;
     * {SupplyCustodyZeroQuantity}; {SupplyCustodyExceedsCorrectable} beyond what is left of the
     * event's count; {SupplyCustodyExceedsHeld} for a Loss beyond the held quantity; and
     * {SupplyCustodyMissingField} for an empty `reason`.
     *
     * Emits {CorrectionRecorded}.
     */
    function correct(uint256 eventId, CorrectionKind kind, uint256 quantity, string calldata reason) external {
        (uint256 memberId, ) = _actor();
        uint256 lotId = _checkCorrection(eventId, kind, quantity, memberId);
        if (bytes(reason).length == 0) revert SupplyCustodyMissingField("reason");

        Lot storage l = _lots[lotId];
        EventRecord storage correction = _recordEvent(EventKind.Corrected, memberId, lotId, 0);
        correction.refersTo = eventId;
        if (kind == CorrectionKind.Loss) {
            l.held -= quantity;
            l.losses += quantity;
            _lossCorrected[eventId] += quantity;
            correction.lost = quantity;
        } else {
            l.losses -= quantity;
            l.held += quantity;
            _foundCorrected[eventId] += quantity;
            correction.added = quantity;
        }
        _checkConservation(lotId);
        emit CorrectionRecorded(_eventCount, eventId, lotId, memberId, msg.sender, kind, quantity, reason);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Lot `lotId` ({SupplyCustodyUnknownLot} if there is none). Anyone may call.
    function getLot(uint256 lotId) external view returns (Lot memory) {
        return _existingLot(lotId);
    }

    /// @notice The intake record of the donation lot `lotId` descends from: the registered lot's
    /// own record for a registered lot, its root's for a child lot ({SupplyCustodyUnknownLot} if
    /// there is no lot `lotId`). Anyone may call.
    function getIntake(uint256 lotId) external view returns (Intake memory) {
        return _intakes[_existingLot(lotId).root];
    }

    /// @notice The registered lot whose receipt code is `receiptCode`, or 0 if none. Anyone may call.
    function lotIdByReceipt(bytes32 receiptCode) external view returns (uint256) {
        return _lotIdByReceipt[receiptCode];
    }

    /// @notice Transfer `transferId` ({SupplyCustodyUnknownTransfer} if there is none). Anyone may
    /// call. `sentAt` and `settledAt` measure time in transit.
    function getTransfer(uint256 transferId) external view returns (Transfer memory) {
        Transfer storage t = _transfers[transferId];
        if (t.status == TransferStatus.None) revert SupplyCustodyUnknownTransfer(transferId);
        return t;
    }

    /// @notice The call behind event id `eventId` ({SupplyCustodyUnknownEvent} if there is none).
    /// Anyone may call.
    function getEvent(uint256 eventId) external view returns (EventRecord memory) {
        if (eventId == 0 || eventId > _eventCount) revert SupplyCustodyUnknownEvent(eventId);
        return _events[eventId];
    }

    /**
     * @notice How much of event `eventId`'s count has been corrected: `lossCorrected` by Loss
     * corrections (at most its `added`), `foundCorrected` by Found corrections (at most its
     * `lost`). Anyone may call.
     * @dev Reverts with {SupplyCustodyUnknownEvent}. The same sums follow from the
     * {CorrectionRecorded} logs.
     */
    function correctedOf(uint256 eventId) external view returns (uint256 lossCorrected, uint256 foundCorrected) {
        if (eventId == 0 || eventId > _eventCount) revert SupplyCustodyUnknownEvent(eventId);
        return (_lossCorrected[eventId], _foundCorrected[eventId]);
    }

    /// @notice Seconds after `sentAt` from which the sender may recall goods from an Active
    /// receiver that has neither accepted nor refused them (7 days). Anyone may call.
    function transitTimeout() external pure returns (uint64) {
        return TRANSIT_TIMEOUT;
    }

    /// @notice Number of lots ever created (registered or split off); ids are 1..lotCount().
    /// Anyone may call.
    function lotCount() external view returns (uint256) {
        return _lotCount;
    }

    /// @notice Number of transfers ever sent; ids are 1..transferCount(). Anyone may call.
    function transferCount() external view returns (uint256) {
        return _transferCount;
    }

    /// @notice Number of event ids ever issued; ids are 1..eventCount(). Anyone may call.
    function eventCount() external view returns (uint256) {
        return _eventCount;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Goods may be sent only to an existing, Active member that holds goods.
    function _checkReceiver(uint256 memberId) private view {
        (MemberRegistry.MemberKind kind, MemberRegistry.Status status) = _memberInfo(memberId);
        if (status == MemberRegistry.Status.None) revert SupplyCustodyUnknownMember(memberId);
        if (status != MemberRegistry.Status.Active) revert SupplyCustodyInactiveReceiver(memberId, status);
        uint256 holders = _kind(MemberRegistry.MemberKind.Charity) |
            _kind(MemberRegistry.MemberKind.Warehouse) |
            _kind(MemberRegistry.MemberKind.Logistics) |
            _kind(MemberRegistry.MemberKind.Hospital);
        if (!_isKind(kind, holders)) revert SupplyCustodyInvalidReceiverKind(memberId, kind);
    }

    /// @dev {correct}'s checks, in the order its documentation lists the errors; returns the lot.
    function _checkCorrection(
        uint256 eventId,
        CorrectionKind kind,
        uint256 quantity,
        uint256 memberId
    ) private view returns (uint256 lotId) {
        if (eventId == 0 || eventId > _eventCount) revert SupplyCustodyUnknownEvent(eventId);
        EventRecord storage wrong = _events[eventId];
        uint256 remaining;
        if (kind == CorrectionKind.Found) {
            if (wrong.lost == 0) revert SupplyCustodyEventNotCorrectable(eventId, wrong.kind, kind);
            remaining = wrong.lost - _foundCorrected[eventId];
        } else {
            if (wrong.added == 0) revert SupplyCustodyEventNotCorrectable(eventId, wrong.kind, kind);
            remaining = wrong.added - _lossCorrected[eventId];
        }
        uint256 party = _countedFor(wrong, kind);
        if (party != memberId) revert SupplyCustodyNotEventParty(eventId, memberId, party);
        lotId = wrong.lotId;
        Lot storage l = _heldLot(lotId, memberId);
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (quantity > remaining) revert SupplyCustodyExceedsCorrectable(eventId, quantity, remaining);
        if (kind == CorrectionKind.Loss && quantity > l.held) revert SupplyCustodyExceedsHeld(lotId, quantity, l.held);
    }

    /**
     * @dev The member whose count event `e` recorded, for a correction of kind `kind`: the one that
     * recorded the loss (Found), or the one whose held quantity the event increased (Loss): the
     * sender for a refusal, the acting member otherwise.
     */
    function _countedFor(EventRecord storage e, CorrectionKind kind) private view returns (uint256) {
        if (kind == CorrectionKind.Loss && e.kind == EventKind.Refused) return _transfers[e.transferId].fromMemberId;
        return e.memberId;
    }

    function _existingLot(uint256 lotId) private view returns (Lot storage l) {
        l = _lots[lotId];
        if (l.original == 0) revert SupplyCustodyUnknownLot(lotId);
    }

    /// @dev Lot `lotId`, which `memberId` must hold and which must not be in transit.
    function _heldLot(uint256 lotId, uint256 memberId) private view returns (Lot storage l) {
        l = _existingLot(lotId);
        if (l.holder != memberId) revert SupplyCustodyNotHolder(lotId, memberId);
        if (l.pendingTransfer != 0) revert SupplyCustodyLotInTransit(lotId, l.pendingTransfer);
    }

    /// @dev Transfer `transferId`, which must be in transit to `memberId`.
    function _pendingTransferTo(uint256 transferId, uint256 memberId) private view returns (Transfer storage t) {
        t = _transfers[transferId];
        if (t.status == TransferStatus.None) revert SupplyCustodyUnknownTransfer(transferId);
        if (t.toMemberId != memberId) revert SupplyCustodyNotReceiver(transferId, memberId);
        if (t.status != TransferStatus.InTransit) revert SupplyCustodyTransferSettled(transferId, t.status);
    }

    /// @dev Settles transfer `t` by returning its goods to the sender (refusal or recall).
    function _returnToSender(
        uint256 transferId,
        Transfer storage t,
        TransferStatus status,
        EventKind kind,
        uint256 memberId
    ) private returns (uint256 lotId, uint256 quantity) {
        lotId = t.lotId;
        quantity = t.quantity;
        Lot storage l = _lots[lotId];
        l.inTransit -= quantity;
        l.held += quantity;
        l.pendingTransfer = 0;
        t.settledAt = uint64(block.timestamp);
        t.status = status;
        EventRecord storage e = _recordEvent(kind, memberId, lotId, 0);
        e.transferId = transferId;
        e.added = quantity;
        _checkConservation(lotId);
    }

    /// @dev Takes the next event id (`_eventCount` afterwards) and records who did what to which lot.
    function _recordEvent(
        EventKind kind,
        uint256 memberId,
        uint256 lotId,
        uint256 otherLotId
    ) private returns (EventRecord storage e) {
        e = _events[++_eventCount];
        e.kind = kind;
        e.at = uint64(block.timestamp);
        e.memberId = memberId;
        e.lotId = lotId;
        e.otherLotId = otherLotId;
    }

    /// @dev original == held + inTransit + consumed + losses + childOriginals, after every change.
    function _checkConservation(uint256 lotId) private view {
        Lot storage l = _lots[lotId];
        uint256 accounted = l.held + l.inTransit + l.consumed + l.losses + l.childOriginals;
        if (accounted != l.original) revert SupplyCustodyConservationViolated(lotId, l.original, accounted);
    }

    /// @dev Emits {LotRegistered} from storage (keeps {registerLot} within the stack limit).
    function _emitRegistered(uint256 eventId, uint256 lotId) private {
        Lot storage l = _lots[lotId];
        Intake storage i = _intakes[lotId];
        emit LotRegistered(
            eventId,
            lotId,
            i.charityId,
            l.receiptCode,
            msg.sender,
            l.itemCode,
            l.original,
            l.unit,
            i.donorCommitment,
            i.donorPublicName,
            i.documentsCid,
            l.expiry
        );
    }
}
