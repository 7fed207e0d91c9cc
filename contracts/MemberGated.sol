// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MemberRegistry} from "./MemberRegistry.sol";

/**
 * @title MemberGated
 * @notice "Who is acting, and may they": the one place where {DataSharing}, {SupplyCustody} and
 * {Credit} decide which member a transaction acts for.
 *
 * The acting member is the member whose account sent the transaction, as the {MemberRegistry}'s
 * checkpointed history records it **at this block** (`activeMemberAt(msg.sender, block.number)`),
 * so permission follows membership at the block of each transaction: a suspension, key removal or
 * admission takes effect from the next transaction in the same block. A member acts through any of
 * its accounts; rights belong to the member (its id), never to one key.
 *
 * Kinds are checked against a bit set of {MemberRegistry.MemberKind} values (`1 << kind`), so a rule
 * such as "a Hospital or a Charity" is one comparison. Facts about other members (a receiver, a
 * supervisor, an issuer) come from {MemberRegistry.memberInfo}, which copies no account list.
 */
abstract contract MemberGated {
    MemberRegistry private immutable _REGISTRY;

    /// @dev The constructor was given an address without code as the registry.
    error MemberGatedInvalidRegistry(address registry);
    /// @dev `account` is not an account of an Active member at this block.
    error MemberGatedNotActive(address account);
    /// @dev Member `memberId`, of kind `kind`, may not do this.
    error MemberGatedUnauthorizedKind(uint256 memberId, MemberRegistry.MemberKind kind);

    /// @dev `registry_` is the consortium's {MemberRegistry}; it cannot be changed later.
    constructor(MemberRegistry registry_) {
        if (address(registry_).code.length == 0) revert MemberGatedInvalidRegistry(address(registry_));
        _REGISTRY = registry_;
    }

    /// @notice The {MemberRegistry} that decides who may act. Anyone may call.
    function registry() external view returns (MemberRegistry) {
        return _REGISTRY;
    }

    function _registry() internal view returns (MemberRegistry) {
        return _REGISTRY;
    }

    /// @dev The member `account` belongs to at this block, and its kind; reverts unless Active.
    function _activeMember(address account) internal view returns (uint256 memberId, MemberRegistry.MemberKind kind) {
        bool active;
        (memberId, kind, active) = _REGISTRY.activeMemberAt(account, SafeCast.toUint48(block.number));
        if (!active) revert MemberGatedNotActive(account);
    }

    /// @dev The member the sender acts for, and its kind; reverts unless it is Active at this block.
    function _actor() internal view returns (uint256 memberId, MemberRegistry.MemberKind kind) {
        return _activeMember(msg.sender);
    }

    /// @dev The member the sender acts for, which must be of one of the kinds in the bit set `kinds`.
    function _actorOfKind(uint256 kinds) internal view returns (uint256 memberId) {
        MemberRegistry.MemberKind kind;
        (memberId, kind) = _activeMember(msg.sender);
        if (!_isKind(kind, kinds)) revert MemberGatedUnauthorizedKind(memberId, kind);
    }

    /// @dev Kind and status of member `memberId` now (status None for an unknown id).
    function _memberInfo(uint256 memberId) internal view returns (MemberRegistry.MemberKind, MemberRegistry.Status) {
        return _REGISTRY.memberInfo(memberId);
    }

    /// @dev The one-kind bit set of `kind`; combine with `|`.
    function _kind(MemberRegistry.MemberKind kind) internal pure returns (uint256) {
        return 1 << uint8(kind);
    }

    function _isKind(MemberRegistry.MemberKind kind, uint256 kinds) internal pure returns (bool) {
        return (kinds >> uint8(kind)) & 1 == 1;
    }
}
