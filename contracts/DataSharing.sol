// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AdminApprovals} from "./AdminApprovals.sol";
import {MemberGated} from "./MemberGated.sol";
import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title DataSharing
 * @notice Dataset entries, signed share requests, grants, encrypted deliveries and the access log
 * (PRODUCT.md, "Data sharing").
 *
 * Who may do what. Every state-changing function acts for the member whose account sent it, as the
 * {MemberRegistry} records it *at this block* ({MemberGated}; {MemberGated.MemberGatedNotActive}
 * otherwise), so a suspension takes effect from the transaction after it.
 *
 * - A dataset is registered by an account of a **Department** member, which becomes its owner
 *   (the product gives the job "publish dataset entries" to department data officers only).
 * - A share request is signed off-chain by the requester as EIP-712 typed data and may be relayed
 *   by any active account; the signature must recover to `requester`, an active member account.
 *   Until it is submitted, the requester may cancel its nonce ({cancelNonce}), which makes the
 *   signed request unusable; once submitted and not yet decided, the requesting member may withdraw
 *   it ({withdrawRequest}).
 * - The dataset owner approves (narrowing only) or rejects a pending request; it delivers the
 *   payload and may revoke the grant. "Owner" means any active account of the owning member.
 * - Supervision of personal data. A Personal dataset needs a supervisor, whose second approval
 *   every grant of it needs. The supervisor is **assigned by M-of-N approval of the registry's
 *   admins** ({AdminApprovals}, action {Action.AssignSupervisor}), never by the owner alone, because
 *   the second approval exists so that owner and requester cannot decide alone. It must be another
 *   Active member of kind Department or Regulator, never the owner. The supervisor in place when the
 *   owner approves is fixed into that request, and that approval is refused when the supervisor is
 *   the requester ({DataSharingSupervisorIsParty}); only the fixed supervisor can then give the
 *   second approval (or reject), and never when it is the requester or the owner.
 * - Accesses are recorded by an account of the requesting member (its own key, or a gateway key
 *   the registry lists as an account of that member).
 *
 * Governance actions (proposal payload is `abi.encode` of these types):
 *
 * | Action           | payload                                          |
 * |------------------|--------------------------------------------------|
 * | AssignSupervisor | (uint256 datasetId, uint256 supervisorMemberId)  |
 *
 * The payload is checked when proposed and again when the proposal executes.
 *
 * Ids. A request keeps its id when it is approved: `grantId == requestId`.
 *
 * EIP-712. Domain `{name: "CityLedger DataSharing", version: "1", chainId, verifyingContract}`;
 * primary type
 * `ShareRequest(uint256 datasetId,address requester,string purpose,string legalBasis,string[] fields,bytes32 subjectCommitment,uint64 validFrom,uint64 validUntil,uint32 maxAccesses,uint256 nonce)`.
 * `fields` are column names of the dataset's schema document (`schemaCid`), so both the signer and
 * a later reader of the evidence see what was asked for, and the contract can check that an
 * approval only narrows. `subjectCommitment` is a salted hash of the subject list, never the list.
 * Nonces are unordered: each `(requester, nonce)` can be submitted (or cancelled) once.
 *
 * Events. Every record can be rebuilt from the logs alone: {RequestSubmitted} carries the signed
 * request and its signature, every step carries the acting member and the account it used.
 *
 * Time. A grant is usable while `validFrom <= block.timestamp <= validUntil`.
 */
contract DataSharing is EIP712, MemberGated, AdminApprovals {
    /// @dev Governance actions; see the table in the contract documentation.
    enum Action {
        AssignSupervisor
    }

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
        Revoked,
        Withdrawn // withdrawn by its requester before a decision
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
        Active,
        Withdrawn
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

    mapping(uint256 datasetId => Dataset) private _datasets;
    uint256 private _datasetCount;
    mapping(uint256 requestId => Request) private _requests;
    uint256 private _requestCount;
    mapping(address requester => mapping(uint256 nonce => bool)) private _nonceUsed;

    /// @dev Member `ownerMemberId` registered dataset `datasetId` through `account`.
    event DatasetRegistered(
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        address account,
        string title,
        Classification classification,
        string schemaCid
    );
    /// @dev Governance proposal `proposalId` made `supervisorMemberId` the supervisor of dataset
    /// `datasetId`, replacing `previousSupervisorMemberId` (0 if none).
    event SupervisorAssigned(
        uint256 indexed datasetId,
        uint256 indexed supervisorMemberId,
        uint256 indexed proposalId,
        uint256 previousSupervisorMemberId
    );
    /// @dev `relayer` submitted `request`, signed by `request.requester` (an account of member
    /// `requesterMemberId`) with `signature` over the EIP-712 `digest`.
    event RequestSubmitted(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed requesterMemberId,
        address relayer,
        bytes32 digest,
        ShareRequest request,
        bytes signature
    );
    /// @dev `requester` (an account of member `requesterMemberId`) cancelled `nonce`: no request
    /// signed with it can be submitted.
    event NonceCancelled(address indexed requester, uint256 indexed nonce, uint256 indexed requesterMemberId);
    /// @dev The owner approved the request with these terms; `status` is Granted, or
    /// AwaitingSupervisor with the supervisor `supervisorMemberId` fixed into it.
    event RequestApproved(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        address account,
        string[] fields,
        uint64 validUntil,
        uint32 maxAccesses,
        uint256 supervisorMemberId,
        RequestStatus status
    );
    /// @dev The supervisor gave its second approval; the grant is Granted.
    event SupervisorApproved(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed supervisorMemberId,
        address account
    );
    /// @dev Member `memberId` (the owner, or the supervisor) rejected the request.
    event RequestRejected(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed memberId,
        address account,
        string reason
    );
    /// @dev The requesting member withdrew its undecided request.
    event RequestWithdrawn(
        uint256 indexed requestId,
        uint256 indexed datasetId,
        uint256 indexed requesterMemberId,
        address account,
        string reason
    );
    /// @dev The owner recorded the encrypted payload of grant `grantId`.
    event PayloadDelivered(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        address account,
        string cid,
        bytes32 ciphertextHash,
        bytes32 plaintextCommitment
    );
    /// @dev The requesting member recorded access number `accessCount` to grant `grantId`.
    event AccessRecorded(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed memberId,
        address account,
        uint32 accessCount,
        string reason
    );
    /// @dev A party of the grant logged a refused access; `state` is the grant state at that block.
    event AccessRefused(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed memberId,
        address account,
        GrantState state,
        string reason
    );
    /// @dev The owner revoked grant `grantId`.
    event GrantRevoked(
        uint256 indexed grantId,
        uint256 indexed datasetId,
        uint256 indexed ownerMemberId,
        address account,
        string reason
    );

    /// @dev `action` is not an {Action} value.
    error DataSharingUnknownAction(uint8 action);
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
    /// @dev Supervisor `supervisorMemberId` of request `requestId` is also its requester or the
    /// dataset's owner, so its approval would not be a second opinion.
    error DataSharingSupervisorIsParty(uint256 requestId, uint256 supervisorMemberId);
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
    /// @dev `requester` has already submitted, or cancelled, a request with `nonce`.
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
    constructor(MemberRegistry registry_) EIP712("CityLedger DataSharing", "1") MemberGated(registry_) {}

    // ------------------------------------------------------------------------------------------
    // Datasets
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Registers a dataset entry owned by the caller's member.
     * @dev Callable by an account of an Active Department member ({MemberGatedNotActive},
     * {MemberGatedUnauthorizedKind}). `classification` is a {Classification} value; `title` and
     * `schemaCid` (the schema document on IPFS) must not be empty. Entries are immutable.
     *
     * Emits {DatasetRegistered}.
     */
    function registerDataset(
        string calldata title,
        uint8 classification,
        string calldata schemaCid
    ) external returns (uint256 datasetId) {
        uint256 memberId = _actorOfKind(_kind(MemberRegistry.MemberKind.Department));
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

    // ------------------------------------------------------------------------------------------
    // Requests
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Records a share request signed by `req.requester` (EIP-712, see the contract notes).
     * @dev Callable by any Active member account (the relayer; it may be the requester itself).
     * Refused unless the signature recovers to `req.requester` ({DataSharingInvalidSignature}: any
     * change to any field after signing lands here), the requester is an Active member account
     * ({MemberGatedNotActive}), the dataset exists, the nonce is neither used nor cancelled
     * ({DataSharingNonceUsed}),
     * `purpose` and `legalBasis` are not empty, `fields` holds 1..64 distinct non-empty names, the
     * window is non-empty and not over, and `maxAccesses` is at least 1. The request, its EIP-712
     * digest and the signature are stored, and carried by the event, so the request can be
     * re-verified from state or from the log alone.
     *
     * Emits {RequestSubmitted}.
     */
    function submitRequest(ShareRequest calldata req, bytes calldata signature) external returns (uint256 requestId) {
        _actor();
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
        emit RequestSubmitted(requestId, req.datasetId, requesterMemberId, msg.sender, digest, req, signature);
    }

    /**
     * @notice Cancels `nonce` of the caller: a request it signed with that nonce can no longer be
     * submitted by anyone.
     * @dev Callable by the requester account itself (nonces belong to the signing key), while it is
     * an account of an Active member ({MemberGatedNotActive}), for a nonce not yet used or cancelled
     * ({DataSharingNonceUsed}). A request already submitted is withdrawn with {withdrawRequest}.
     *
     * Emits {NonceCancelled}.
     */
    function cancelNonce(uint256 nonce) external {
        (uint256 memberId, ) = _actor();
        if (_nonceUsed[msg.sender][nonce]) revert DataSharingNonceUsed(msg.sender, nonce);
        _nonceUsed[msg.sender][nonce] = true;
        emit NonceCancelled(msg.sender, nonce, memberId);
    }

    /**
     * @notice Withdraws a request that has not been decided: Pending, or approved by the owner and
     * AwaitingSupervisor. The grant never becomes active.
     * @dev Callable by an account of the requesting member ({DataSharingNotRequester}) with a
     * non-empty `reason`; any other status is {DataSharingInvalidStatus}.
     *
     * Emits {RequestWithdrawn}.
     */
    function withdrawRequest(uint256 requestId, string calldata reason) external {
        (uint256 memberId, ) = _actor();
        Request storage r = _existingRequest(requestId);
        if (memberId != r.requesterMemberId) revert DataSharingNotRequester(requestId, memberId);
        if (r.status != RequestStatus.Pending && r.status != RequestStatus.AwaitingSupervisor) {
            revert DataSharingInvalidStatus(requestId, r.status);
        }
        _requireText(reason, "reason");

        r.status = RequestStatus.Withdrawn;
        emit RequestWithdrawn(requestId, r.signed.datasetId, memberId, msg.sender, reason);
    }

    /**
     * @notice Approves a pending request, possibly narrowed: a subset of the requested fields, an
     * end no later than requested, a cap no higher than requested.
     * @dev Callable by an account of the dataset's owner ({DataSharingNotOwner}) on a Pending request
     * ({DataSharingInvalidStatus}). Widening is refused ({DataSharingFieldNotRequested},
     * {DataSharingValidityExtended}, {DataSharingCapRaised}); so are an empty or repeating field
     * list, a window that is empty or already over, and a zero cap. For a Personal dataset the
     * grant waits for the supervisor assigned now ({DataSharingNoSupervisor} if there is none),
     * which is fixed into the request; the approval is refused when that supervisor is the
     * requester ({DataSharingSupervisorIsParty}), since the assignment may predate the request.
     * Otherwise the grant is Granted at once.
     *
     * Emits {RequestApproved} (`supervisorMemberId` is 0 when no second approval is needed).
     */
    function approve(
        uint256 requestId,
        string[] calldata fields,
        uint64 validUntil,
        uint32 maxAccesses
    ) external {
        (uint256 memberId, ) = _actor();
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
            if (supervisor == r.requesterMemberId || supervisor == memberId) {
                revert DataSharingSupervisorIsParty(requestId, supervisor);
            }
            r.status = RequestStatus.AwaitingSupervisor;
            r.supervisorMemberId = supervisor;
        } else {
            r.status = RequestStatus.Granted;
        }
        r.validUntil = validUntil;
        r.maxAccesses = maxAccesses;
        _copyFields(r.fields, fields);
        emit RequestApproved(requestId, datasetId, memberId, msg.sender, fields, validUntil, maxAccesses, supervisor, r.status);
    }

    /**
     * @notice Gives the supervisor's second approval to a personal-class request.
     * @dev Callable, on a request in AwaitingSupervisor ({DataSharingInvalidStatus}), by an account of
     * the supervisor fixed into it at the owner's approval ({DataSharingNotSupervisor}), which is
     * checked again, by member id, not to be the requester or the dataset's owner
     * ({DataSharingSupervisorIsParty}). The grant becomes Granted.
     *
     * Emits {SupervisorApproved}.
     */
    function supervisorApprove(uint256 requestId) external {
        (uint256 memberId, ) = _actor();
        Request storage r = _existingRequest(requestId);
        if (r.status != RequestStatus.AwaitingSupervisor) revert DataSharingInvalidStatus(requestId, r.status);
        if (memberId != r.supervisorMemberId) revert DataSharingNotSupervisor(requestId, memberId);
        uint256 datasetId = r.signed.datasetId;
        if (memberId == r.requesterMemberId || memberId == _datasets[datasetId].ownerMemberId) {
            revert DataSharingSupervisorIsParty(requestId, memberId);
        }

        r.status = RequestStatus.Granted;
        emit SupervisorApproved(requestId, datasetId, memberId, msg.sender);
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
        (uint256 memberId, ) = _actor();
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
        emit RequestRejected(requestId, datasetId, memberId, msg.sender, reason);
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
        (uint256 memberId, ) = _actor();
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
        emit PayloadDelivered(grantId, datasetId, memberId, msg.sender, cid, ciphertextHash, plaintextCommitment);
    }

    /**
     * @notice Records one access to a grant's payload; the gateway releases the ciphertext only
     * after this transaction is sealed. Returns the number of accesses so far, this one included.
     * @dev Callable by an account of the requesting member ({DataSharingNotRequester}), with a
     * non-empty `reason`. Succeeds only while {grantState} is Active; otherwise reverts with
     * {DataSharingGrantNotApproved} (Pending, AwaitingSupervisor, Rejected, Withdrawn),
     * {DataSharingGrantRevoked}, {DataSharingGrantNotYetValid}, {DataSharingGrantExpired},
     * {DataSharingAccessCapReached} or {DataSharingNotDelivered}, checked in that order.
     *
     * Emits {AccessRecorded}.
     */
    function recordAccess(uint256 grantId, string calldata reason) external returns (uint256 accessCount) {
        (uint256 memberId, ) = _actor();
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
        (uint256 memberId, ) = _actor();
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
        (uint256 memberId, ) = _actor();
        Request storage r = _existingRequest(grantId);
        uint256 datasetId = r.signed.datasetId;
        if (memberId != _datasets[datasetId].ownerMemberId) revert DataSharingNotOwner(datasetId, memberId);
        if (r.status != RequestStatus.Granted && r.status != RequestStatus.AwaitingSupervisor) {
            revert DataSharingInvalidStatus(grantId, r.status);
        }
        _requireText(reason, "reason");

        r.status = RequestStatus.Revoked;
        emit GrantRevoked(grantId, datasetId, memberId, msg.sender, reason);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

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

    // ------------------------------------------------------------------------------------------
    // Governance (AdminApprovals hooks): the registry's admins, threshold and epoch
    // ------------------------------------------------------------------------------------------

    function _adminSeat(
        address account
    ) internal view override returns (uint256 memberId, uint256 threshold, uint64 epoch) {
        return _registry().adminOf(account);
    }

    function _checkProposal(uint8 action, bytes calldata payload) internal view override {
        if (action > uint8(type(Action).max)) revert DataSharingUnknownAction(action);
        (uint256 datasetId, uint256 supervisorMemberId) = abi.decode(payload, (uint256, uint256));
        _checkSupervisor(datasetId, supervisorMemberId);
    }

    /**
     * @dev Action.AssignSupervisor: checked again (the candidate may have been suspended since the
     * proposal), then stored. Requests already approved by the owner keep the supervisor fixed into
     * them.
     */
    function _executeProposal(uint256 proposalId, uint8, bytes memory payload) internal override {
        (uint256 datasetId, uint256 supervisorMemberId) = abi.decode(payload, (uint256, uint256));
        Dataset storage d = _checkSupervisor(datasetId, supervisorMemberId);
        uint256 previous = d.supervisorMemberId;
        d.supervisorMemberId = supervisorMemberId;
        emit SupervisorAssigned(datasetId, supervisorMemberId, proposalId, previous);
    }

    /// @dev Dataset `datasetId` exists and is Personal; `candidate` is another Active Department or
    /// Regulator member than its owner.
    function _checkSupervisor(uint256 datasetId, uint256 candidate) private view returns (Dataset storage d) {
        d = _existingDataset(datasetId);
        if (d.classification != Classification.Personal) {
            revert DataSharingSupervisorNotNeeded(datasetId, d.classification);
        }
        (MemberRegistry.MemberKind kind, MemberRegistry.Status status) = _memberInfo(candidate);
        if (
            candidate == d.ownerMemberId ||
            status != MemberRegistry.Status.Active ||
            !_isKind(kind, _kind(MemberRegistry.MemberKind.Department) | _kind(MemberRegistry.MemberKind.Regulator))
        ) revert DataSharingInvalidSupervisor(datasetId, candidate);
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
        if (status == RequestStatus.Withdrawn) return GrantState.Withdrawn;
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
        revert DataSharingGrantNotApproved(grantId, r.status); // Pending, AwaitingSupervisor, Rejected, Withdrawn
    }
}
