// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title SupplyCustody
 * @notice Custody of donated supplies from intake to consumption (PRODUCT.md, "Supply custody"):
 * lots, hand-overs between members, losses, consumption and corrections.
 *
 * Actors are members of the {MemberRegistry} given at construction. Every state-changing call is
 * made by an account of an Active member ({SupplyCustodyNotActiveAccount} otherwise) and acts for
 * that member (`memberOf(msg.sender)`), so permission follows membership at the block of the
 * transaction.
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
 * - {consume}: a Hospital or Charity holder records consumption or distribution to people, with a
 *   document. Warehouses and logistics members are intermediaries: their goods leave only by
 *   transfer or as recorded losses.
 * - {correct}: nothing is rewritten. A correction is a new event that points at an earlier event
 *   of the same lot and moves quantity between `held` and `losses` (a loss found later, or goods
 *   found that were recorded lost), which keeps conservation by construction.
 *
 * Only Charity, Warehouse, Logistics and Hospital members hold goods; departments, regulators,
 * auditors and admins cannot be receivers.
 *
 * Every state-changing call takes the next sequential event id, carried by each event it emits and
 * kept in {custodyEvent} so that corrections can point at it.
 */
contract SupplyCustody {
    /// @dev The state of a transfer; `None` only for ids that do not exist.
    enum TransferStatus {
        None,
        InTransit,
        Accepted,
        Refused
    }

    /// @dev Which call produced an event id.
    enum EventKind {
        None,
        Registered,
        Sent,
        Accepted,
        Refused,
        Consumed,
        Corrected
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

    /// @dev What {custodyEvent} returns: the call behind an event id and the lots it changed.
    struct EventRecord {
        EventKind kind;
        uint64 at; // block timestamp
        uint256 memberId; // the acting member
        uint256 lotId; // the lot registered, moved, accepted, refused, consumed or corrected
        uint256 otherLotId; // for a split transfer, the parent lot; otherwise 0
    }

    MemberRegistry private immutable _registry;

    mapping(uint256 lotId => Lot) private _lots;
    mapping(uint256 lotId => Intake) private _intakes;
    mapping(bytes32 receiptCode => uint256 lotId) private _lotIdByReceipt;
    uint256 private _lotCount;

    mapping(uint256 transferId => Transfer) private _transfers;
    uint256 private _transferCount;

    mapping(uint256 eventId => EventRecord) private _events;
    uint256 private _eventCount;

    event LotRegistered(
        uint256 eventId,
        uint256 indexed lotId,
        uint256 indexed charityId,
        bytes32 indexed receiptCode,
        bytes32 itemCode,
        uint256 quantity,
        bytes32 unit,
        bytes32 donorCommitment,
        string donorPublicName,
        string documentsCid,
        uint64 expiry
    );
    event LotSplit(
        uint256 eventId,
        uint256 indexed parentLotId,
        uint256 indexed childLotId,
        uint256 indexed memberId,
        uint256 quantity
    );
    event TransferSent(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed toMemberId,
        uint256 fromMemberId,
        uint256 quantity
    );
    event TransferAccepted(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        uint256 sent,
        uint256 received,
        string lossReason
    );
    event TransferRefused(
        uint256 eventId,
        uint256 indexed transferId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        uint256 quantity,
        string reason
    );
    event LotConsumed(
        uint256 eventId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        uint256 quantity,
        string documentsCid
    );
    event CorrectionRecorded(
        uint256 eventId,
        uint256 indexed correctedEventId,
        uint256 indexed lotId,
        uint256 indexed memberId,
        CorrectionKind kind,
        uint256 quantity,
        string reason
    );

    /// @dev The registry address has no code.
    error SupplyCustodyInvalidRegistry(address registry);
    /// @dev `account` is not an account of an Active member.
    error SupplyCustodyNotActiveAccount(address account);
    /// @dev Member `memberId`, of kind `kind`, may not do this (register, consume or receive goods).
    error SupplyCustodyUnauthorizedKind(uint256 memberId, MemberRegistry.MemberKind kind);
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
    /// @dev `quantity` is more than the recorded `losses` of lot `lotId`.
    error SupplyCustodyExceedsLosses(uint256 lotId, uint256 quantity, uint256 losses);
    /// @dev Member `memberId` tried to send lot `lotId` to itself.
    error SupplyCustodySelfTransfer(uint256 lotId, uint256 memberId);
    /// @dev The required field `field` is empty (zero or the empty string).
    error SupplyCustodyMissingField(string field);
    /// @dev Event `eventId` did not change lot `lotId`, so it cannot be corrected on that lot.
    error SupplyCustodyEventNotOfLot(uint256 eventId, uint256 lotId);
    /// @dev Lot `lotId` no longer balances: `original` differs from what is accounted for.
    error SupplyCustodyConservationViolated(uint256 lotId, uint256 original, uint256 accounted);

    /// @dev `registry_` is the consortium's {MemberRegistry}.
    constructor(MemberRegistry registry_) {
        if (address(registry_).code.length == 0) revert SupplyCustodyInvalidRegistry(address(registry_));
        _registry = registry_;
    }

    // ------------------------------------------------------------------------------------------
    // Custody
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Registers a donated lot; the calling Charity member is its intake charity and holder.
     * @dev Callable by accounts of Active members of kind Charity ({SupplyCustodyUnauthorizedKind}).
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
        uint256 memberId = _actor();
        _requireKind(memberId, MemberRegistry.MemberKind.Charity, MemberRegistry.MemberKind.Charity);
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
        uint256 eventId = _recordEvent(EventKind.Registered, memberId, lotId, 0);
        _checkConservation(lotId);
        _emitRegistered(eventId, lotId);
    }

    /**
     * @notice Sends `quantity` of lot `lotId` to member `toMemberId`; the goods are in transit
     * until the receiver accepts or refuses.
     * @dev Callable by accounts of the lot's holder ({SupplyCustodyNotHolder}) while the lot is not
     * itself in transit ({SupplyCustodyLotInTransit}). `quantity` must be positive and at most the
     * held quantity ({SupplyCustodyZeroQuantity}, {SupplyCustodyExceedsHeld}). The receiver must be
     * another ({SupplyCustodySelfTransfer}), existing ({SupplyCustodyUnknownMember}), Active
     * ({SupplyCustodyInactiveReceiver}) member of kind Charity, Warehouse, Logistics or Hospital
     * ({SupplyCustodyUnauthorizedKind}).
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
        uint256 memberId = _actor();
        Lot storage l = _heldLot(lotId, memberId);
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (quantity > l.held) revert SupplyCustodyExceedsHeld(lotId, quantity, l.held);
        if (toMemberId == memberId) revert SupplyCustodySelfTransfer(lotId, memberId);
        _checkReceiver(toMemberId);

        transferId = ++_transferCount;
        uint256 parentLotId;
        uint256 eventId;
        if (quantity == l.held) {
            movedLotId = lotId;
            l.held = 0;
            l.inTransit = quantity;
            l.pendingTransfer = transferId;
            eventId = _recordEvent(EventKind.Sent, memberId, lotId, 0);
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
            eventId = _recordEvent(EventKind.Sent, memberId, movedLotId, lotId);
            _checkConservation(lotId);
            emit LotSplit(eventId, lotId, movedLotId, memberId, quantity);
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
        emit TransferSent(eventId, transferId, movedLotId, toMemberId, memberId, quantity);
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
        uint256 memberId = _actor();
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
        uint256 eventId = _recordEvent(EventKind.Accepted, memberId, lotId, 0);
        _checkConservation(lotId);
        emit TransferAccepted(eventId, transferId, lotId, memberId, sent, receivedQuantity, lossReason);
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
        uint256 memberId = _actor();
        Transfer storage t = _pendingTransferTo(transferId, memberId);
        if (bytes(reason).length == 0) revert SupplyCustodyMissingField("reason");

        uint256 lotId = t.lotId;
        uint256 quantity = t.quantity;
        Lot storage l = _lots[lotId];
        l.inTransit -= quantity;
        l.held += quantity;
        l.pendingTransfer = 0;
        t.settledAt = uint64(block.timestamp);
        t.status = TransferStatus.Refused;
        uint256 eventId = _recordEvent(EventKind.Refused, memberId, lotId, 0);
        _checkConservation(lotId);
        emit TransferRefused(eventId, transferId, lotId, memberId, quantity, reason);
    }

    /**
     * @notice Records that `quantity` of lot `lotId` was consumed or distributed to people, with
     * the document that proves it.
     * @dev Callable by accounts of the lot's holder ({SupplyCustodyNotHolder}) while the lot is not
     * in transit ({SupplyCustodyLotInTransit}), and only if the holder is a Hospital or a Charity
     * ({SupplyCustodyUnauthorizedKind}). `quantity` must be positive and at most the held quantity
     * ({SupplyCustodyZeroQuantity}, {SupplyCustodyExceedsHeld}); `documentsCid` must not be empty
     * ({SupplyCustodyMissingField}).
     *
     * Emits {LotConsumed}.
     */
    function consume(uint256 lotId, uint256 quantity, string calldata documentsCid) external {
        uint256 memberId = _actor();
        Lot storage l = _heldLot(lotId, memberId);
        _requireKind(memberId, MemberRegistry.MemberKind.Hospital, MemberRegistry.MemberKind.Charity);
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (quantity > l.held) revert SupplyCustodyExceedsHeld(lotId, quantity, l.held);
        if (bytes(documentsCid).length == 0) revert SupplyCustodyMissingField("documentsCid");

        l.held -= quantity;
        l.consumed += quantity;
        uint256 eventId = _recordEvent(EventKind.Consumed, memberId, lotId, 0);
        _checkConservation(lotId);
        emit LotConsumed(eventId, lotId, memberId, quantity, documentsCid);
    }

    /**
     * @notice Corrects an earlier event of lot `lotId` by a new event: `Loss` moves `quantity` from
     * held to losses (goods found missing), `Found` moves it from losses back to held (goods
     * recorded lost that turned up). The corrected event is not changed.
     * @dev Callable by accounts of the lot's holder ({SupplyCustodyNotHolder}) while the lot is not
     * in transit ({SupplyCustodyLotInTransit}). `eventId` must exist ({SupplyCustodyUnknownEvent})
     * and must have changed lot `lotId` ({SupplyCustodyEventNotOfLot}); `quantity` must be positive
     * ({SupplyCustodyZeroQuantity}) and at most the held quantity for `Loss`
     * ({SupplyCustodyExceedsHeld}) or the recorded losses for `Found`
     * ({SupplyCustodyExceedsLosses}); `reason` must not be empty ({SupplyCustodyMissingField}).
     *
     * Emits {CorrectionRecorded}.
     */
    function correct(
        uint256 eventId,
        uint256 lotId,
        CorrectionKind kind,
        uint256 quantity,
        string calldata reason
    ) external {
        uint256 memberId = _actor();
        if (eventId == 0 || eventId > _eventCount) revert SupplyCustodyUnknownEvent(eventId);
        Lot storage l = _heldLot(lotId, memberId);
        EventRecord storage wrong = _events[eventId];
        if (wrong.lotId != lotId && wrong.otherLotId != lotId) revert SupplyCustodyEventNotOfLot(eventId, lotId);
        if (quantity == 0) revert SupplyCustodyZeroQuantity();
        if (bytes(reason).length == 0) revert SupplyCustodyMissingField("reason");

        if (kind == CorrectionKind.Loss) {
            if (quantity > l.held) revert SupplyCustodyExceedsHeld(lotId, quantity, l.held);
            l.held -= quantity;
            l.losses += quantity;
        } else {
            if (quantity > l.losses) revert SupplyCustodyExceedsLosses(lotId, quantity, l.losses);
            l.losses -= quantity;
            l.held += quantity;
        }
        uint256 correctionId = _recordEvent(EventKind.Corrected, memberId, lotId, 0);
        _checkConservation(lotId);
        emit CorrectionRecorded(correctionId, eventId, lotId, memberId, kind, quantity, reason);
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

    /// @notice The member registry that decides who may act. Anyone may call.
    function registry() external view returns (MemberRegistry) {
        return _registry;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev The member the sender acts for; the sender must be an account of an Active member.
    function _actor() private view returns (uint256) {
        if (!_registry.isActiveAccount(msg.sender)) revert SupplyCustodyNotActiveAccount(msg.sender);
        return _registry.memberOf(msg.sender);
    }

    function _requireKind(uint256 memberId, MemberRegistry.MemberKind a, MemberRegistry.MemberKind b) private view {
        MemberRegistry.MemberKind kind = _registry.getMember(memberId).kind;
        if (kind != a && kind != b) revert SupplyCustodyUnauthorizedKind(memberId, kind);
    }

    /// @dev Goods may be sent only to an existing, Active member that holds goods.
    function _checkReceiver(uint256 memberId) private view {
        if (memberId == 0 || memberId > _registry.memberCount()) revert SupplyCustodyUnknownMember(memberId);
        MemberRegistry.MemberView memory m = _registry.getMember(memberId);
        if (m.status != MemberRegistry.Status.Active) revert SupplyCustodyInactiveReceiver(memberId, m.status);
        if (
            m.kind != MemberRegistry.MemberKind.Charity &&
            m.kind != MemberRegistry.MemberKind.Warehouse &&
            m.kind != MemberRegistry.MemberKind.Logistics &&
            m.kind != MemberRegistry.MemberKind.Hospital
        ) revert SupplyCustodyUnauthorizedKind(memberId, m.kind);
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

    function _recordEvent(
        EventKind kind,
        uint256 memberId,
        uint256 lotId,
        uint256 otherLotId
    ) private returns (uint256 eventId) {
        eventId = ++_eventCount;
        _events[eventId] = EventRecord({
            kind: kind,
            at: uint64(block.timestamp),
            memberId: memberId,
            lotId: lotId,
            otherLotId: otherLotId
        });
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
