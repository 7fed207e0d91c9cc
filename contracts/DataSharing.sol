// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title DataSharing
 * @notice Dataset entries, signed share requests, grants, encrypted deliveries and the access log
 * (PRODUCT.md, "Data sharing").
 *
 * Who may do what. Every state-changing function first requires `msg.sender` to be an account of an
 * Active member *at this block* ({DataSharingNotActive}); membership is read from the
 * {MemberRegistry} during execution, so a suspension takes effect from the transaction after it.
 *
 * - A dataset is registered by an account of a **Department** member, which becomes its owner
 *   (the product gives the job "publish dataset entries" to department data officers only).
 * - A share request is signed off-chain by the requester as EIP-712 typed data and may be relayed
 *   by any active account; the signature must recover to `requester`, an active member account.
 * - The dataset owner approves (narrowing only) or rejects a pending request; it delivers the
 *   payload and may revoke the grant. "Owner" means any active account of the owning member.
 * - Personal-class datasets need a supervisor: another Department or Regulator member named by the
 *   owner ({setSupervisor}). The supervisor in place when the owner approves is fixed into that
 *   request; only it can give the second approval (or reject) before the grant is active.
 * - Accesses are recorded by an account of the requesting member (its own key, or a gateway key
 *   the registry lists as an account of that member).
 *
 * Ids. A request keeps its id when it is approved: `grantId == requestId`.
 *
 * EIP-712. Domain `{name: "CityLedger DataSharing", version: "1", chainId, verifyingContract}`;
 * primary type
 * `ShareRequest(uint256 datasetId,address requester,string purpose,string legalBasis,string[] fields,bytes32 subjectCommitment,uint64 validFrom,uint64 validUntil,uint32 maxAccesses,uint256 nonce)`.
 * `fields` are column names of the dataset's schema document (`schemaCid`), so both the signer and
 * a later reader of the evidence see what was asked for, and the contract can check that an
 * approval only narrows. `subjectCommitment` is a salted hash of the subject list, never the list.
 * Nonces are unordered: each `(requester, nonce)` can be submitted once.
 *
 * Time. A grant is usable while `validFrom <= block.timestamp <= validUntil`.
 */
contract DataSharing is EIP712 {
    enum Classification {
        Public,
        Internal,
        Sensitive,
        Personal
    }

    /// @dev Where a request stands. Expiry and the access cap are derived, see {GrantState}.
    enum RequestStatus {
        None,
        Pending, // submitted, waiting for the owner
        AwaitingSupervisor, // approved by the owner, personal data, waiting for the supervisor
        Granted, // approved (by the supervisor too where needed)
        Rejected,
        Revoked
    }

    /// @dev Whether an access would be recorded now, and if not, why; see {grantState}.
    enum GrantState {
        None,
        Pending,
        AwaitingSupervisor,
        Rejected,
        Revoked,
        NotYetValid,
        Expired,
        CapReached,
        Undelivered,
        Active
    }

    /// @dev The EIP-712 message a requester signs.
    struct ShareRequest {
        uint256 datasetId;
        address requester;
        string purpose;
        string legalBasis;
        string[] fields;
        bytes32 subjectCommitment;
        uint64 validFrom;
        uint64 validUntil;
        uint32 maxAccesses;
        uint256 nonce;
    }

    /// @dev What {getDataset} returns. `supervisorMemberId` is 0 when none is set.
    struct DatasetView {
        uint256 id;
        uint256 ownerMemberId;
        Classification classification;
        uint256 supervisorMemberId;
        string title;
        string schemaCid;
    }

    /// @dev What {getRequest} returns: the signed request exactly as submitted, with its evidence.
    struct RequestView {
        uint256 id;
        ShareRequest request;
        uint256 requesterMemberId;
        address relayer;
        uint64 submittedAt; // block timestamp
        bytes32 digest; // EIP-712 digest the signature is over
        bytes signature;
        RequestStatus status;
    }

    /// @dev What {getGrant} returns: the terms in force (after narrowing) and the delivery.
    struct GrantView {
        uint256 id;
        uint256 datasetId;
        RequestStatus status;
        GrantState state;
        uint256 ownerMemberId;
        uint256 requesterMemberId;
        uint256 supervisorMemberId; // fixed at the owner's approval; 0 if not needed
        string[] fields;
        uint64 validFrom;
        uint64 validUntil;
        uint32 maxAccesses;
        uint32 accessCount;
        string cid;
        bytes32 ciphertextHash;
        bytes32 plaintextCommitment;
        uint64 deliveredAt; // block timestamp; 0 if not delivered
    }

    struct Dataset {
        uint256 ownerMemberId;
        uint256 supervisorMemberId;
        Classification classification;
        string title;
        string schemaCid;
    }

    struct Request {
        ShareRequest signed;
        uint256 requesterMemberId;
        address relayer;
        uint64 submittedAt;
        RequestStatus status;
        bytes32 digest;
        bytes signature;
        // Grant terms, set by the owner's approval.
        uint64 validUntil;
        uint32 maxAccesses;
        uint32 accessCount;
        uint64 deliveredAt;
        uint256 supervisorMemberId;
        string[] fields;
        // Delivery.
        string cid;
        bytes32 ciphertextHash;
        bytes32 plaintextCommitment;
    }

    bytes32 private constant SHARE_REQUEST_TYPEHASH =
        keccak256(
            "ShareRequest(uint256 datasetId,address requester,string purpose,string legalBasis,string[] fields,bytes32 subjectCommitment,uint64 validFrom,uint64 validUntil,uint32 maxAccesses,uint256 nonce)"
        );

    /// @dev Upper bound on the number of fields in a request or grant (keeps the subset check cheap).
    uint256 private constant MAX_FIELDS = 64;

    MemberRegistry private immutable _registry;

    mapping(uint256 datasetId => Dataset) private _datasets;
    uint256 private _datasetCount;
    mapping(uint256 requestId => Request) private _requests;
    uint256 private _requestCount;
    mapping(address requester => mapping(uint256 nonce => bool)) private _nonceUsed;

    event DatasetRegistered(
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        address account,
        string title,
        Classification classification,
        string schemaCid
    );
    event SupervisorSet(uint256 indexed datasetId, uint256 indexed supervisorMemberId, uint256 indexed ownerMemberId);
    event RequestSubmitted(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed requesterMemberId,
        address requester,
        address relayer,
        uint256 nonce,
        bytes32 digest
    );
    event RequestApproved(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        string[] fields,
        uint64 validUntil,
        uint32 maxAccesses,
        uint256 supervisorMemberId
    );
    event SupervisorApproved(uint256 indexed requestId, uint256 indexed datasetId, uint256 indexed supervisorMemberId);
    event RequestRejected(uint256 indexed requestId, uint256 indexed datasetId, uint256 indexed memberId, string reason);
    event PayloadDelivered(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        string cid,
        bytes32 ciphertextHash,
        bytes32 plaintextCommitment
    );
    event AccessRecorded(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed memberId,
        address account,
        uint32 accessCount,
        string reason
    );
    event AccessRefused(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed memberId,
        address account,
        GrantState state,
        string reason
    );
    event GrantRevoked(uint256 indexed grantId, uint256 indexed datasetId, uint256 indexed ownerMemberId, string reason);

    /// @dev The constructor was given an address without code as the registry.
    error DataSharingInvalidRegistry(address registry);
    /// @dev `account` is not an account of an Active member at this block.
    error DataSharingNotActive(address account);
    /// @dev Only Department members register datasets; member `memberId` is of kind `kind`.
    error DataSharingNotDepartment(uint256 memberId, MemberRegistry.MemberKind kind);
    /// @dev `classification` is not a {Classification} value.
    error DataSharingInvalidClassification(uint8 classification);
    /// @dev A required text (`name` says which) is empty.
    error DataSharingEmptyText(string name);
    /// @dev No dataset has id `datasetId`.
    error DataSharingUnknownDataset(uint256 datasetId);
    /// @dev No request (or grant) has id `requestId`.
    error DataSharingUnknownRequest(uint256 requestId);
    /// @dev Member `memberId` does not own dataset `datasetId`.
    error DataSharingNotOwner(uint256 datasetId, uint256 memberId);
    /// @dev Member `memberId` is not the supervisor fixed into request `requestId`.
    error DataSharingNotSupervisor(uint256 requestId, uint256 memberId);
    /// @dev Member `memberId` is not the member that requested grant `grantId`.
    error DataSharingNotRequester(uint256 grantId, uint256 memberId);
    /// @dev Member `memberId` is neither the owner nor the requester of grant `grantId`.
    error DataSharingNotParty(uint256 grantId, uint256 memberId);
    /// @dev Supervisors exist for Personal datasets only; dataset `datasetId` is `classification`.
    error DataSharingSupervisorNotNeeded(uint256 datasetId, Classification classification);
    /// @dev Member `memberId` cannot supervise dataset `datasetId`: unknown, the owner itself, not
    /// Active, or not a Department or Regulator.
    error DataSharingInvalidSupervisor(uint256 datasetId, uint256 memberId);
    /// @dev Personal dataset `datasetId` has no supervisor, so a request for it cannot be approved.
    error DataSharingNoSupervisor(uint256 datasetId);
    /// @dev The signature recovers to `signer` (zero if malformed), not to `requester`.
    error DataSharingInvalidSignature(address requester, address signer);
    /// @dev `requester` has already submitted a request with `nonce`.
    error DataSharingNonceUsed(address requester, uint256 nonce);
    /// @dev The validity window is empty or already over at `timestamp`.
    error DataSharingInvalidWindow(uint64 validFrom, uint64 validUntil, uint256 timestamp);
    /// @dev The access cap must be at least 1.
    error DataSharingInvalidMaxAccesses(uint32 maxAccesses);
    /// @dev A field list must hold 1..`max` names; this one holds `count`.
    error DataSharingInvalidFieldCount(uint256 count, uint256 max);
    /// @dev `field` appears twice in a field list.
    error DataSharingDuplicateField(string field);
    /// @dev An approval may only narrow: `field` was not requested in `requestId`.
    error DataSharingFieldNotRequested(uint256 requestId, string field);
    /// @dev An approval may only shorten validity: `offered` is after the `requested` end.
    error DataSharingValidityExtended(uint256 requestId, uint64 requested, uint64 offered);
    /// @dev An approval may only lower the cap: `offered` is above the `requested` cap.
    error DataSharingCapRaised(uint256 requestId, uint32 requested, uint32 offered);
    /// @dev Request `requestId` is in `status`, which does not allow this step.
    error DataSharingInvalidStatus(uint256 requestId, RequestStatus status);
    /// @dev Grant `grantId` already has its payload.
    error DataSharingAlreadyDelivered(uint256 grantId);
    /// @dev Grant `grantId` has no payload yet.
    error DataSharingNotDelivered(uint256 grantId);
    /// @dev Grant `grantId` has not been (fully) approved: it is in `status`.
    error DataSharingGrantNotApproved(uint256 grantId, RequestStatus status);
    /// @dev Grant `grantId` was revoked by its owner.
    error DataSharingGrantRevoked(uint256 grantId);
    /// @dev Grant `grantId` starts at `validFrom`; the block time is `timestamp`.
    error DataSharingGrantNotYetValid(uint256 grantId, uint64 validFrom, uint256 timestamp);
    /// @dev Grant `grantId` ended at `validUntil`; the block time is `timestamp`.
    error DataSharingGrantExpired(uint256 grantId, uint64 validUntil, uint256 timestamp);
    /// @dev Grant `grantId` has used all `maxAccesses` accesses.
    error DataSharingAccessCapReached(uint256 grantId, uint32 maxAccesses);

    /// @dev `registry_` is the consortium's {MemberRegistry}; it cannot be changed later.
    constructor(MemberRegistry registry_) EIP712("CityLedger DataSharing", "1") {
        if (address(registry_).code.length == 0) revert DataSharingInvalidRegistry(address(registry_));
        _registry = registry_;
    }

    // ------------------------------------------------------------------------------------------
    // Datasets
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Registers a dataset entry owned by the caller's member.
     * @dev Callable by an account of an Active Department member ({DataSharingNotActive},
     * {DataSharingNotDepartment}). `classification` is a {Classification} value; `title` and
     * `schemaCid` (the schema document on IPFS) must not be empty. Entries are immutable.
     *
     * Emits {DatasetRegistered}.
     */
    function registerDataset(
        string calldata title,
        uint8 classification,
        string calldata schemaCid
    ) external returns (uint256 datasetId) {
        (uint256 memberId, MemberRegistry.MemberKind kind) = _activeMember(msg.sender);
        if (kind != MemberRegistry.MemberKind.Department) revert DataSharingNotDepartment(memberId, kind);
        if (classification > uint8(type(Classification).max)) revert DataSharingInvalidClassification(classification);
        _requireText(title, "title");
        _requireText(schemaCid, "schemaCid");

        datasetId = ++_datasetCount;
        Dataset storage d = _datasets[datasetId];
        d.ownerMemberId = memberId;
        d.classification = Classification(classification);
        d.title = title;
        d.schemaCid = schemaCid;
        emit DatasetRegistered(datasetId, memberId, msg.sender, title, Classification(classification), schemaCid);
    }

    /**
     * @notice Names the member whose second approval personal-class requests need.
     * @dev Callable by an account of the dataset's owner ({DataSharingNotOwner}), for Personal
     * datasets only ({DataSharingSupervisorNotNeeded}). The supervisor must be another Active member
     * of kind Department or Regulator ({DataSharingInvalidSupervisor}). May be called again to
     * change it; requests already approved by the owner keep the supervisor they were approved under.
     *
     * Emits {SupervisorSet}.
     */
    function setSupervisor(uint256 datasetId, uint256 supervisorMemberId) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Dataset storage d = _existingDataset(datasetId);
        if (memberId != d.ownerMemberId) revert DataSharingNotOwner(datasetId, memberId);
        if (d.classification != Classification.Personal) {
            revert DataSharingSupervisorNotNeeded(datasetId, d.classification);
        }
        if (!_canSupervise(supervisorMemberId, memberId)) revert DataSharingInvalidSupervisor(datasetId, supervisorMemberId);

        d.supervisorMemberId = supervisorMemberId;
        emit SupervisorSet(datasetId, supervisorMemberId, memberId);
    }

    // ------------------------------------------------------------------------------------------
    // Requests
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Records a share request signed by `req.requester` (EIP-712, see the contract notes).
     * @dev Callable by any Active member account (the relayer; it may be the requester itself).
     * Refused unless the signature recovers to `req.requester` ({DataSharingInvalidSignature}: any
     * change to any field after signing lands here), the requester is an Active member account
     * ({DataSharingNotActive}), the dataset exists, the nonce is unused ({DataSharingNonceUsed}),
     * `purpose` and `legalBasis` are not empty, `fields` holds 1..64 distinct non-empty names, the
     * window is non-empty and not over, and `maxAccesses` is at least 1. The request, its EIP-712
     * digest and the signature are stored, so the request can be re-verified from state alone.
     *
     * Emits {RequestSubmitted}.
     */
    function submitRequest(ShareRequest calldata req, bytes calldata signature) external returns (uint256 requestId) {
        _activeMember(msg.sender);
        bytes32[] memory fieldHashes = _hashFields(req.fields);
        bytes32 digest = _hashTypedDataV4(_structHash(req, fieldHashes));
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != req.requester) {
            revert DataSharingInvalidSignature(req.requester, signer);
        }
        (uint256 requesterMemberId, ) = _activeMember(req.requester);
        _existingDataset(req.datasetId);
        if (_nonceUsed[req.requester][req.nonce]) revert DataSharingNonceUsed(req.requester, req.nonce);
        _checkRequest(req, fieldHashes);

        _nonceUsed[req.requester][req.nonce] = true;
        requestId = ++_requestCount;
        Request storage r = _requests[requestId];
        _storeRequest(r.signed, req);
        r.requesterMemberId = requesterMemberId;
        r.relayer = msg.sender;
        r.submittedAt = SafeCast.toUint64(block.timestamp);
        r.status = RequestStatus.Pending;
        r.digest = digest;
        r.signature = signature;
        emit RequestSubmitted(requestId, req.datasetId, requesterMemberId, req.requester, msg.sender, req.nonce, digest);
    }

    /**
     * @notice Approves a pending request, possibly narrowed: a subset of the requested fields, an
     * end no later than requested, a cap no higher than requested.
     * @dev Callable by an account of the dataset's owner ({DataSharingNotOwner}) on a Pending request
     * ({DataSharingInvalidStatus}). Widening is refused ({DataSharingFieldNotRequested},
     * {DataSharingValidityExtended}, {DataSharingCapRaised}); so are an empty or repeating field
     * list, a window that is empty or already over, and a zero cap. For a Personal dataset the
     * grant waits for the supervisor named now ({DataSharingNoSupervisor} if there is none);
     * otherwise it is Granted at once.
     *
     * Emits {RequestApproved} (`supervisorMemberId` is 0 when no second approval is needed).
     */
    function approve(
        uint256 requestId,
        string[] calldata fields,
        uint64 validUntil,
        uint32 maxAccesses
    ) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(requestId);
        uint256 datasetId = r.signed.datasetId;
        Dataset storage d = _datasets[datasetId];
        if (memberId != d.ownerMemberId) revert DataSharingNotOwner(datasetId, memberId);
        if (r.status != RequestStatus.Pending) revert DataSharingInvalidStatus(requestId, r.status);
        _checkNarrowing(requestId, r, fields, validUntil, maxAccesses);

        uint256 supervisor;
        if (d.classification == Classification.Personal) {
            supervisor = d.supervisorMemberId;
            if (supervisor == 0) revert DataSharingNoSupervisor(datasetId);
            r.status = RequestStatus.AwaitingSupervisor;
            r.supervisorMemberId = supervisor;
        } else {
            r.status = RequestStatus.Granted;
        }
        r.validUntil = validUntil;
        r.maxAccesses = maxAccesses;
        _copyFields(r.fields, fields);
        emit RequestApproved(requestId, datasetId, memberId, fields, validUntil, maxAccesses, supervisor);
    }

    /**
     * @notice Gives the supervisor's second approval to a personal-class request.
     * @dev Callable, on a request in AwaitingSupervisor ({DataSharingInvalidStatus}), by an account of
     * the supervisor fixed into it at the owner's approval ({DataSharingNotSupervisor}). The grant
     * becomes Granted.
     *
     * Emits {SupervisorApproved}.
     */
    function supervisorApprove(uint256 requestId) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(requestId);
        if (r.status != RequestStatus.AwaitingSupervisor) revert DataSharingInvalidStatus(requestId, r.status);
        if (memberId != r.supervisorMemberId) revert DataSharingNotSupervisor(requestId, memberId);

        r.status = RequestStatus.Granted;
        emit SupervisorApproved(requestId, r.signed.datasetId, memberId);
    }

    /**
     * @notice Rejects a request with a reason.
     * @dev A Pending request is rejected by an account of the dataset's owner
     * ({DataSharingNotOwner}); a request in AwaitingSupervisor by an account of its supervisor
     * ({DataSharingNotSupervisor}). Any other status: {DataSharingInvalidStatus}. `reason` must not
     * be empty. (An owner that changes its mind after approving uses {revoke}.)
     *
     * Emits {RequestRejected} with the rejecting member.
     */
    function reject(uint256 requestId, string calldata reason) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(requestId);
        uint256 datasetId = r.signed.datasetId;
        if (r.status == RequestStatus.Pending) {
            if (memberId != _datasets[datasetId].ownerMemberId) revert DataSharingNotOwner(datasetId, memberId);
        } else if (r.status == RequestStatus.AwaitingSupervisor) {
            if (memberId != r.supervisorMemberId) revert DataSharingNotSupervisor(requestId, memberId);
        } else {
            revert DataSharingInvalidStatus(requestId, r.status);
        }
        _requireText(reason, "reason");

        r.status = RequestStatus.Rejected;
        emit RequestRejected(requestId, datasetId, memberId, reason);
    }

    // ------------------------------------------------------------------------------------------
    // Grants
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Records the encrypted payload of a grant: IPFS CID, hash of the ciphertext, and a
     * commitment to the plaintext.
     * @dev Callable by an account of the dataset's owner ({DataSharingNotOwner}), once per grant
     * ({DataSharingAlreadyDelivered}), on a Granted grant ({DataSharingInvalidStatus}) whose window
     * has not ended ({DataSharingGrantExpired}). `cid` must not be empty. The payload is encrypted to
     * the requester's registered key off chain; a wrong delivery is answered by revoking the grant.
     *
     * Emits {PayloadDelivered}.
     */
    function deliver(
        uint256 grantId,
        string calldata cid,
        bytes32 ciphertextHash,
        bytes32 plaintextCommitment
    ) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(grantId);
        uint256 datasetId = r.signed.datasetId;
        if (memberId != _datasets[datasetId].ownerMemberId) revert DataSharingNotOwner(datasetId, memberId);
        if (r.status != RequestStatus.Granted) revert DataSharingInvalidStatus(grantId, r.status);
        if (r.deliveredAt != 0) revert DataSharingAlreadyDelivered(grantId);
        if (block.timestamp > r.validUntil) revert DataSharingGrantExpired(grantId, r.validUntil, block.timestamp);
        _requireText(cid, "cid");

        r.deliveredAt = SafeCast.toUint64(block.timestamp);
        r.cid = cid;
        r.ciphertextHash = ciphertextHash;
        r.plaintextCommitment = plaintextCommitment;
        emit PayloadDelivered(grantId, datasetId, memberId, cid, ciphertextHash, plaintextCommitment);
    }

    /**
     * @notice Records one access to a grant's payload; the gateway releases the ciphertext only
     * after this transaction is sealed. Returns the number of accesses so far, this one included.
     * @dev Callable by an account of the requesting member ({DataSharingNotRequester}), with a
     * non-empty `reason`. Succeeds only while {grantState} is Active; otherwise reverts with
     * {DataSharingGrantNotApproved} (Pending, AwaitingSupervisor, Rejected),
     * {DataSharingGrantRevoked}, {DataSharingGrantNotYetValid}, {DataSharingGrantExpired},
     * {DataSharingAccessCapReached} or {DataSharingNotDelivered}, checked in that order.
     *
     * Emits {AccessRecorded}.
     */
    function recordAccess(uint256 grantId, string calldata reason) external returns (uint256 accessCount) {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(grantId);
        if (memberId != r.requesterMemberId) revert DataSharingNotRequester(grantId, memberId);
        _requireText(reason, "reason");
        GrantState state = _grantState(r);
        if (state != GrantState.Active) _revertAccess(grantId, r, state);

        uint32 count = ++r.accessCount;
        emit AccessRecorded(grantId, r.signed.datasetId, memberId, msg.sender, count, reason);
        return count;
    }

    /**
     * @notice Logs that the gateway refused an access to a grant's payload, with its reason.
     * @dev Callable by an account of the requesting member or of the dataset's owner
     * ({DataSharingNotParty}) on any existing request, with a non-empty `reason`. Changes no grant
     * state; the event carries the {grantState} at this block so an auditor can tell a refusal the
     * chain agrees with from one made for reasons off chain.
     *
     * Emits {AccessRefused}.
     */
    function recordRefusal(uint256 grantId, string calldata reason) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(grantId);
        uint256 datasetId = r.signed.datasetId;
        if (memberId != r.requesterMemberId && memberId != _datasets[datasetId].ownerMemberId) {
            revert DataSharingNotParty(grantId, memberId);
        }
        _requireText(reason, "reason");
        emit AccessRefused(grantId, datasetId, memberId, msg.sender, _grantState(r), reason);
    }

    /**
     * @notice Revokes a grant; no access is recorded after this.
     * @dev Callable by an account of the dataset's owner ({DataSharingNotOwner}) on a grant that is
     * AwaitingSupervisor or Granted ({DataSharingInvalidStatus}), with a non-empty `reason`.
     *
     * Emits {GrantRevoked}.
     */
    function revoke(uint256 grantId, string calldata reason) external {
        (uint256 memberId, ) = _activeMember(msg.sender);
        Request storage r = _existingRequest(grantId);
        uint256 datasetId = r.signed.datasetId;
        if (memberId != _datasets[datasetId].ownerMemberId) revert DataSharingNotOwner(datasetId, memberId);
        if (r.status != RequestStatus.Granted && r.status != RequestStatus.AwaitingSupervisor) {
            revert DataSharingInvalidStatus(grantId, r.status);
        }
        _requireText(reason, "reason");

        r.status = RequestStatus.Revoked;
        emit GrantRevoked(grantId, datasetId, memberId, reason);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The {MemberRegistry} this contract reads membership from. Anyone may call.
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @notice Number of datasets; ids are 1..datasetCount(). Anyone may call.
    function datasetCount() external view returns (uint256) {
        return _datasetCount;
    }

    /// @notice Number of requests (and grants); ids are 1..requestCount(). Anyone may call.
    function requestCount() external view returns (uint256) {
        return _requestCount;
    }

    /// @notice Dataset `datasetId` ({DataSharingUnknownDataset} if none). Anyone may call.
    function getDataset(uint256 datasetId) external view returns (DatasetView memory) {
        Dataset storage d = _existingDataset(datasetId);
        return
            DatasetView({
                id: datasetId,
                ownerMemberId: d.ownerMemberId,
                classification: d.classification,
                supervisorMemberId: d.supervisorMemberId,
                title: d.title,
                schemaCid: d.schemaCid
            });
    }

    /// @notice Request `requestId` as signed and submitted ({DataSharingUnknownRequest} if none).
    /// Anyone may call.
    function getRequest(uint256 requestId) external view returns (RequestView memory) {
        Request storage r = _existingRequest(requestId);
        return
            RequestView({
                id: requestId,
                request: r.signed,
                requesterMemberId: r.requesterMemberId,
                relayer: r.relayer,
                submittedAt: r.submittedAt,
                digest: r.digest,
                signature: r.signature,
                status: r.status
            });
    }

    /// @notice Grant `grantId`: terms in force, state at this block, access count and delivery
    /// ({DataSharingUnknownRequest} if none). Before approval the terms are zero. Anyone may call.
    function getGrant(uint256 grantId) external view returns (GrantView memory g) {
        Request storage r = _existingRequest(grantId);
        uint256 datasetId = r.signed.datasetId;
        g.id = grantId;
        g.datasetId = datasetId;
        g.status = r.status;
        g.state = _grantState(r);
        g.ownerMemberId = _datasets[datasetId].ownerMemberId;
        g.requesterMemberId = r.requesterMemberId;
        g.supervisorMemberId = r.supervisorMemberId;
        g.fields = r.fields;
        g.validFrom = r.signed.validFrom;
        g.validUntil = r.validUntil;
        g.maxAccesses = r.maxAccesses;
        g.accessCount = r.accessCount;
        g.cid = r.cid;
        g.ciphertextHash = r.ciphertextHash;
        g.plaintextCommitment = r.plaintextCommitment;
        g.deliveredAt = r.deliveredAt;
    }

    /// @notice Whether {recordAccess} on `grantId` would succeed at this block (Active), and if not
    /// why; None for an unknown id. Anyone may call.
    function grantState(uint256 grantId) external view returns (GrantState) {
        if (grantId == 0 || grantId > _requestCount) return GrantState.None;
        return _grantState(_requests[grantId]);
    }

    /// @notice The EIP-712 digest of `req` under this contract's domain: what the requester signs.
    /// Anyone may call.
    function hashShareRequest(ShareRequest calldata req) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(req, _hashFields(req.fields)));
    }

    /// @notice Whether `requester` has already used `nonce`. Anyone may call.
    function nonceUsed(address requester, uint256 nonce) external view returns (bool) {
        return _nonceUsed[requester][nonce];
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev The member `account` belongs to and its kind, as of this block; reverts unless Active.
    function _activeMember(address account) private view returns (uint256 memberId, MemberRegistry.MemberKind kind) {
        bool active;
        (memberId, kind, active) = _registry.activeMemberAt(account, SafeCast.toUint48(block.number));
        if (!active) revert DataSharingNotActive(account);
    }

    function _canSupervise(uint256 candidate, uint256 owner) private view returns (bool) {
        if (candidate == 0 || candidate == owner || candidate > _registry.memberCount()) return false;
        MemberRegistry.MemberView memory m = _registry.getMember(candidate);
        return
            m.status == MemberRegistry.Status.Active &&
            (m.kind == MemberRegistry.MemberKind.Department || m.kind == MemberRegistry.MemberKind.Regulator);
    }

    function _existingDataset(uint256 datasetId) private view returns (Dataset storage d) {
        if (datasetId == 0 || datasetId > _datasetCount) revert DataSharingUnknownDataset(datasetId);
        return _datasets[datasetId];
    }

    function _existingRequest(uint256 requestId) private view returns (Request storage r) {
        if (requestId == 0 || requestId > _requestCount) revert DataSharingUnknownRequest(requestId);
        return _requests[requestId];
    }

    /// @dev `to = from`, member by member: the legacy code generator cannot copy nested calldata
    /// arrays (`string[]`) to storage in one assignment.
    function _storeRequest(ShareRequest storage to, ShareRequest calldata from) private {
        to.datasetId = from.datasetId;
        to.requester = from.requester;
        to.purpose = from.purpose;
        to.legalBasis = from.legalBasis;
        _copyFields(to.fields, from.fields);
        to.subjectCommitment = from.subjectCommitment;
        to.validFrom = from.validFrom;
        to.validUntil = from.validUntil;
        to.maxAccesses = from.maxAccesses;
        to.nonce = from.nonce;
    }

    /// @dev Appends `from` to the empty storage array `to`.
    function _copyFields(string[] storage to, string[] calldata from) private {
        for (uint256 i = 0; i < from.length; ++i) {
            to.push(from[i]);
        }
    }

    function _requireText(string calldata text, string memory name) private pure {
        if (bytes(text).length == 0) revert DataSharingEmptyText(name);
    }

    /// @dev EIP-712 `hashStruct(ShareRequest)`. Strings are hashed; `string[]` is the hash of the
    /// concatenated element hashes. Encoded in two halves to stay within the stack limit; the result
    /// is the same bytes as one `abi.encode` of all eleven words.
    function _structHash(ShareRequest calldata req, bytes32[] memory fieldHashes) private pure returns (bytes32) {
        return
            keccak256(
                bytes.concat(
                    abi.encode(
                        SHARE_REQUEST_TYPEHASH,
                        req.datasetId,
                        req.requester,
                        keccak256(bytes(req.purpose)),
                        keccak256(bytes(req.legalBasis)),
                        keccak256(abi.encodePacked(fieldHashes))
                    ),
                    abi.encode(req.subjectCommitment, req.validFrom, req.validUntil, req.maxAccesses, req.nonce)
                )
            );
    }

    function _hashFields(string[] calldata fields) private pure returns (bytes32[] memory hashes) {
        hashes = new bytes32[](fields.length);
        for (uint256 i = 0; i < fields.length; ++i) {
            hashes[i] = keccak256(bytes(fields[i]));
        }
    }

    /// @dev 1..MAX_FIELDS distinct, non-empty names.
    function _checkFields(string[] calldata fields, bytes32[] memory hashes) private pure {
        if (fields.length == 0 || fields.length > MAX_FIELDS) {
            revert DataSharingInvalidFieldCount(fields.length, MAX_FIELDS);
        }
        for (uint256 i = 0; i < hashes.length; ++i) {
            _requireText(fields[i], "field");
            for (uint256 j = 0; j < i; ++j) {
                if (hashes[j] == hashes[i]) revert DataSharingDuplicateField(fields[i]);
            }
        }
    }

    function _checkWindow(uint64 validFrom, uint64 validUntil) private view {
        if (validFrom >= validUntil || validUntil < block.timestamp) {
            revert DataSharingInvalidWindow(validFrom, validUntil, block.timestamp);
        }
    }

    function _checkRequest(ShareRequest calldata req, bytes32[] memory fieldHashes) private view {
        _requireText(req.purpose, "purpose");
        _requireText(req.legalBasis, "legalBasis");
        _checkFields(req.fields, fieldHashes);
        _checkWindow(req.validFrom, req.validUntil);
        if (req.maxAccesses == 0) revert DataSharingInvalidMaxAccesses(req.maxAccesses);
    }

    function _checkNarrowing(
        uint256 requestId,
        Request storage r,
        string[] calldata fields,
        uint64 validUntil,
        uint32 maxAccesses
    ) private view {
        bytes32[] memory offered = _hashFields(fields);
        _checkFields(fields, offered);
        string[] storage requested = r.signed.fields;
        uint256 n = requested.length;
        bytes32[] memory allowed = new bytes32[](n);
        for (uint256 j = 0; j < n; ++j) {
            allowed[j] = keccak256(bytes(requested[j]));
        }
        for (uint256 i = 0; i < offered.length; ++i) {
            bool found = false;
            for (uint256 j = 0; j < n && !found; ++j) {
                found = allowed[j] == offered[i];
            }
            if (!found) revert DataSharingFieldNotRequested(requestId, fields[i]);
        }
        if (validUntil > r.signed.validUntil) {
            revert DataSharingValidityExtended(requestId, r.signed.validUntil, validUntil);
        }
        _checkWindow(r.signed.validFrom, validUntil);
        if (maxAccesses > r.signed.maxAccesses) revert DataSharingCapRaised(requestId, r.signed.maxAccesses, maxAccesses);
        if (maxAccesses == 0) revert DataSharingInvalidMaxAccesses(maxAccesses);
    }

    /// @dev The order of checks here is the order of {recordAccess}'s errors.
    function _grantState(Request storage r) private view returns (GrantState) {
        RequestStatus status = r.status;
        if (status == RequestStatus.Pending) return GrantState.Pending;
        if (status == RequestStatus.AwaitingSupervisor) return GrantState.AwaitingSupervisor;
        if (status == RequestStatus.Rejected) return GrantState.Rejected;
        if (status == RequestStatus.Revoked) return GrantState.Revoked;
        if (block.timestamp < r.signed.validFrom) return GrantState.NotYetValid;
        if (block.timestamp > r.validUntil) return GrantState.Expired;
        if (r.accessCount >= r.maxAccesses) return GrantState.CapReached;
        if (r.deliveredAt == 0) return GrantState.Undelivered;
        return GrantState.Active;
    }

    function _revertAccess(uint256 grantId, Request storage r, GrantState state) private view {
        if (state == GrantState.Revoked) revert DataSharingGrantRevoked(grantId);
        if (state == GrantState.NotYetValid) {
            revert DataSharingGrantNotYetValid(grantId, r.signed.validFrom, block.timestamp);
        }
        if (state == GrantState.Expired) revert DataSharingGrantExpired(grantId, r.validUntil, block.timestamp);
        if (state == GrantState.CapReached) revert DataSharingAccessCapReached(grantId, r.maxAccesses);
        if (state == GrantState.Undelivered) revert DataSharingNotDelivered(grantId);
        revert DataSharingGrantNotApproved(grantId, r.status); // Pending, AwaitingSupervisor, Rejected
    }
}
