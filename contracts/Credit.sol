// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title Credit
 * @notice Tamper-proof credit records about enterprises, keyed by their Unified Social Credit Code
 * (USCC, GB 32100-2015), issued by regulators authorised per category (PRODUCT.md, "Credit").
 *
 * Two ways in:
 *
 * - **Entries**, one transaction each ({issue}). Corrections ({supersede}) and revocations
 *   ({revoke}) are new entries that reference the entry they replace; nothing stored is ever
 *   rewritten. The history of a subject ({entriesOf}) lists every entry, corrections included.
 * - **Batches** ({anchorBatch}): one transaction stores the Merkle root of N entries and their
 *   metadata CID; nothing per entry is stored, so a batch of 10^4 or 10^6 entries costs the same gas
 *   and a city's corpus (~10^8 entries) is ~10^4 batch transactions. Each entry is served off chain
 *   with its inclusion proof and checked with {verifyBatchEntry} (or any OpenZeppelin-compatible
 *   Merkle implementation).
 *
 * ## Batch leaf encoding (OpenZeppelin StandardMerkleTree convention)
 *
 * A leaf is a {BatchLeaf}; its hash is
 *
 *     leaf = keccak256(bytes.concat(keccak256(abi.encode(
 *         bytes18 uscc, uint8 category, uint8 severity, uint64 effectiveDate, uint64 expiryDate,
 *         uint256 amount, bytes32 summaryHash, bytes32 evidenceCidHash, bool isPublic,
 *         uint256 indexInBatch))))
 *
 * i.e. exactly the leaf of `StandardMerkleTree.of(values, ["bytes18","uint8","uint8","uint64",
 * "uint64","uint256","bytes32","bytes32","bool","uint256"])` in OpenZeppelin's JavaScript
 * merkle-tree package. All fields are static, so `abi.encode` of the struct equals `abi.encode` of
 * the ten values: 10 words, 320 bytes.
 * `evidenceCidHash` is `keccak256(bytes(evidenceCid))` of the CID string, so leaves have a fixed size
 * and the CID itself travels with the entry. `indexInBatch` (0-based, `< entryCount`) makes every
 * leaf distinct and names the entry's position in the batch file. The batch id is deliberately not
 * in the leaf: an issuer must be able to compute the root before it knows which id its anchoring
 * transaction will get. Inner nodes are hashed as sorted pairs (`MerkleProof.verify`'s commutative
 * keccak256), and the double leaf hash keeps a 64-byte inner node from posing as a leaf.
 *
 * ## Dates and amounts
 *
 * Dates are Unix seconds (UTC). `expiryDate == 0` means open-ended; otherwise it must be after
 * `effectiveDate`. `amount` is in the smallest unit of the category's currency (fen for a fine).
 * `severity` is category-specific (the issuer's published scale); the contract does not interpret it.
 *
 * ## Authorisation
 *
 * Who may issue is decided at the block of each transaction: the sender must be an account of an
 * Active member of the {MemberRegistry}, of kind Regulator, and that member (not the account, so key
 * rotation keeps it) must be authorised for the category.
 *
 * Which regulator may write records about enterprises is a consortium decision, so authorisation is
 * granted and withdrawn only by M-of-N approval of the registry's admin set, the same admins and
 * threshold that govern the {MemberRegistry} (PRODUCT.md: consortium administrators act "only by
 * M-of-N approval on chain"). An admin proposes an issuer change ({proposeIssuerChange}; the
 * proposer's approval counts), other admins approve it ({approveIssuerChange}), and the change
 * executes in the transaction whose approval reaches `registry.threshold()`. A change belongs to the
 * registry's admin epoch it was proposed in: once the admin set changes (which also bumps
 * `registry.adminEpoch()`), older changes can no longer be approved ({CreditStaleIssuerChange}), so
 * approvals given by removed admins never count, just as for the registry's own proposals.
 */
contract Credit {
    /// @dev Credit categories (PRODUCT.md). ABI parameters carry them as `uint8`.
    enum Category {
        License,
        Penalty,
        Commendation,
        AbnormalOperation,
        SeriousDishonesty,
        ContractDefault
    }

    /// @dev How an entry came to be.
    enum EntryAction {
        Issue,
        Supersede,
        Revoke
    }

    /**
     * @dev An on-chain entry, as stored and as returned by {entry}. A Supersede entry carries the
     * corrected record; a Revoke entry carries the subject, category and visibility of the revoked
     * entry, zero for the other record fields, and the reason. `refersTo` is the replaced entry
     * (0 for Issue). `recordedAt` is the block timestamp.
     */
    struct Entry {
        bytes18 uscc;
        Category category;
        uint8 severity;
        bool isPublic;
        EntryAction action;
        uint64 effectiveDate;
        uint64 expiryDate;
        address issuer;
        uint64 recordedAt;
        uint256 issuerMemberId;
        uint256 amount;
        bytes32 summaryHash;
        uint256 refersTo;
        string evidenceCid;
        string reason;
    }

    /// @dev An anchored batch, as stored and as returned by {batch}.
    struct Batch {
        bytes32 merkleRoot;
        uint256 entryCount;
        Category category;
        address issuer;
        uint64 anchoredAt;
        uint256 issuerMemberId;
        string metadataCid;
    }

    /**
     * @dev A proposed grant (`authorized`) or withdrawal of member `memberId`'s authorisation for
     * `category`, as stored and as returned by {getIssuerChange}. `createdAt` is the block number of
     * the proposal, `epoch` the registry's admin epoch at that block, `approvals` the number of
     * distinct admin accounts that approved it (the proposer included).
     */
    struct IssuerChange {
        uint256 memberId;
        Category category;
        bool authorized;
        address proposer;
        uint48 createdAt;
        bool executed;
        uint32 approvals;
        uint64 epoch;
    }

    /// @dev One entry of a batch; see the leaf encoding in the contract documentation.
    struct BatchLeaf {
        bytes18 uscc;
        uint8 category;
        uint8 severity;
        uint64 effectiveDate;
        uint64 expiryDate;
        uint256 amount;
        bytes32 summaryHash;
        bytes32 evidenceCidHash;
        bool isPublic;
        uint256 indexInBatch;
    }

    // USCC alphabet (GB 32100-2015): 0-9 then A-Y without I, O, S, V, Z; values 0..30.
    uint256 private constant USCC_LENGTH = 18;
    uint256 private constant USCC_MODULUS = 31;
    uint8 private constant CATEGORY_COUNT = uint8(type(Category).max) + 1;

    MemberRegistry private immutable _registry;

    Entry[] private _entries; // entry id = index + 1
    mapping(uint256 entryId => uint256 newEntryId) private _replacedBy;
    mapping(bytes18 uscc => uint256[] entryIds) private _bySubject;

    Batch[] private _batches; // batch id = index + 1
    mapping(bytes32 merkleRoot => uint256 batchId) private _batchOfRoot;

    mapping(uint256 memberId => mapping(Category category => bool)) private _authorized;

    IssuerChange[] private _issuerChanges; // change id = index + 1
    mapping(uint256 changeId => mapping(address admin => bool)) private _issuerChangeApprovedBy;

    /// @dev Admin `proposer` proposed issuer change `changeId`: grant (`authorized`) or withdraw
    /// member `memberId`'s authorisation for `category`.
    event IssuerChangeProposed(
        uint256 indexed changeId,
        uint256 indexed memberId,
        Category indexed category,
        bool authorized,
        address proposer
    );
    /// @dev Admin `approver` approved issuer change `changeId`, which now has `approvals` approvals.
    event IssuerChangeApproved(uint256 indexed changeId, address indexed approver, uint256 approvals);
    /// @dev Issuer change `changeId` reached the threshold and executed (after {IssuerAuthorized} or
    /// {IssuerDeauthorized}, or alone when the authorisation was already as the change asks).
    event IssuerChangeExecuted(uint256 indexed changeId);
    /// @dev Member `memberId` may now issue entries of `category`; `by` is the admin account whose
    /// approval executed the change.
    event IssuerAuthorized(uint256 indexed memberId, Category indexed category, address indexed by);
    /// @dev Member `memberId` may no longer issue entries of `category`; `by` is the admin account
    /// whose approval executed the change.
    event IssuerDeauthorized(uint256 indexed memberId, Category indexed category, address indexed by);
    /// @dev Entry `entryId` was issued about `uscc` by member `issuerMemberId`; `entry` is the record.
    event EntryIssued(uint256 indexed entryId, bytes18 indexed uscc, uint256 indexed issuerMemberId, Entry entry);
    /// @dev Entry `entryId` replaced `oldEntryId` with a corrected record (`entry.reason` says why).
    event EntrySuperseded(uint256 indexed entryId, uint256 indexed oldEntryId, bytes18 indexed uscc, Entry entry);
    /// @dev Entry `entryId` revoked `oldEntryId` (`entry.reason` says why).
    event EntryRevoked(uint256 indexed entryId, uint256 indexed oldEntryId, bytes18 indexed uscc, Entry entry);
    /// @dev Batch `batchId` of `entryCount` entries was anchored by member `issuerMemberId`.
    event BatchAnchored(
        uint256 indexed batchId,
        uint256 indexed issuerMemberId,
        Category indexed category,
        bytes32 merkleRoot,
        uint256 entryCount,
        string metadataCid
    );

    /// @dev `uscc` is not a valid GB 32100-2015 code (length, alphabet or check character).
    error CreditInvalidUscc(string uscc);
    /// @dev `category` is not a {Category} value.
    error CreditInvalidCategory(uint8 category);
    /// @dev `account` is not an account of an Active member.
    error CreditNotActiveMember(address account);
    /// @dev `account` is not in the registry's admin set (`registry.admins()`).
    error CreditNotAdmin(address account);
    /// @dev No issuer change has id `changeId`.
    error CreditUnknownIssuerChange(uint256 changeId);
    /// @dev Issuer change `changeId` has already executed.
    error CreditIssuerChangeAlreadyExecuted(uint256 changeId);
    /// @dev Issuer change `changeId` was proposed in admin epoch `changeEpoch`; the registry's admin
    /// set has changed since and is now in epoch `currentEpoch`.
    error CreditStaleIssuerChange(uint256 changeId, uint64 changeEpoch, uint64 currentEpoch);
    /// @dev `admin` has already approved issuer change `changeId`.
    error CreditIssuerChangeAlreadyApproved(uint256 changeId, address admin);
    /// @dev `account`'s member is not an Active Regulator authorised for `category`.
    error CreditNotAuthorized(address account, uint8 category);
    /// @dev No member has id `memberId`.
    error CreditUnknownMember(uint256 memberId);
    /// @dev Only Regulator-kind members can be authorised; member `memberId` is of kind `kind`.
    error CreditNotRegulator(uint256 memberId, MemberRegistry.MemberKind kind);
    /// @dev Member `memberId` is not Active and cannot be authorised.
    error CreditMemberNotActive(uint256 memberId);
    /// @dev `expiryDate` is neither 0 (open-ended) nor after `effectiveDate`.
    error CreditInvalidDates(uint64 effectiveDate, uint64 expiryDate);
    /// @dev No entry has id `entryId`.
    error CreditUnknownEntry(uint256 entryId);
    /// @dev Entry `entryId` was already superseded or revoked by entry `replacedBy`.
    error CreditEntryAlreadyReplaced(uint256 entryId, uint256 replacedBy);
    /// @dev Entry `entryId` is a revocation; revocations are final.
    error CreditEntryIsRevocation(uint256 entryId);
    /// @dev `account`'s member is not member `issuerMemberId`, which issued entry `entryId`.
    error CreditNotEntryIssuer(address account, uint256 entryId, uint256 issuerMemberId);
    /// @dev A correction of entry `entryId` must keep its subject `uscc`, not change it to `given`.
    error CreditCorrectionChangesSubject(uint256 entryId, bytes18 uscc, bytes18 given);
    /// @dev A correction of entry `entryId` must keep its category `category`, not change it to `given`.
    error CreditCorrectionChangesCategory(uint256 entryId, uint8 category, uint8 given);
    /// @dev A correction or revocation of entry `entryId` needs a non-empty reason.
    error CreditEmptyReason(uint256 entryId);
    /// @dev A batch needs a non-zero root and at least one entry.
    error CreditEmptyBatch(bytes32 merkleRoot, uint256 entryCount);
    /// @dev `merkleRoot` is already anchored as batch `batchId`.
    error CreditBatchAlreadyAnchored(bytes32 merkleRoot, uint256 batchId);
    /// @dev No batch has id `batchId`.
    error CreditUnknownBatch(uint256 batchId);

    /// @dev `registry_` is the consortium's {MemberRegistry}; it cannot be changed later.
    constructor(MemberRegistry registry_) {
        _registry = registry_;
    }

    // ------------------------------------------------------------------------------------------
    // Issuer authorisation
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Proposes to grant (`authorized` true) or withdraw (false) Regulator member `memberId`'s
     * authorisation to issue entries and batches of `category`; the proposer's approval counts as the
     * first one.
     * @dev Callable by an account in the registry's admin set ({CreditNotAdmin}). `category` must be
     * valid ({CreditInvalidCategory}). A grant is checked now and again when it executes: the member
     * must exist ({CreditUnknownMember}), be of kind Regulator ({CreditNotRegulator}) and be Active
     * ({CreditMemberNotActive}). A withdrawal works for any member id, including suspended ones;
     * entries already recorded stay as they are. The change records the registry's current admin
     * epoch. If the registry's threshold is 1 the change executes in this call.
     *
     * Emits {IssuerChangeProposed} and {IssuerChangeApproved}; on execution, {IssuerAuthorized} or
     * {IssuerDeauthorized} when the authorisation changes, then {IssuerChangeExecuted}.
     */
    function proposeIssuerChange(
        uint256 memberId,
        uint8 category,
        bool authorized
    ) external returns (uint256 changeId) {
        _checkAdmin(msg.sender);
        Category cat = _category(category);
        if (authorized) _checkAuthorizable(memberId);
        IssuerChange storage c = _issuerChanges.push();
        changeId = _issuerChanges.length;
        c.memberId = memberId;
        c.category = cat;
        c.authorized = authorized;
        c.proposer = msg.sender;
        c.createdAt = SafeCast.toUint48(block.number);
        c.epoch = _registry.adminEpoch();
        emit IssuerChangeProposed(changeId, memberId, cat, authorized, msg.sender);
        _approveIssuerChange(changeId, c);
    }

    /**
     * @notice Approves pending issuer change `changeId`; executes it when its approvals reach the
     * registry's threshold.
     * @dev Callable by an account in the registry's admin set ({CreditNotAdmin}), once per admin
     * ({CreditIssuerChangeAlreadyApproved}), on a change that exists ({CreditUnknownIssuerChange}),
     * has not executed ({CreditIssuerChangeAlreadyExecuted}) and was proposed in the registry's
     * current admin epoch ({CreditStaleIssuerChange}). On execution a grant is checked again like
     * in {proposeIssuerChange}; if that check reverts, the whole call reverts and the approval is
     * not recorded. Executing a grant that already holds, or a withdrawal of an authorisation that
     * does not exist, changes nothing but marks the change executed.
     *
     * Emits {IssuerChangeApproved}; on execution, {IssuerAuthorized} or {IssuerDeauthorized} when
     * the authorisation changes, then {IssuerChangeExecuted}.
     */
    function approveIssuerChange(uint256 changeId) external {
        _checkAdmin(msg.sender);
        IssuerChange storage c = _existingIssuerChange(changeId);
        if (c.executed) revert CreditIssuerChangeAlreadyExecuted(changeId);
        uint64 currentEpoch = _registry.adminEpoch();
        if (c.epoch != currentEpoch) revert CreditStaleIssuerChange(changeId, c.epoch, currentEpoch);
        _approveIssuerChange(changeId, c);
    }

    // ------------------------------------------------------------------------------------------
    // Entries
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Records a credit entry about the enterprise `uscc`.
     * @dev Callable by an account of an Active Regulator member authorised for `category`
     * ({CreditNotActiveMember}, {CreditNotAuthorized}). Reverts with {CreditInvalidUscc} for an
     * invalid code, {CreditInvalidCategory}, and {CreditInvalidDates}. `summaryHash` commits to the
     * entry's summary text, `evidenceCid` names the evidence on IPFS, `isPublic` makes the entry
     * visible to public lookups (restricted otherwise; the data itself is on chain either way).
     *
     * Emits {EntryIssued}.
     */
    function issue(
        string calldata uscc,
        uint8 category,
        uint8 severity,
        uint64 effectiveDate,
        uint64 expiryDate,
        uint256 amount,
        bytes32 summaryHash,
        string calldata evidenceCid,
        bool isPublic
    ) external returns (uint256 entryId) {
        bytes18 code = _uscc(uscc);
        Category cat = _category(category);
        uint256 memberId = _checkIssuer(msg.sender, cat);
        _checkDates(effectiveDate, expiryDate);
        Entry storage e;
        (entryId, e) = _append(code, cat, EntryAction.Issue, memberId, 0);
        e.severity = severity;
        e.effectiveDate = effectiveDate;
        e.expiryDate = expiryDate;
        e.amount = amount;
        e.summaryHash = summaryHash;
        e.evidenceCid = evidenceCid;
        e.isPublic = isPublic;
        emit EntryIssued(entryId, code, memberId, e);
    }

    /**
     * @notice Corrects entry `oldEntryId`: records a new entry with the corrected fields that
     * references it, with `reason`. The old entry stays as it was.
     * @dev Callable by an account of the member that issued `oldEntryId` ({CreditNotEntryIssuer}),
     * which must still be an Active Regulator authorised for the category ({CreditNotAuthorized}).
     * Another regulator authorised for the same category may not correct it: categories such as
     * penalties are shared by several regulators, and each answers only for its own records.
     * `uscc` and `category` must equal the old entry's ({CreditCorrectionChangesSubject},
     * {CreditCorrectionChangesCategory}); to move a record to another subject or category, revoke it
     * and issue a new one. The old entry must exist ({CreditUnknownEntry}), not be a revocation
     * ({CreditEntryIsRevocation}) and not already be replaced ({CreditEntryAlreadyReplaced}); a
     * superseding entry can itself be superseded. Also reverts like {issue} on invalid fields and
     * with {CreditEmptyReason}.
     *
     * Emits {EntrySuperseded}.
     */
    function supersede(
        uint256 oldEntryId,
        string calldata uscc,
        uint8 category,
        uint8 severity,
        uint64 effectiveDate,
        uint64 expiryDate,
        uint256 amount,
        bytes32 summaryHash,
        string memory evidenceCid,
        bool isPublic,
        string memory reason
    ) external returns (uint256 entryId) {
        _checkCorrectedSubject(oldEntryId, uscc, category);
        _checkDates(effectiveDate, expiryDate);
        // `memory` strings and the old id read back from the new entry keep this within the
        // legacy code generator's 16 stack slots (the artifacts are built without via-IR).
        Entry storage e = _appendCorrection(oldEntryId, reason, EntryAction.Supersede);
        e.severity = severity;
        e.effectiveDate = effectiveDate;
        e.expiryDate = expiryDate;
        e.amount = amount;
        e.summaryHash = summaryHash;
        e.evidenceCid = evidenceCid;
        e.isPublic = isPublic;
        entryId = _entries.length;
        emit EntrySuperseded(entryId, e.refersTo, e.uscc, e);
    }

    /**
     * @notice Revokes entry `oldEntryId`: records a Revoke entry that references it, with `reason`.
     * The old entry stays as it was.
     * @dev Same caller and state rules as {supersede}; reverts with {CreditEntryAlreadyReplaced}
     * when the entry was already superseded or revoked, so nothing can be revoked twice.
     *
     * Emits {EntryRevoked}.
     */
    function revoke(uint256 oldEntryId, string calldata reason) external returns (uint256 entryId) {
        Entry storage e = _appendCorrection(oldEntryId, reason, EntryAction.Revoke);
        entryId = _entries.length;
        e.isPublic = _entries[oldEntryId - 1].isPublic;
        emit EntryRevoked(entryId, oldEntryId, e.uscc, e);
    }

    // ------------------------------------------------------------------------------------------
    // Batches
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Anchors a batch of `entryCount_` entries of `category` by their Merkle root.
     * @dev Callable by an account of an Active Regulator member authorised for `category`
     * ({CreditNotActiveMember}, {CreditNotAuthorized}). Stores only the root, the count, the
     * category, the issuer and `metadataCid` (the batch file on IPFS), so the cost does not depend
     * on `entryCount_`. The root must be non-zero, `entryCount` positive ({CreditEmptyBatch}) and the
     * root not already anchored ({CreditBatchAlreadyAnchored}). The contract cannot see the
     * entries: their USCCs are checked by {verifyBatchEntry} and by the audit.
     *
     * Emits {BatchAnchored}.
     */
    function anchorBatch(
        bytes32 merkleRoot,
        uint256 entryCount_,
        uint8 category,
        string calldata metadataCid
    ) external returns (uint256 batchId) {
        Category cat = _category(category);
        uint256 memberId = _checkIssuer(msg.sender, cat);
        if (merkleRoot == bytes32(0) || entryCount_ == 0) revert CreditEmptyBatch(merkleRoot, entryCount_);
        uint256 existing = _batchOfRoot[merkleRoot];
        if (existing != 0) revert CreditBatchAlreadyAnchored(merkleRoot, existing);
        Batch storage b = _batches.push();
        batchId = _batches.length;
        b.merkleRoot = merkleRoot;
        b.entryCount = entryCount_;
        b.category = cat;
        b.issuer = msg.sender;
        b.anchoredAt = SafeCast.toUint64(block.timestamp);
        b.issuerMemberId = memberId;
        b.metadataCid = metadataCid;
        _batchOfRoot[merkleRoot] = batchId;
        emit BatchAnchored(batchId, memberId, cat, merkleRoot, entryCount_, metadataCid);
    }

    /**
     * @notice Whether `leaf` is entry `leaf.indexInBatch` of batch `batchId`, proved by `proof`.
     * Anyone may call.
     * @dev Reverts with {CreditUnknownBatch} and, for an invalid `leaf.uscc`, {CreditInvalidUscc}.
     * Returns false when the leaf's category is not the batch's, when `indexInBatch` is not below
     * the batch's `entryCount`, or when `proof` does not lead from {batchLeafHash} of `leaf` to the
     * batch root under `MerkleProof.verify`'s sorted-pair hashing.
     */
    function verifyBatchEntry(
        uint256 batchId,
        bytes32[] calldata proof,
        BatchLeaf calldata leaf
    ) external view returns (bool) {
        Batch storage b = _existingBatch(batchId);
        if (!_isValidUscc(leaf.uscc)) revert CreditInvalidUscc(_usccString(leaf.uscc));
        if (leaf.category != uint8(b.category) || leaf.indexInBatch >= b.entryCount) return false;
        return MerkleProof.verifyCalldata(proof, b.merkleRoot, batchLeafHash(leaf));
    }

    /// @notice The leaf hash of `leaf` (see the contract documentation). Anyone may call.
    function batchLeafHash(BatchLeaf calldata leaf) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(leaf))));
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Whether `uscc` is a valid GB 32100-2015 code. Anyone may call.
    /// @dev 18 characters from `0123456789ABCDEFGHJKLMNPQRTUWXY` (values 0..30, upper case only);
    /// the weight of position i (1-based, i <= 17) is 3^(i-1) mod 31 and the 18th character's value
    /// must be (31 - sum(value * weight) mod 31) mod 31. The structure of positions 1-17 (authority,
    /// category, division code, GB 11714 organisation code) is not checked.
    function isValidUscc(string calldata uscc) external pure returns (bool) {
        return bytes(uscc).length == USCC_LENGTH && _isValidUscc(bytes18(bytes(uscc)));
    }

    /// @notice Entry `entryId` ({CreditUnknownEntry} if there is none). Anyone may call.
    function entry(uint256 entryId) external view returns (Entry memory) {
        return _existingEntry(entryId);
    }

    /// @notice The entry that superseded or revoked `entryId`, or 0 if none. Anyone may call.
    function replacedBy(uint256 entryId) external view returns (uint256) {
        _existingEntry(entryId);
        return _replacedBy[entryId];
    }

    /// @notice Number of on-chain entries; entry ids are 1..entryCount(). Anyone may call.
    function entryCount() external view returns (uint256) {
        return _entries.length;
    }

    /**
     * @notice Ids of every on-chain entry about `uscc`, oldest first, corrections and revocations
     * included. Anyone may call.
     * @dev Reverts with {CreditInvalidUscc} for an invalid code. Batch entries are not listed (the
     * chain holds only their roots); the gateway's index serves them with their proofs.
     */
    function entriesOf(bytes18 uscc) external view returns (uint256[] memory) {
        if (!_isValidUscc(uscc)) revert CreditInvalidUscc(_usccString(uscc));
        return _bySubject[uscc];
    }

    /// @notice Batch `batchId` ({CreditUnknownBatch} if there is none). Anyone may call.
    function batch(uint256 batchId) external view returns (Batch memory) {
        return _existingBatch(batchId);
    }

    /// @notice Number of anchored batches; batch ids are 1..batchCount(). Anyone may call.
    function batchCount() external view returns (uint256) {
        return _batches.length;
    }

    /// @notice The batch that anchored `merkleRoot`, or 0 if none. Anyone may call.
    function batchOfRoot(bytes32 merkleRoot) external view returns (uint256) {
        return _batchOfRoot[merkleRoot];
    }

    /// @notice Issuer change `changeId` ({CreditUnknownIssuerChange} if there is none). Anyone may call.
    function getIssuerChange(uint256 changeId) external view returns (IssuerChange memory) {
        return _existingIssuerChange(changeId);
    }

    /// @notice Whether `account` has approved issuer change `changeId`. Anyone may call.
    function hasApprovedIssuerChange(uint256 changeId, address account) external view returns (bool) {
        return _issuerChangeApprovedBy[changeId][account];
    }

    /// @notice Number of issuer changes ever proposed; change ids are 1..issuerChangeCount().
    /// Anyone may call.
    function issuerChangeCount() external view returns (uint256) {
        return _issuerChanges.length;
    }

    /// @notice Whether member `memberId` holds an authorisation for `category`. Anyone may call.
    /// @dev The flag only; {canIssue} also applies the member's current status.
    function isAuthorized(uint256 memberId, uint8 category) external view returns (bool) {
        return _authorized[memberId][_category(category)];
    }

    /// @notice Whether `account` could issue an entry of `category` now. Anyone may call.
    function canIssue(address account, uint8 category) external view returns (bool) {
        (uint256 memberId, MemberRegistry.MemberKind kind, bool active) = _memberAt(account);
        return active && kind == MemberRegistry.MemberKind.Regulator && _authorized[memberId][_category(category)];
    }

    /// @notice The {MemberRegistry} this contract consults. Anyone may call.
    function registry() external view returns (MemberRegistry) {
        return _registry;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev The sender's membership at this block, from the registry's history.
    function _memberAt(
        address account
    ) private view returns (uint256 memberId, MemberRegistry.MemberKind kind, bool active) {
        return _registry.activeMemberAt(account, SafeCast.toUint48(block.number));
    }

    /// @dev `account` must be in the registry's admin set now (the set is a handful of accounts).
    function _checkAdmin(address account) private view {
        address[] memory admins = _registry.admins();
        for (uint256 i = 0; i < admins.length; ++i) {
            if (admins[i] == account) return;
        }
        revert CreditNotAdmin(account);
    }

    /// @dev Member `memberId` exists, is of kind Regulator and is Active.
    function _checkAuthorizable(uint256 memberId) private view {
        if (memberId == 0 || memberId > _registry.memberCount()) revert CreditUnknownMember(memberId);
        MemberRegistry.MemberView memory m = _registry.getMember(memberId);
        if (m.kind != MemberRegistry.MemberKind.Regulator) revert CreditNotRegulator(memberId, m.kind);
        if (m.status != MemberRegistry.Status.Active) revert CreditMemberNotActive(memberId);
    }

    function _existingIssuerChange(uint256 changeId) private view returns (IssuerChange storage) {
        if (changeId == 0 || changeId > _issuerChanges.length) revert CreditUnknownIssuerChange(changeId);
        return _issuerChanges[changeId - 1];
    }

    /// @dev Records `msg.sender`'s approval of change `changeId` and executes it at the threshold.
    function _approveIssuerChange(uint256 changeId, IssuerChange storage c) private {
        if (_issuerChangeApprovedBy[changeId][msg.sender]) {
            revert CreditIssuerChangeAlreadyApproved(changeId, msg.sender);
        }
        _issuerChangeApprovedBy[changeId][msg.sender] = true;
        uint32 approvals = ++c.approvals;
        emit IssuerChangeApproved(changeId, msg.sender, approvals);
        if (approvals < _registry.threshold()) return;

        c.executed = true;
        uint256 memberId = c.memberId;
        Category cat = c.category;
        if (c.authorized) {
            // The member may have been suspended since the proposal.
            _checkAuthorizable(memberId);
            if (!_authorized[memberId][cat]) {
                _authorized[memberId][cat] = true;
                emit IssuerAuthorized(memberId, cat, msg.sender);
            }
        } else if (_authorized[memberId][cat]) {
            _authorized[memberId][cat] = false;
            emit IssuerDeauthorized(memberId, cat, msg.sender);
        }
        emit IssuerChangeExecuted(changeId);
    }

    /// @dev The issuing member of `account` for `cat`, or the reason it cannot issue.
    function _checkIssuer(address account, Category cat) private view returns (uint256 memberId) {
        MemberRegistry.MemberKind kind;
        bool active;
        (memberId, kind, active) = _memberAt(account);
        if (!active) revert CreditNotActiveMember(account);
        if (kind != MemberRegistry.MemberKind.Regulator || !_authorized[memberId][cat]) {
            revert CreditNotAuthorized(account, uint8(cat));
        }
    }

    function _category(uint8 category) private pure returns (Category) {
        if (category >= CATEGORY_COUNT) revert CreditInvalidCategory(category);
        return Category(category);
    }

    function _checkDates(uint64 effectiveDate, uint64 expiryDate) private pure {
        if (expiryDate != 0 && expiryDate <= effectiveDate) revert CreditInvalidDates(effectiveDate, expiryDate);
    }

    /// @dev `uscc` as bytes18, or {CreditInvalidUscc}.
    function _uscc(string calldata uscc) private pure returns (bytes18 code) {
        if (bytes(uscc).length != USCC_LENGTH) revert CreditInvalidUscc(uscc);
        code = bytes18(bytes(uscc));
        if (!_isValidUscc(code)) revert CreditInvalidUscc(uscc);
    }

    /// @dev {supersede}'s subject and category must be valid and those of entry `oldEntryId`.
    function _checkCorrectedSubject(uint256 oldEntryId, string calldata uscc, uint8 category) private view {
        bytes18 code = _uscc(uscc);
        Category cat = _category(category);
        Entry storage old = _existingEntry(oldEntryId);
        if (code != old.uscc) revert CreditCorrectionChangesSubject(oldEntryId, old.uscc, code);
        if (cat != old.category) revert CreditCorrectionChangesCategory(oldEntryId, uint8(old.category), category);
    }

    /**
     * @dev The caller and state checks shared by {supersede} and {revoke}; appends the new entry
     * (same subject and category as the old one, `action`, `reason`) and links the old one to it.
     */
    function _appendCorrection(
        uint256 oldEntryId,
        string memory reason,
        EntryAction action
    ) private returns (Entry storage e) {
        Entry storage old = _existingEntry(oldEntryId);
        uint256 memberId = _checkIssuer(msg.sender, old.category);
        if (memberId != old.issuerMemberId) revert CreditNotEntryIssuer(msg.sender, oldEntryId, old.issuerMemberId);
        if (old.action == EntryAction.Revoke) revert CreditEntryIsRevocation(oldEntryId);
        uint256 successor = _replacedBy[oldEntryId];
        if (successor != 0) revert CreditEntryAlreadyReplaced(oldEntryId, successor);
        if (bytes(reason).length == 0) revert CreditEmptyReason(oldEntryId);
        uint256 entryId;
        (entryId, e) = _append(old.uscc, old.category, action, memberId, oldEntryId);
        e.reason = reason;
        _replacedBy[oldEntryId] = entryId;
    }

    /// @dev Appends an entry with its subject, category, issuer and reference, and indexes it.
    function _append(
        bytes18 code,
        Category cat,
        EntryAction action,
        uint256 memberId,
        uint256 refersTo
    ) private returns (uint256 entryId, Entry storage e) {
        e = _entries.push();
        entryId = _entries.length;
        e.uscc = code;
        e.category = cat;
        e.action = action;
        e.issuer = msg.sender;
        e.recordedAt = SafeCast.toUint64(block.timestamp);
        e.issuerMemberId = memberId;
        e.refersTo = refersTo;
        _bySubject[code].push(entryId);
    }

    function _existingEntry(uint256 entryId) private view returns (Entry storage) {
        if (entryId == 0 || entryId > _entries.length) revert CreditUnknownEntry(entryId);
        return _entries[entryId - 1];
    }

    function _existingBatch(uint256 batchId) private view returns (Batch storage) {
        if (batchId == 0 || batchId > _batches.length) revert CreditUnknownBatch(batchId);
        return _batches[batchId - 1];
    }

    function _usccString(bytes18 code) private pure returns (string memory) {
        return string(abi.encodePacked(code));
    }

    /// @dev GB 32100-2015 check; see {isValidUscc}.
    function _isValidUscc(bytes18 code) private pure returns (bool) {
        uint256 sum = 0;
        uint256 weight = 1; // 3^(i-1) mod 31 for position i = 1
        for (uint256 i = 0; i < USCC_LENGTH - 1; ++i) {
            uint256 v = _usccValue(code[i]);
            if (v >= USCC_MODULUS) return false;
            sum += v * weight;
            weight = (weight * 3) % USCC_MODULUS;
        }
        return _usccValue(code[USCC_LENGTH - 1]) == (USCC_MODULUS - (sum % USCC_MODULUS)) % USCC_MODULUS;
    }

    /// @dev Value 0..30 of a USCC character, or 31 for a character outside the alphabet.
    function _usccValue(bytes1 char) private pure returns (uint256) {
        uint8 c = uint8(char);
        if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9 -> 0..9
        if (c >= 0x41 && c <= 0x48) return c - 0x41 + 10; // A-H -> 10..17
        if (c >= 0x4A && c <= 0x4E) return c - 0x4A + 18; // J-N -> 18..22 (no I)
        if (c >= 0x50 && c <= 0x52) return c - 0x50 + 23; // P-R -> 23..25 (no O)
        if (c >= 0x54 && c <= 0x55) return c - 0x54 + 26; // T-U -> 26..27 (no S)
        if (c >= 0x57 && c <= 0x59) return c - 0x57 + 28; // W-Y -> 28..30 (no V; no Z)
        return USCC_MODULUS;
    }
}
