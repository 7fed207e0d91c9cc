// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AdminApprovals} from "./AdminApprovals.sol";
import {MemberGated} from "./MemberGated.sol";
import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title Credit
 * @notice Tamper-proof credit records about enterprises, keyed by their Unified Social Credit Code
 * (USCC, GB 32100-2015), issued by regulators authorised per category (PRODUCT.md, "Credit").
 *
 * Two ways in:
 *
 * - **Entries**, one transaction each ({issue}, {issueRestricted}).
 * - **Batches** ({anchorBatch}): one transaction stores the Merkle root of N entries, N and the CID
 *   of the batch file; nothing per entry is stored, so a batch of 10^4 or 10^6 entries costs the
 *   same gas and a city's corpus (~10^8 entries) is ~10^4 batch transactions. Each entry is served
 *   off chain with its inclusion proof and checked with {verifyBatchEntry}.
 *
 * Corrections ({supersede}, {supersedeRestricted}) and revocations ({revoke}) are new on-chain
 * entries that reference the entry they replace, an on-chain entry or a batch entry (by batch id,
 * index, leaf and proof, verified on chain); nothing stored is ever rewritten, and each entry is
 * replaced at most once. The history of a subject ({entriesOf}) lists every public on-chain entry,
 * corrections included.
 *
 * ## Visibility: public and restricted entries
 *
 * A public entry carries its readable fields on chain. A restricted entry carries only its category
 * (the contract needs it to check the issuer's authorisation) and two hashes; its content is kept
 * encrypted off chain (by the gateway) and opened to authorised readers, who check it against them:
 *
 *     subjectTag = keccak256(abi.encode(bytes18 uscc, bytes32 subjectSalt))
 *     commitment = keccak256(abi.encode(RESTRICTED_ENTRY_TYPEHASH, bytes32 subjectTag,
 *         uint8 category, uint8 severity, uint64 effectiveDate, uint64 expiryDate, uint256 amount,
 *         bytes32 summaryHash, bytes32 evidenceCidHash, bytes32 salt))
 *     RESTRICTED_ENTRY_TYPEHASH = keccak256("RestrictedCreditEntry(bytes32 subjectTag,uint8 category,
 *         uint8 severity,uint64 effectiveDate,uint64 expiryDate,uint256 amount,bytes32 summaryHash,
 *         bytes32 evidenceCidHash,bytes32 salt)")   (one line, no spaces after commas)
 *
 * `subjectSalt` and `salt` are 32 random bytes each: USCCs and amounts are guessable, so unsalted
 * hashes would reveal them. The subject tag stays the same along a chain of corrections, so the
 * contract enforces "a correction keeps its subject" for restricted entries as it does for public
 * ones, without learning the subject; a fresh `subjectSalt` per issued entry keeps unrelated entries
 * about one enterprise unlinkable. {restrictedCommitment} computes both hashes. Neither the USCC nor
 * any field is in a restricted entry's transaction, state or logs. A correction keeps the visibility
 * of the entry it corrects ({CreditVisibilityChanged}); to change it, revoke and issue anew.
 *
 * ## Batch leaves
 *
 * A leaf is a {BatchLeaf}, hashed as OpenZeppelin's StandardMerkleTree hashes its leaves:
 *
 *     leafHash = keccak256(bytes.concat(keccak256(abi.encode(
 *         uint256 issuerMemberId, uint8 category, uint256 indexInBatch, bool isPublic,
 *         bytes18 uscc, uint8 severity, uint64 effectiveDate, uint64 expiryDate, uint256 amount,
 *         bytes32 summaryHash, bytes32 evidenceCidHash, bytes32 subjectTag, bytes32 commitment))))
 *
 * (13 static words, 416 bytes). `issuerMemberId` and `category` must be the batch's, so a leaf is
 * bound to the regulator that anchors it: a root anchored by another regulator first proves nothing
 * for it, and roots are unique per issuer, not globally, so such squatting cannot block the real
 * issuer's anchor either. `evidenceCidHash = keccak256(bytes(evidenceCid))`. A public leaf has zero
 * `subjectTag` and `commitment`; a restricted leaf has zero `uscc`, `severity`, dates, `amount`,
 * `summaryHash` and `evidenceCidHash`, and non-zero `subjectTag` and `commitment` (as above).
 *
 * ## Batch tree: positional, one leaf per index
 *
 * The tree is positional, not sorted: leaf `i` (0-based) of the batch file sits at position `i` of
 * a complete binary tree of depth `d = ceil(log2(entryCount))` (0 for one entry), whose positions
 * `entryCount .. 2^d - 1` hold `bytes32(0)`. An inner node is
 *
 *     node = keccak256(abi.encodePacked(left, right))     (left = the even position, no sorting)
 *
 * and the root is the node above all 2^d positions. A proof for index `i` is the `d` siblings from
 * the leaf up; at level k the node is the left child when bit k of `i` is 0. {verifyBatchEntry}
 * requires exactly `d` siblings and `leaf.indexInBatch == i < entryCount`, so a leaf verifies only
 * at the position its index names, and since a root fixes one hash per position, **no two entries
 * can be proved for one index**: a batch file that lists two entries with the same index has one of
 * them at a position that does not match its index, which never verifies. Leaves keep
 * StandardMerkleTree's double hash; only inner nodes differ from it (ordered instead of sorted
 * pairs), which is what makes the position provable.
 *
 * What a root cannot show is how many real entries it holds: `entryCount` is the issuer's claim, and
 * a position below it may hold no valid leaf. The anchor therefore records the CID of the batch
 * file (the `entryCount` leaves in index order); **the gateway and the audit must fetch that file,
 * rebuild the tree from it and flag a batch whose root differs from `merkleRoot`, whose file does
 * not hold exactly `entryCount` leaves, or whose leaf `i` does not carry index `i`, issuer
 * `issuerMemberId` and the batch's category** (their job in the gateway and audit issues).
 *
 * ## Dates and amounts
 *
 * Dates are Unix seconds (UTC). `expiryDate == 0` means open-ended; otherwise it must be after
 * `effectiveDate`. `amount` is in the smallest unit of the category's currency (fen for a fine).
 * `severity` is category-specific (the issuer's published scale); the contract does not interpret it.
 *
 * ## Authorisation
 *
 * Who may issue is decided at the block of each transaction ({MemberGated}): the sender must be an
 * account of an Active member of kind Regulator, and that member (not the account, so key rotation
 * keeps it) must be authorised for the category. Each regulator answers for its own records: only
 * the member that issued an entry (or anchored its batch) may correct or revoke it, while it can
 * still issue in that category.
 *
 * Consortium decisions are M-of-N approvals of the registry's admin members ({AdminApprovals}, with
 * the registry's admins, threshold and epoch). A proposal's payload is `abi.encode` of:
 *
 * | Action                             | payload                                              |
 * |------------------------------------|------------------------------------------------------|
 * | SetIssuer                          | (uint256 memberId, uint8 category, bool authorized)  |
 * | SupersedeGoneIssuerEntry           | (EntryRef target, PublicRecord record, string reason) |
 * | SupersedeGoneIssuerEntryRestricted | (EntryRef target, bytes32 commitment, string reason) |
 * | RevokeGoneIssuerEntry              | (EntryRef target, string reason)                     |
 *
 * The last three are the path for entries whose issuer is gone, i.e. can no longer issue in the
 * entry's category (suspended, or deauthorised): without it such entries could never be corrected.
 * They are refused while the issuer can still act ({CreditIssuerNotGone}). The new entry stays
 * attributed to the original issuer (`issuerMemberId`), records the admin account whose approval
 * executed it (`issuer`) and the proposal (`proposalId`). Payloads are checked when proposed and
 * again when they execute.
 */
contract Credit is MemberGated, AdminApprovals {
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

    /// @dev Governance actions; see the table in the contract documentation.
    enum Action {
        SetIssuer,
        SupersedeGoneIssuerEntry,
        SupersedeGoneIssuerEntryRestricted,
        RevokeGoneIssuerEntry
    }

    /**
     * @dev An on-chain entry, as stored, as returned by {entry} and as carried by the entry events.
     * A public entry has its readable fields and zero `subjectTag` and `commitment`; a restricted one
     * has only `category`, `subjectTag` and (except a revocation) `commitment`. A Supersede entry
     * carries the corrected record; a Revoke entry the subject (or tag), category and visibility of
     * the revoked entry and the reason. The replaced entry is `refersTo` (an on-chain entry) or
     * index `refersToIndex` of batch `refersToBatch`. `issuer` is the account that sent the
     * transaction (an admin's for a governance correction, then `proposalId` is non-zero);
     * `issuerMemberId` the regulator the record belongs to. `recordedAt` is the block timestamp.
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
        bytes32 subjectTag;
        bytes32 commitment;
        uint256 refersTo;
        uint256 refersToBatch;
        uint256 refersToIndex;
        uint256 proposalId;
        string evidenceCid;
        string reason;
    }

    /// @dev The readable fields of a public entry, as {issue} and {supersede} take them.
    struct PublicRecord {
        string uscc;
        uint8 category;
        uint8 severity;
        uint64 effectiveDate;
        uint64 expiryDate;
        uint256 amount;
        bytes32 summaryHash;
        string evidenceCid;
    }

    /// @dev An anchored batch, as stored and as returned by {batch}.
    struct Batch {
        bytes32 merkleRoot;
        uint256 entryCount;
        Category category;
        address issuer;
        uint64 anchoredAt;
        uint256 issuerMemberId;
        string batchFileCid;
    }

    /// @dev One entry of a batch; see "Batch leaves" in the contract documentation.
    struct BatchLeaf {
        uint256 issuerMemberId;
        uint8 category;
        uint256 indexInBatch;
        bool isPublic;
        bytes18 uscc;
        uint8 severity;
        uint64 effectiveDate;
        uint64 expiryDate;
        uint256 amount;
        bytes32 summaryHash;
        bytes32 evidenceCidHash;
        bytes32 subjectTag;
        bytes32 commitment;
    }

    /// @dev The entry a correction or revocation replaces: on-chain entry `entryId`, or, when
    /// `entryId` is 0, the entry `leaf` of batch `batchId` proved by `proof`.
    struct EntryRef {
        uint256 entryId;
        uint256 batchId;
        bytes32[] proof;
        BatchLeaf leaf;
    }

    /// @dev A restricted entry's content and salts, as {restrictedCommitment} hashes them.
    struct RestrictedContent {
        bytes18 uscc;
        bytes32 subjectSalt;
        uint8 category;
        uint8 severity;
        uint64 effectiveDate;
        uint64 expiryDate;
        uint256 amount;
        bytes32 summaryHash;
        bytes32 evidenceCidHash;
        bytes32 salt;
    }

    /// @dev The entry a correction replaces, resolved and checked.
    struct Target {
        uint256 entryId;
        uint256 batchId;
        uint256 index;
        bytes18 uscc;
        Category category;
        bool isPublic;
        bytes32 subjectTag;
        uint256 issuerMemberId;
    }

    // USCC alphabet (GB 32100-2015): 0-9 then A-Y without I, O, S, V, Z; values 0..30.
    uint256 private constant USCC_LENGTH = 18;
    uint256 private constant USCC_MODULUS = 31;
    uint8 private constant CATEGORY_COUNT = uint8(type(Category).max) + 1;
    bytes32 private constant RESTRICTED_ENTRY_TYPEHASH =
        keccak256(
            "RestrictedCreditEntry(bytes32 subjectTag,uint8 category,uint8 severity,uint64 effectiveDate,uint64 expiryDate,uint256 amount,bytes32 summaryHash,bytes32 evidenceCidHash,bytes32 salt)"
        );

    Entry[] private _entries; // entry id = index + 1
    mapping(uint256 entryId => uint256 newEntryId) private _replacedBy;
    mapping(bytes18 uscc => uint256[] entryIds) private _bySubject;

    Batch[] private _batches; // batch id = index + 1
    mapping(uint256 issuerMemberId => mapping(bytes32 merkleRoot => uint256 batchId)) private _batchOfRoot;
    mapping(uint256 batchId => mapping(uint256 index => uint256 newEntryId)) private _batchEntryReplacedBy;

    mapping(uint256 memberId => mapping(Category category => bool)) private _authorized;

    /// @dev Proposal `proposalId` authorised member `memberId` to issue entries of `category`.
    event IssuerAuthorized(uint256 indexed memberId, Category indexed category, uint256 indexed proposalId);
    /// @dev Proposal `proposalId` withdrew member `memberId`'s authorisation for `category`.
    event IssuerDeauthorized(uint256 indexed memberId, Category indexed category, uint256 indexed proposalId);
    /// @dev Entry `entryId` was issued about `uscc` (zero for a restricted entry) by member
    /// `issuerMemberId`; `entry` is the whole record.
    event EntryIssued(uint256 indexed entryId, bytes18 indexed uscc, uint256 indexed issuerMemberId, Entry entry);
    /// @dev Entry `entryId` replaced on-chain entry `oldEntryId` (0 when it replaced a batch entry,
    /// named by `entry.refersToBatch` and `entry.refersToIndex`) with a corrected record.
    event EntrySuperseded(uint256 indexed entryId, uint256 indexed oldEntryId, bytes18 indexed uscc, Entry entry);
    /// @dev Entry `entryId` revoked on-chain entry `oldEntryId` (0 for a batch entry, as above).
    event EntryRevoked(uint256 indexed entryId, uint256 indexed oldEntryId, bytes18 indexed uscc, Entry entry);
    /// @dev Member `issuerMemberId` anchored batch `batchId` of `entryCount` entries of `category`
    /// through `issuer`; `batchFileCid` names the batch file the root must be rebuilt from.
    event BatchAnchored(
        uint256 indexed batchId,
        uint256 indexed issuerMemberId,
        Category indexed category,
        address issuer,
        bytes32 merkleRoot,
        uint256 entryCount,
        string batchFileCid
    );

    /// @dev `action` is not an {Action} value.
    error CreditUnknownAction(uint8 action);
    /// @dev `uscc` is not a valid GB 32100-2015 code (length, alphabet or check character).
    error CreditInvalidUscc(string uscc);
    /// @dev `category` is not a {Category} value.
    error CreditInvalidCategory(uint8 category);
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
    /// @dev A restricted entry needs a non-zero subject tag and commitment.
    error CreditEmptyCommitment();
    /// @dev No entry has id `entryId`.
    error CreditUnknownEntry(uint256 entryId);
    /// @dev Entry `entryId` was already superseded or revoked by entry `replacedBy`.
    error CreditEntryAlreadyReplaced(uint256 entryId, uint256 replacedBy);
    /// @dev Entry `index` of batch `batchId` was already superseded or revoked by entry `replacedBy`.
    error CreditBatchEntryAlreadyReplaced(uint256 batchId, uint256 index, uint256 replacedBy);
    /// @dev `leaf` with `proof` is not entry `index` of batch `batchId`.
    error CreditInvalidBatchProof(uint256 batchId, uint256 index);
    /// @dev Entry `entryId` is a revocation; revocations are final.
    error CreditEntryIsRevocation(uint256 entryId);
    /// @dev `account`'s member is not member `issuerMemberId`, which issued the entry.
    error CreditNotEntryIssuer(address account, uint256 issuerMemberId);
    /// @dev The entry's issuer `issuerMemberId` can still issue in `category`, so it corrects its
    /// own entries; the consortium steps in only for a gone issuer.
    error CreditIssuerNotGone(uint256 issuerMemberId, uint8 category);
    /// @dev A correction must keep the subject `uscc`, not change it to `given`.
    error CreditCorrectionChangesSubject(bytes18 uscc, bytes18 given);
    /// @dev A correction must keep the category `category`, not change it to `given`.
    error CreditCorrectionChangesCategory(uint8 category, uint8 given);
    /// @dev A correction must keep the visibility of the entry it corrects (`isPublic`).
    error CreditVisibilityChanged(bool isPublic);
    /// @dev A correction or revocation needs a non-empty reason.
    error CreditEmptyReason();
    /// @dev A batch needs a non-zero root, at least one entry and a batch file CID.
    error CreditEmptyBatch(bytes32 merkleRoot, uint256 entryCount);
    /// @dev Member `issuerMemberId` already anchored `merkleRoot` as batch `batchId`.
    error CreditBatchAlreadyAnchored(uint256 issuerMemberId, bytes32 merkleRoot, uint256 batchId);
    /// @dev No batch has id `batchId`.
    error CreditUnknownBatch(uint256 batchId);

    /// @dev `registry_` is the consortium's {MemberRegistry}; it must hold code and cannot change later.
    constructor(MemberRegistry registry_) MemberGated(registry_) {}

    // ------------------------------------------------------------------------------------------
    // Entries
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Records a public credit entry about the enterprise `record.uscc`.
     * @dev Callable by an account of an Active Regulator member authorised for `record.category`
     * ({MemberGatedNotActive}, {CreditNotAuthorized}). Reverts with {CreditInvalidUscc} for an
     * invalid code, {CreditInvalidCategory}, and {CreditInvalidDates}. `summaryHash` commits to the
     * entry's summary text, `evidenceCid` names the evidence on IPFS.
     *
     * Emits {EntryIssued}.
     */
    function issue(PublicRecord calldata record) external returns (uint256 entryId) {
        bytes18 code = _uscc(record.uscc);
        Category cat = _category(record.category);
        uint256 memberId = _checkIssuer(msg.sender, cat);
        _checkDates(record.effectiveDate, record.expiryDate);
        Entry storage e;
        (entryId, e) = _append(code, cat, EntryAction.Issue, memberId);
        e.isPublic = true;
        _bySubject[code].push(entryId);
        _writeRecord(e, record);
        emit EntryIssued(entryId, code, memberId, e);
    }

    /**
     * @notice Records a restricted credit entry of `category`: only the subject tag and the
     * commitment go on chain (see "Visibility" in the contract documentation).
     * @dev Same caller rules as {issue}. Both hashes must be non-zero ({CreditEmptyCommitment}).
     * The contract cannot see the subject or the fields: the gateway checks them before it commits,
     * the audit when it opens the commitment.
     *
     * Emits {EntryIssued} (with a zero `uscc`).
     */
    function issueRestricted(uint8 category, bytes32 subjectTag, bytes32 commitment) external returns (uint256 entryId) {
        Category cat = _category(category);
        uint256 memberId = _checkIssuer(msg.sender, cat);
        if (subjectTag == bytes32(0) || commitment == bytes32(0)) revert CreditEmptyCommitment();
        Entry storage e;
        (entryId, e) = _append(bytes18(0), cat, EntryAction.Issue, memberId);
        e.subjectTag = subjectTag;
        e.commitment = commitment;
        emit EntryIssued(entryId, bytes18(0), memberId, e);
    }

    /**
     * @notice Corrects the public entry `target` (on chain, or in a batch): records a new entry with
     * the corrected fields that references it, with `reason`. The old entry stays as it was.
     * @dev The target must exist and be replaceable: {CreditUnknownEntry}, {CreditEntryIsRevocation},
     * {CreditEntryAlreadyReplaced}; for a batch entry {CreditUnknownBatch}, {CreditInvalidBatchProof}
     * (the proof is verified on chain, as {verifyBatchEntry}), {CreditBatchEntryAlreadyReplaced}.
     * Callable by an account of the member that issued the target ({CreditNotEntryIssuer}), which
     * must still be an Active Regulator authorised for the category ({CreditNotAuthorized});
     * another regulator may not correct it, and a gone issuer's entries are corrected by governance
     * (see the contract documentation). `record.uscc` and `record.category` must be the target's
     * ({CreditCorrectionChangesSubject}, {CreditCorrectionChangesCategory}), the target must be
     * public ({CreditVisibilityChanged}); also reverts like {issue} on invalid fields and with
     * {CreditEmptyReason}. A superseding entry can itself be superseded.
     *
     * Emits {EntrySuperseded}.
     */
    function supersede(
        EntryRef calldata target,
        PublicRecord calldata record,
        string calldata reason
    ) external returns (uint256 entryId) {
        return _supersedePublic(_ownTarget(target), record, reason, 0);
    }

    /**
     * @notice Corrects the restricted entry `target`: records a new restricted entry with the same
     * category and subject tag and the new `commitment`, with `reason`.
     * @dev Target and caller rules as {supersede}; the target must be restricted
     * ({CreditVisibilityChanged}) and `commitment` non-zero ({CreditEmptyCommitment}).
     *
     * Emits {EntrySuperseded} (with a zero `uscc`).
     */
    function supersedeRestricted(
        EntryRef calldata target,
        bytes32 commitment,
        string calldata reason
    ) external returns (uint256 entryId) {
        return _supersedeRestricted(_ownTarget(target), commitment, reason, 0);
    }

    /**
     * @notice Revokes entry `target` (on chain, or in a batch): records a Revoke entry that
     * references it, with `reason`. The old entry stays as it was.
     * @dev Target and caller rules as {supersede}; nothing can be revoked twice
     * ({CreditEntryAlreadyReplaced}, {CreditBatchEntryAlreadyReplaced}), and revocations are final.
     *
     * Emits {EntryRevoked}.
     */
    function revoke(EntryRef calldata target, string calldata reason) external returns (uint256 entryId) {
        return _revoke(_ownTarget(target), reason, 0);
    }

    // ------------------------------------------------------------------------------------------
    // Batches
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Anchors a batch of `entryCount_` entries of `category` by the root of their positional
     * Merkle tree, with the CID of the batch file the root must be rebuilt from.
     * @dev Callable by an account of an Active Regulator member authorised for `category`
     * ({MemberGatedNotActive}, {CreditNotAuthorized}). Stores only the root, the count, the
     * category, the issuer and `batchFileCid`, so the cost does not depend on `entryCount_`. The root
     * must be non-zero, `entryCount_` positive and `batchFileCid` non-empty ({CreditEmptyBatch}), and
     * the root not already anchored by the same member ({CreditBatchAlreadyAnchored}). The contract
     * cannot see the entries: {verifyBatchEntry} checks one with its proof, and the gateway and the
     * audit rebuild the root from the batch file.
     *
     * Emits {BatchAnchored}.
     */
    function anchorBatch(
        bytes32 merkleRoot,
        uint256 entryCount_,
        uint8 category,
        string calldata batchFileCid
    ) external returns (uint256 batchId) {
        Category cat = _category(category);
        uint256 memberId = _checkIssuer(msg.sender, cat);
        if (merkleRoot == bytes32(0) || entryCount_ == 0 || bytes(batchFileCid).length == 0) {
            revert CreditEmptyBatch(merkleRoot, entryCount_);
        }
        uint256 existing = _batchOfRoot[memberId][merkleRoot];
        if (existing != 0) revert CreditBatchAlreadyAnchored(memberId, merkleRoot, existing);
        Batch storage b = _batches.push();
        batchId = _batches.length;
        b.merkleRoot = merkleRoot;
        b.entryCount = entryCount_;
        b.category = cat;
        b.issuer = msg.sender;
        b.anchoredAt = SafeCast.toUint64(block.timestamp);
        b.issuerMemberId = memberId;
        b.batchFileCid = batchFileCid;
        _batchOfRoot[memberId][merkleRoot] = batchId;
        emit BatchAnchored(batchId, memberId, cat, msg.sender, merkleRoot, entryCount_, batchFileCid);
    }

    /**
     * @notice Whether `leaf` is entry `leaf.indexInBatch` of batch `batchId`, proved by `proof`.
     * Anyone may call.
     * @dev Reverts with {CreditUnknownBatch} and, for a public leaf with an invalid `uscc`,
     * {CreditInvalidUscc}. Returns false when the leaf's issuer or category is not the batch's, when
     * `indexInBatch` is not below the batch's `entryCount`, when the leaf is not well formed (see
     * "Batch leaves"; a public leaf also needs valid dates), when `proof` does not hold exactly
     * {treeDepth}`(entryCount)` siblings, or when it does not lead from {batchLeafHash} of `leaf` at
     * position `indexInBatch` to the batch root. An entry already superseded or revoked still
     * verifies: it was anchored; {batchEntryReplacedBy} tells.
     */
    function verifyBatchEntry(
        uint256 batchId,
        bytes32[] calldata proof,
        BatchLeaf calldata leaf
    ) external view returns (bool) {
        return _verify(_existingBatch(batchId), proof, leaf);
    }

    /// @notice The leaf hash of `leaf` (see "Batch leaves"). Anyone may call.
    function batchLeafHash(BatchLeaf calldata leaf) external pure returns (bytes32) {
        return _leafHash(leaf);
    }

    /// @notice Depth of the positional tree of a batch of `entryCount_` entries: ceil(log2), 0 for
    /// one entry; a proof holds exactly this many siblings. Anyone may call.
    function treeDepth(uint256 entryCount_) external pure returns (uint256) {
        return _treeDepth(entryCount_);
    }

    /// @notice The subject tag and commitment of a restricted entry's content (see "Visibility").
    /// Anyone may call; it is how a reader checks an opened entry against the chain.
    function restrictedCommitment(
        RestrictedContent calldata c
    ) external pure returns (bytes32 subjectTag, bytes32 commitment) {
        subjectTag = keccak256(abi.encode(c.uscc, c.subjectSalt));
        commitment = keccak256(
            abi.encode(
                RESTRICTED_ENTRY_TYPEHASH,
                subjectTag,
                c.category,
                c.severity,
                c.effectiveDate,
                c.expiryDate,
                c.amount,
                c.summaryHash,
                c.evidenceCidHash,
                c.salt
            )
        );
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

    /// @notice The entry that superseded or revoked entry `index` of batch `batchId`, or 0 if none.
    /// Anyone may call.
    function batchEntryReplacedBy(uint256 batchId, uint256 index) external view returns (uint256) {
        _existingBatch(batchId);
        return _batchEntryReplacedBy[batchId][index];
    }

    /// @notice Number of on-chain entries; entry ids are 1..entryCount(). Anyone may call.
    function entryCount() external view returns (uint256) {
        return _entries.length;
    }

    /**
     * @notice Up to `limit` ids of the public on-chain entries about `uscc`, oldest first, from
     * position `offset` of the subject's history (corrections and revocations included), and the
     * history's `total` length. Anyone may call.
     * @dev Reverts with {CreditInvalidUscc} for an invalid code. An `offset` at or past `total`
     * gives an empty page. Restricted entries (their subject is not on chain) and batch entries (the
     * chain holds only their roots) are not listed; the gateway's index serves them.
     */
    function entriesOf(
        bytes18 uscc,
        uint256 offset,
        uint256 limit
    ) external view returns (uint256[] memory ids, uint256 total) {
        if (!_isValidUscc(uscc)) revert CreditInvalidUscc(_usccString(uscc));
        uint256[] storage all = _bySubject[uscc];
        total = all.length;
        uint256 count = offset >= total ? 0 : Math.min(limit, total - offset);
        ids = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) ids[i] = all[offset + i];
    }

    /// @notice Batch `batchId` ({CreditUnknownBatch} if there is none). Anyone may call.
    function batch(uint256 batchId) external view returns (Batch memory) {
        return _existingBatch(batchId);
    }

    /// @notice Number of anchored batches; batch ids are 1..batchCount(). Anyone may call.
    function batchCount() external view returns (uint256) {
        return _batches.length;
    }

    /// @notice The batch in which member `issuerMemberId` anchored `merkleRoot`, or 0 if none.
    /// Anyone may call.
    function batchOfRoot(uint256 issuerMemberId, bytes32 merkleRoot) external view returns (uint256) {
        return _batchOfRoot[issuerMemberId][merkleRoot];
    }

    /// @notice Whether member `memberId` holds an authorisation for `category`. Anyone may call.
    /// @dev The flag only; {canIssue} also applies the member's current status and kind.
    function isAuthorized(uint256 memberId, uint8 category) external view returns (bool) {
        return _authorized[memberId][_category(category)];
    }

    /// @notice Whether `account` could issue an entry of `category` now. Anyone may call.
    function canIssue(address account, uint8 category) external view returns (bool) {
        (uint256 memberId, MemberRegistry.MemberKind kind, bool active) = _registry().activeMemberAt(
            account,
            SafeCast.toUint48(block.number)
        );
        return active && kind == MemberRegistry.MemberKind.Regulator && _authorized[memberId][_category(category)];
    }

    // ------------------------------------------------------------------------------------------
    // Governance (AdminApprovals hooks): the registry's admins, threshold and epoch
    // ------------------------------------------------------------------------------------------

    function _adminSeat(
        address account
    ) internal view override returns (uint256 memberId, uint256 threshold, uint64 epoch) {
        return _registry().adminOf(account);
    }

    /// @dev Every action's payload is checked when proposed, as it will be when it executes.
    function _checkProposal(uint8 action, bytes calldata payload) internal view override {
        if (action > uint8(type(Action).max)) revert CreditUnknownAction(action);
        if (action == uint8(Action.SetIssuer)) {
            (uint256 memberId, uint8 category, bool authorized) = abi.decode(payload, (uint256, uint8, bool));
            _category(category);
            if (authorized) _checkAuthorizable(memberId);
        } else if (action == uint8(Action.SupersedeGoneIssuerEntry)) {
            (EntryRef memory ref, PublicRecord memory record, string memory reason) = abi.decode(
                payload,
                (EntryRef, PublicRecord, string)
            );
            _checkPublicReplacement(_goneTarget(ref), record);
            _requireReason(reason);
        } else if (action == uint8(Action.SupersedeGoneIssuerEntryRestricted)) {
            (EntryRef memory ref, bytes32 commitment, string memory reason) = abi.decode(
                payload,
                (EntryRef, bytes32, string)
            );
            _checkRestrictedReplacement(_goneTarget(ref), commitment);
            _requireReason(reason);
        } else {
            (EntryRef memory ref, string memory reason) = abi.decode(payload, (EntryRef, string));
            _goneTarget(ref);
            _requireReason(reason);
        }
    }

    function _executeProposal(uint256 proposalId, uint8 action, bytes memory payload) internal override {
        if (action == uint8(Action.SetIssuer)) {
            (uint256 memberId, uint8 category, bool authorized) = abi.decode(payload, (uint256, uint8, bool));
            _setIssuer(proposalId, memberId, Category(category), authorized);
        } else if (action == uint8(Action.SupersedeGoneIssuerEntry)) {
            (EntryRef memory ref, PublicRecord memory record, string memory reason) = abi.decode(
                payload,
                (EntryRef, PublicRecord, string)
            );
            _supersedePublic(_goneTarget(ref), record, reason, proposalId);
        } else if (action == uint8(Action.SupersedeGoneIssuerEntryRestricted)) {
            (EntryRef memory ref, bytes32 commitment, string memory reason) = abi.decode(
                payload,
                (EntryRef, bytes32, string)
            );
            _supersedeRestricted(_goneTarget(ref), commitment, reason, proposalId);
        } else {
            (EntryRef memory ref, string memory reason) = abi.decode(payload, (EntryRef, string));
            _revoke(_goneTarget(ref), reason, proposalId);
        }
    }

    /**
     * @dev Action.SetIssuer. A grant is checked again (the member may have been suspended since the
     * proposal); a grant that already holds, or a withdrawal of an authorisation that does not
     * exist, changes nothing and emits nothing but {ProposalExecuted}.
     */
    function _setIssuer(uint256 proposalId, uint256 memberId, Category cat, bool authorized) private {
        if (authorized) {
            _checkAuthorizable(memberId);
            if (!_authorized[memberId][cat]) {
                _authorized[memberId][cat] = true;
                emit IssuerAuthorized(memberId, cat, proposalId);
            }
        } else if (_authorized[memberId][cat]) {
            _authorized[memberId][cat] = false;
            emit IssuerDeauthorized(memberId, cat, proposalId);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Member `memberId` exists, is of kind Regulator and is Active.
    function _checkAuthorizable(uint256 memberId) private view {
        (MemberRegistry.MemberKind kind, MemberRegistry.Status status) = _memberInfo(memberId);
        if (status == MemberRegistry.Status.None) revert CreditUnknownMember(memberId);
        if (kind != MemberRegistry.MemberKind.Regulator) revert CreditNotRegulator(memberId, kind);
        if (status != MemberRegistry.Status.Active) revert CreditMemberNotActive(memberId);
    }

    /// @dev The issuing member of `account` for `cat`, or the reason it cannot issue.
    function _checkIssuer(address account, Category cat) private view returns (uint256 memberId) {
        MemberRegistry.MemberKind kind;
        (memberId, kind) = _activeMember(account);
        if (kind != MemberRegistry.MemberKind.Regulator || !_authorized[memberId][cat]) {
            revert CreditNotAuthorized(account, uint8(cat));
        }
    }

    /// @dev Whether member `memberId` can issue entries of `cat` now: Active, Regulator, authorised.
    function _canIssue(uint256 memberId, Category cat) private view returns (bool) {
        (MemberRegistry.MemberKind kind, MemberRegistry.Status status) = _memberInfo(memberId);
        return
            status == MemberRegistry.Status.Active &&
            kind == MemberRegistry.MemberKind.Regulator &&
            _authorized[memberId][cat];
    }

    /// @dev `ref` resolved for its own issuer: the sender must act for it and still be able to issue.
    function _ownTarget(EntryRef memory ref) private view returns (Target memory t) {
        t = _resolve(ref);
        uint256 memberId = _checkIssuer(msg.sender, t.category);
        if (memberId != t.issuerMemberId) revert CreditNotEntryIssuer(msg.sender, t.issuerMemberId);
    }

    /// @dev `ref` resolved for a governance correction: its issuer must be gone.
    function _goneTarget(EntryRef memory ref) private view returns (Target memory t) {
        t = _resolve(ref);
        if (_canIssue(t.issuerMemberId, t.category)) revert CreditIssuerNotGone(t.issuerMemberId, uint8(t.category));
    }

    /// @dev The entry `ref` names, which must exist and be replaceable (not a revocation, not replaced).
    function _resolve(EntryRef memory ref) private view returns (Target memory t) {
        if (ref.entryId != 0) {
            Entry storage old = _existingEntry(ref.entryId);
            if (old.action == EntryAction.Revoke) revert CreditEntryIsRevocation(ref.entryId);
            uint256 successor = _replacedBy[ref.entryId];
            if (successor != 0) revert CreditEntryAlreadyReplaced(ref.entryId, successor);
            t.entryId = ref.entryId;
            t.uscc = old.uscc;
            t.category = old.category;
            t.isPublic = old.isPublic;
            t.subjectTag = old.subjectTag;
            t.issuerMemberId = old.issuerMemberId;
        } else {
            Batch storage b = _existingBatch(ref.batchId);
            BatchLeaf memory leaf = ref.leaf;
            if (!_verify(b, ref.proof, leaf)) revert CreditInvalidBatchProof(ref.batchId, leaf.indexInBatch);
            uint256 successor = _batchEntryReplacedBy[ref.batchId][leaf.indexInBatch];
            if (successor != 0) revert CreditBatchEntryAlreadyReplaced(ref.batchId, leaf.indexInBatch, successor);
            t.batchId = ref.batchId;
            t.index = leaf.indexInBatch;
            t.uscc = leaf.uscc;
            t.category = b.category;
            t.isPublic = leaf.isPublic;
            t.subjectTag = leaf.subjectTag;
            t.issuerMemberId = b.issuerMemberId;
        }
    }

    function _supersedePublic(
        Target memory t,
        PublicRecord memory record,
        string memory reason,
        uint256 proposalId
    ) private returns (uint256 entryId) {
        _checkPublicReplacement(t, record);
        Entry storage e;
        (entryId, e) = _appendCorrection(t, EntryAction.Supersede, reason, proposalId);
        _writeRecord(e, record);
        emit EntrySuperseded(entryId, t.entryId, t.uscc, e);
    }

    function _supersedeRestricted(
        Target memory t,
        bytes32 commitment,
        string memory reason,
        uint256 proposalId
    ) private returns (uint256 entryId) {
        _checkRestrictedReplacement(t, commitment);
        Entry storage e;
        (entryId, e) = _appendCorrection(t, EntryAction.Supersede, reason, proposalId);
        e.commitment = commitment;
        emit EntrySuperseded(entryId, t.entryId, t.uscc, e);
    }

    function _revoke(Target memory t, string memory reason, uint256 proposalId) private returns (uint256 entryId) {
        Entry storage e;
        (entryId, e) = _appendCorrection(t, EntryAction.Revoke, reason, proposalId);
        emit EntryRevoked(entryId, t.entryId, t.uscc, e);
    }

    /// @dev A public correction keeps the target's visibility, subject and category; valid fields.
    function _checkPublicReplacement(Target memory t, PublicRecord memory record) private pure {
        if (!t.isPublic) revert CreditVisibilityChanged(false);
        bytes18 code = _uscc(record.uscc);
        Category cat = _category(record.category);
        if (code != t.uscc) revert CreditCorrectionChangesSubject(t.uscc, code);
        if (cat != t.category) revert CreditCorrectionChangesCategory(uint8(t.category), record.category);
        _checkDates(record.effectiveDate, record.expiryDate);
    }

    function _checkRestrictedReplacement(Target memory t, bytes32 commitment) private pure {
        if (t.isPublic) revert CreditVisibilityChanged(true);
        if (commitment == bytes32(0)) revert CreditEmptyCommitment();
    }

    function _requireReason(string memory reason) private pure {
        if (bytes(reason).length == 0) revert CreditEmptyReason();
    }

    /**
     * @dev Appends the correction or revocation of `t`: same subject (or tag), category, visibility
     * and issuer member; links the replaced entry to it.
     */
    function _appendCorrection(
        Target memory t,
        EntryAction action,
        string memory reason,
        uint256 proposalId
    ) private returns (uint256 entryId, Entry storage e) {
        _requireReason(reason);
        (entryId, e) = _append(t.uscc, t.category, action, t.issuerMemberId);
        e.isPublic = t.isPublic;
        e.subjectTag = t.subjectTag;
        e.refersTo = t.entryId;
        e.refersToBatch = t.batchId;
        e.refersToIndex = t.index;
        e.proposalId = proposalId;
        e.reason = reason;
        if (t.entryId != 0) {
            _replacedBy[t.entryId] = entryId;
        } else {
            _batchEntryReplacedBy[t.batchId][t.index] = entryId;
        }
        if (t.isPublic) _bySubject[t.uscc].push(entryId);
    }

    /// @dev Appends an entry with its subject, category, action and issuer.
    function _append(
        bytes18 code,
        Category cat,
        EntryAction action,
        uint256 memberId
    ) private returns (uint256 entryId, Entry storage e) {
        e = _entries.push();
        entryId = _entries.length;
        e.uscc = code;
        e.category = cat;
        e.action = action;
        e.issuer = msg.sender;
        e.recordedAt = SafeCast.toUint64(block.timestamp);
        e.issuerMemberId = memberId;
    }

    function _writeRecord(Entry storage e, PublicRecord memory record) private {
        e.severity = record.severity;
        e.effectiveDate = record.effectiveDate;
        e.expiryDate = record.expiryDate;
        e.amount = record.amount;
        e.summaryHash = record.summaryHash;
        e.evidenceCid = record.evidenceCid;
    }

    function _verify(Batch storage b, bytes32[] memory proof, BatchLeaf memory leaf) private view returns (bool) {
        if (leaf.isPublic && !_isValidUscc(leaf.uscc)) revert CreditInvalidUscc(_usccString(leaf.uscc));
        if (
            leaf.issuerMemberId != b.issuerMemberId ||
            leaf.category != uint8(b.category) ||
            leaf.indexInBatch >= b.entryCount ||
            !_wellFormed(leaf) ||
            proof.length != _treeDepth(b.entryCount)
        ) return false;
        bytes32 node = _leafHash(leaf);
        uint256 index = leaf.indexInBatch;
        for (uint256 i = 0; i < proof.length; ++i) {
            node = index & 1 == 0 ? Hashes.efficientKeccak256(node, proof[i]) : Hashes.efficientKeccak256(proof[i], node);
            index >>= 1;
        }
        return node == b.merkleRoot;
    }

    /// @dev A public leaf has valid dates and no hashes; a restricted leaf has hashes and nothing readable.
    function _wellFormed(BatchLeaf memory leaf) private pure returns (bool) {
        if (leaf.isPublic) {
            return
                leaf.subjectTag == bytes32(0) &&
                leaf.commitment == bytes32(0) &&
                (leaf.expiryDate == 0 || leaf.expiryDate > leaf.effectiveDate);
        }
        return
            leaf.uscc == bytes18(0) &&
            leaf.severity == 0 &&
            leaf.effectiveDate == 0 &&
            leaf.expiryDate == 0 &&
            leaf.amount == 0 &&
            leaf.summaryHash == bytes32(0) &&
            leaf.evidenceCidHash == bytes32(0) &&
            leaf.subjectTag != bytes32(0) &&
            leaf.commitment != bytes32(0);
    }

    function _leafHash(BatchLeaf memory leaf) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(leaf))));
    }

    function _treeDepth(uint256 count) private pure returns (uint256) {
        return count <= 1 ? 0 : Math.log2(count - 1) + 1;
    }

    function _category(uint8 category) private pure returns (Category) {
        if (category >= CATEGORY_COUNT) revert CreditInvalidCategory(category);
        return Category(category);
    }

    function _checkDates(uint64 effectiveDate, uint64 expiryDate) private pure {
        if (expiryDate != 0 && expiryDate <= effectiveDate) revert CreditInvalidDates(effectiveDate, expiryDate);
    }

    /// @dev `uscc` as bytes18, or {CreditInvalidUscc}.
    function _uscc(string memory uscc) private pure returns (bytes18 code) {
        if (bytes(uscc).length != USCC_LENGTH) revert CreditInvalidUscc(uscc);
        code = bytes18(bytes(uscc));
        if (!_isValidUscc(code)) revert CreditInvalidUscc(uscc);
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
