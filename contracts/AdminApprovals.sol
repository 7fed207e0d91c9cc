// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/**
 * @title AdminApprovals
 * @notice M-of-N approval by the consortium's admins, written once for every contract that needs
 * it ({MemberRegistry} for its own governance, {DataSharing} for supervisor assignments, {Credit}
 * for issuer authorisation and for corrections of a gone issuer's entries).
 *
 * A proposal is an action number and an ABI-encoded payload; each contract documents its actions
 * and their payloads. It executes in the transaction whose approval brings the number of approving
 * admin **members** to the threshold. Approvals are counted per member, not per account: a member
 * holding two admin accounts approves once ({AdminApprovalsAlreadyApproved} names the member).
 *
 * Who is an admin, the threshold and the admin epoch come from {_adminSeat}; for every contract
 * they are the registry's admin set, threshold and epoch, so the same admins govern everything. A
 * proposal belongs to the admin epoch it was created in: once the admin set changes (which starts
 * a new epoch), older proposals can no longer be approved ({AdminApprovalsStaleProposal}), so
 * approvals given under a removed admin set never count.
 *
 * Events, in the order one transaction emits them: {ProposalCreated} (propose only), then
 * {ProposalApproved}; when the threshold is reached, the action's own events, then
 * {ProposalExecuted}. If the action reverts, the whole transaction reverts and the approval is not
 * recorded.
 */
abstract contract AdminApprovals {
    /// @dev A proposal, as stored and as returned by {getProposal}. `createdAt` is a block number,
    /// `epoch` the admin epoch it belongs to, `approvals` the number of admin members that approved
    /// it (the proposer's member included).
    struct Proposal {
        address proposer;
        uint48 createdAt;
        uint8 action;
        bool executed;
        uint32 approvals;
        uint64 epoch;
        uint256 proposerMemberId;
        bytes payload;
    }

    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => mapping(uint256 memberId => bool)) private _approvedBy;
    uint256 private _proposalCount;

    /// @dev Admin account `proposer` of member `proposerMemberId` proposed `action` with `payload`
    /// in admin epoch `epoch`.
    event ProposalCreated(
        uint256 indexed proposalId,
        uint8 indexed action,
        uint256 indexed proposerMemberId,
        address proposer,
        uint64 epoch,
        bytes payload
    );
    /// @dev Admin member `approverMemberId` approved through its account `approver`; the proposal
    /// now has `approvals` of the `threshold` approvals it needs.
    event ProposalApproved(
        uint256 indexed proposalId,
        uint256 indexed approverMemberId,
        address indexed approver,
        uint256 approvals,
        uint256 threshold
    );
    /// @dev The proposal reached its threshold; the action's own events precede this one.
    event ProposalExecuted(uint256 indexed proposalId, uint8 indexed action);

    /// @dev `account` is not in the admin set.
    error AdminApprovalsNotAdmin(address account);
    /// @dev No proposal has id `proposalId`.
    error AdminApprovalsUnknownProposal(uint256 proposalId);
    /// @dev The proposal has already executed.
    error AdminApprovalsAlreadyExecuted(uint256 proposalId);
    /// @dev The proposal was created in admin epoch `proposalEpoch`; the admin set has changed since.
    error AdminApprovalsStaleProposal(uint256 proposalId, uint64 proposalEpoch, uint64 currentEpoch);
    /// @dev Admin member `memberId` has already approved the proposal (through any of its accounts).
    error AdminApprovalsAlreadyApproved(uint256 proposalId, uint256 memberId);

    /**
     * @notice Proposes `action` with `payload`; the proposer's member approves it at once.
     * @dev Callable by admin accounts only ({AdminApprovalsNotAdmin}). The contract checks the action
     * and, where it says so, the payload before anything is stored. If the threshold is 1 the
     * proposal executes in this call.
     *
     * Emits {ProposalCreated} and {ProposalApproved}; on execution, the action's events followed by
     * {ProposalExecuted}.
     */
    function propose(uint8 action, bytes calldata payload) external returns (uint256 proposalId) {
        (uint256 memberId, uint256 threshold, uint64 epoch) = _requireAdmin(msg.sender);
        _checkProposal(action, payload);
        proposalId = ++_proposalCount;
        Proposal storage p = _proposals[proposalId];
        p.proposer = msg.sender;
        p.createdAt = SafeCast.toUint48(block.number);
        p.action = action;
        p.epoch = epoch;
        p.proposerMemberId = memberId;
        p.payload = payload;
        emit ProposalCreated(proposalId, action, memberId, msg.sender, epoch, payload);
        _approve(proposalId, p, memberId, threshold);
    }

    /**
     * @notice Approves a pending proposal; executes it when the approving members reach the threshold.
     * @dev Callable by admin accounts only ({AdminApprovalsNotAdmin}), once per admin member
     * ({AdminApprovalsAlreadyApproved}), on a proposal that exists ({AdminApprovalsUnknownProposal}),
     * has not executed ({AdminApprovalsAlreadyExecuted}) and belongs to the current admin epoch
     * ({AdminApprovalsStaleProposal}). If execution reverts the whole call reverts and the approval
     * is not recorded.
     *
     * Emits {ProposalApproved}; on execution, the action's events followed by {ProposalExecuted}.
     */
    function approveProposal(uint256 proposalId) external {
        (uint256 memberId, uint256 threshold, uint64 epoch) = _requireAdmin(msg.sender);
        Proposal storage p = _existingProposal(proposalId);
        if (p.executed) revert AdminApprovalsAlreadyExecuted(proposalId);
        if (p.epoch != epoch) revert AdminApprovalsStaleProposal(proposalId, p.epoch, epoch);
        _approve(proposalId, p, memberId, threshold);
    }

    /// @notice Proposal `proposalId` ({AdminApprovalsUnknownProposal} if there is none). Anyone may call.
    function getProposal(uint256 proposalId) external view returns (Proposal memory) {
        return _existingProposal(proposalId);
    }

    /// @notice Number of proposals ever created; ids are 1..proposalCount(). Anyone may call.
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @notice Whether admin member `memberId` has approved proposal `proposalId`. Anyone may call.
    function hasApproved(uint256 proposalId, uint256 memberId) external view returns (bool) {
        return _approvedBy[proposalId][memberId];
    }

    /**
     * @dev The admin seat of `account`: its member id (0 when `account` is not an admin account), the
     * number of approving members a proposal needs, and the current admin epoch.
     */
    function _adminSeat(address account) internal view virtual returns (uint256 memberId, uint256 threshold, uint64 epoch);

    /// @dev Checks `action` and `payload` when proposed; reverts with the contract's own error.
    function _checkProposal(uint8 action, bytes calldata payload) internal view virtual;

    /// @dev Carries out an approved proposal and emits the action's events.
    function _executeProposal(uint256 proposalId, uint8 action, bytes memory payload) internal virtual;

    function _requireAdmin(address account) private view returns (uint256 memberId, uint256 threshold, uint64 epoch) {
        (memberId, threshold, epoch) = _adminSeat(account);
        if (memberId == 0) revert AdminApprovalsNotAdmin(account);
    }

    function _existingProposal(uint256 proposalId) private view returns (Proposal storage p) {
        p = _proposals[proposalId];
        if (p.proposer == address(0)) revert AdminApprovalsUnknownProposal(proposalId);
    }

    function _approve(uint256 proposalId, Proposal storage p, uint256 memberId, uint256 threshold) private {
        if (_approvedBy[proposalId][memberId]) revert AdminApprovalsAlreadyApproved(proposalId, memberId);
        _approvedBy[proposalId][memberId] = true;
        uint32 approvals = ++p.approvals;
        emit ProposalApproved(proposalId, memberId, msg.sender, approvals, threshold);
        if (approvals >= threshold) {
            p.executed = true;
            uint8 action = p.action;
            _executeProposal(proposalId, action, p.payload);
            emit ProposalExecuted(proposalId, action);
        }
    }
}
