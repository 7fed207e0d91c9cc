// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AdminApprovals} from "./AdminApprovals.sol";

/**
 * @title MemberRegistry
 * @notice The consortium's members, their signing accounts and encryption keys, the sealer, witness
 * and admin sets, and the M-of-N governance that changes all of them.
 *
 * Every change after genesis is a proposal ({AdminApprovals}) that executes when `threshold()`
 * distinct admin **members** have approved it (the proposer's member counts; a member holding two
 * admin accounts counts once). A proposal carries an {Action} (as `uint8`) and an ABI-encoded
 * payload (`abi.encode(...)` of exactly these types), decoded only when the proposal executes:
 *
 * | Action          | payload                                                                      |
 * |-----------------|------------------------------------------------------------------------------|
 * | AdmitMember     | (string name, uint8 kind, uint8 level, address[] accounts, bytes32 encryptionKey) |
 * | SuspendMember   | (uint256 memberId, string reason)                                            |
 * | ReinstateMember | (uint256 memberId)                                                           |
 * | AddAccount      | (uint256 memberId, address account)                                          |
 * | RemoveAccount   | (uint256 memberId, address account)                                          |
 * | SetEncryptionKey| (uint256 memberId, bytes32 key)                                              |
 * | SetSealers      | (address[] sealers)                                                          |
 * | SetWitnesses    | (address[] witnesses)                                                        |
 * | SetAdmins       | (address[] admins, uint256 threshold)                                        |
 *
 * `kind` and `level` are the numeric values of {MemberKind} and {Level}.
 *
 * Roles are held by accounts, and each role needs a member of the right kind: admin accounts and
 * sealer accounts must be accounts of Active members of kind Admin, witness accounts accounts of
 * Active members of kind Auditor ({MemberRegistryIneligibleAccount}). Roles stay with the key that
 * was given them, so an admin member may keep its governance key apart from its sealer key or a
 * gateway key: only the accounts listed in a set hold that role. The threshold counts admin members,
 * so it may not exceed the number of distinct members behind the admin accounts.
 *
 * Changing the admin set starts a new admin epoch: proposals created in an older epoch can no
 * longer be approved or executed, so approvals given by removed admins never count.
 *
 * Invariant: every admin account is an account of an Active Admin member. Suspending a member that
 * holds an admin account, or removing an admin account from its member, is refused until the admin
 * set no longer contains it ({MemberRegistryMemberHoldsAdmin}, {MemberRegistryAccountIsAdmin}).
 * Suspending a member, or removing one of its accounts, takes its accounts out of the sealer and
 * witness sets ({SealersChanged} and {WitnessesChanged} carry the new sets); reinstating it does not
 * put them back, which takes a new {Action.SetSealers} or {Action.SetWitnesses}. The sealer set never
 * becomes empty ({MemberRegistryNoSealers}).
 *
 * The node decides "may this sender transact" by reading one storage slot of this contract, not by
 * calling it: see {activeAccountsSlot}.
 */
contract MemberRegistry is AdminApprovals {
    using Checkpoints for Checkpoints.Trace208;
    using EnumerableSet for EnumerableSet.AddressSet;

    enum MemberKind {
        Department,
        Charity,
        Warehouse,
        Logistics,
        Hospital,
        Regulator,
        Auditor,
        Admin
    }

    enum Level {
        City,
        District,
        Street
    }

    enum Status {
        None,
        Active,
        Suspended
    }

    enum Action {
        AdmitMember,
        SuspendMember,
        ReinstateMember,
        AddAccount,
        RemoveAccount,
        SetEncryptionKey,
        SetSealers,
        SetWitnesses,
        SetAdmins
    }

    /// @dev A member admitted by the constructor. All genesis members start Active.
    struct GenesisMember {
        string name;
        MemberKind kind;
        Level level;
        address[] accounts;
        bytes32 encryptionKey;
    }

    /// @dev What {getMember} returns.
    struct MemberView {
        uint256 id;
        string name;
        MemberKind kind;
        Level level;
        Status status;
        address[] accounts;
        bytes32 encryptionKey;
    }

    struct Member {
        string name;
        MemberKind kind;
        Level level;
        Status status;
        bytes32 encryptionKey;
        EnumerableSet.AddressSet accounts;
    }

    /// @custom:storage-location erc7201:cityledger.MemberRegistry.activeAccounts
    struct ActiveAccountsStorage {
        mapping(address account => bool) active;
    }

    // keccak256(abi.encode(uint256(keccak256("cityledger.MemberRegistry.activeAccounts")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant ACTIVE_ACCOUNTS_SLOT = 0x45180ff7118ec8a37f0f0e4ca91e0b6e659462ebdf5f1e6b8368d0adc997f900;

    mapping(uint256 memberId => Member) private _members;
    uint256 private _memberCount;
    mapping(address account => uint256 memberId) private _memberOf;
    // Per account: (memberId << 16 | kind << 8 | active) keyed by block number; see {activeMemberAt}.
    mapping(address account => Checkpoints.Trace208) private _history;

    EnumerableSet.AddressSet private _sealers;
    EnumerableSet.AddressSet private _witnesses;
    EnumerableSet.AddressSet private _admins;
    uint256 private _threshold;
    uint64 private _adminEpoch;

    event MemberAdmitted(uint256 indexed memberId, string name, MemberKind kind, Level level);
    event MemberSuspended(uint256 indexed memberId, string reason);
    event MemberReinstated(uint256 indexed memberId);
    event AccountAdded(uint256 indexed memberId, address indexed account);
    event AccountRemoved(uint256 indexed memberId, address indexed account);
    event EncryptionKeySet(uint256 indexed memberId, bytes32 key);
    /// @dev The sealer set is now `sealers` (after a SetSealers, or a suspension or key removal).
    event SealersChanged(address[] sealers);
    /// @dev The witness set is now `witnesses` (after a SetWitnesses, or a suspension or key removal).
    event WitnessesChanged(address[] witnesses);
    /// @dev The admin set is now `admins`, `threshold` admin members must approve a proposal, and
    /// proposals of earlier epochs than `epoch` are stale.
    event AdminsChanged(address[] admins, uint256 threshold, uint64 epoch);

    /// @dev `action` is not an {Action} value.
    error MemberRegistryUnknownAction(uint8 action);
    /// @dev No member has id `memberId`.
    error MemberRegistryUnknownMember(uint256 memberId);
    /// @dev The threshold is zero or larger than the number of distinct admin members.
    error MemberRegistryInvalidThreshold(uint256 threshold, uint256 adminMemberCount);
    /// @dev `account` cannot take the role: it is not an account of an Active member of kind `required`
    /// (Admin for admins and sealers, Auditor for witnesses).
    error MemberRegistryIneligibleAccount(address account, MemberKind required);
    /// @dev The zero address cannot be an account, sealer, witness or admin.
    error MemberRegistryInvalidAccount(address account);
    /// @dev An address appears twice in a list that must not repeat.
    error MemberRegistryDuplicateAddress(address account);
    /// @dev The sealer set cannot be empty.
    error MemberRegistryNoSealers();
    /// @dev `account` already belongs to member `memberId`.
    error MemberRegistryAccountTaken(address account, uint256 memberId);
    /// @dev `account` is not an account of member `memberId`.
    error MemberRegistryAccountNotOfMember(uint256 memberId, address account);
    /// @dev `account` is an admin and must first be removed from the admin set.
    error MemberRegistryAccountIsAdmin(address account);
    /// @dev Member `memberId` holds admin account `account` and cannot be suspended.
    error MemberRegistryMemberHoldsAdmin(uint256 memberId, address account);
    /// @dev The member's status does not allow the change (suspend needs Active, reinstate Suspended).
    error MemberRegistryInvalidMemberStatus(uint256 memberId, Status status);
    /// @dev `kind` is not a {MemberKind} value.
    error MemberRegistryInvalidMemberKind(uint8 kind);
    /// @dev `level` is not a {Level} value.
    error MemberRegistryInvalidLevel(uint8 level);
    /// @notice A member admitted by proposal needs a non-empty name.
    error MemberRegistryEmptyName();
    /// @notice A member admitted by proposal needs at least one signing account.
    error MemberRegistryNoAccounts();

    /**
     * @dev Admits `members` (all Active, ids 1..n in order), then sets the admin set with
     * `threshold_` and the sealer set, with the same eligibility rules as later changes (admins and
     * sealers: accounts of Admin members). The witness set starts empty.
     *
     * Emits, per member, {MemberAdmitted}, {AccountAdded} for each account and {EncryptionKeySet};
     * then {AdminsChanged} and {SealersChanged}.
     */
    constructor(
        GenesisMember[] memory members,
        address[] memory admins_,
        uint256 threshold_,
        address[] memory sealers_
    ) {
        for (uint256 i = 0; i < members.length; ++i) {
            GenesisMember memory m = members[i];
            _admitMember(m.name, m.kind, m.level, m.accounts, m.encryptionKey);
        }
        _setAdmins(admins_, threshold_);
        _setSealers(sealers_);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Whether `account` is an account of an Active member now. Anyone may call.
    function isActiveAccount(address account) external view returns (bool) {
        return _activeAccounts().active[account];
    }

    /// @notice The member `account` belongs to now, or 0 if none. Anyone may call.
    function memberOf(address account) external view returns (uint256) {
        return _memberOf[account];
    }

    /**
     * @notice Kind and status of member `memberId` now; status None for an id no member has.
     * Anyone may call.
     * @dev The cheap view for kind checks: it copies no account list, unlike {getMember}.
     */
    function memberInfo(uint256 memberId) external view returns (MemberKind kind, Status status) {
        Member storage m = _members[memberId];
        return (m.kind, m.status);
    }

    /// @notice Member `memberId` ({MemberRegistryUnknownMember} if there is none). Anyone may call.
    function getMember(uint256 memberId) external view returns (MemberView memory) {
        Member storage m = _member(memberId);
        return
            MemberView({
                id: memberId,
                name: m.name,
                kind: m.kind,
                level: m.level,
                status: m.status,
                accounts: m.accounts.values(),
                encryptionKey: m.encryptionKey
            });
    }

    /// @notice Number of members ever admitted; member ids are 1..memberCount(). Anyone may call.
    function memberCount() external view returns (uint256) {
        return _memberCount;
    }

    /// @notice The current sealer set. Anyone may call.
    /// @dev In the order it was set, except that removing an account moves the last one into its
    /// place. Governance keeps the set small, and the node reads it whole, so it is not paged.
    function sealers() external view returns (address[] memory) {
        return _sealers.values();
    }

    /// @notice The current witness set (same order rule as {sealers}). Anyone may call.
    function witnesses() external view returns (address[] memory) {
        return _witnesses.values();
    }

    /// @notice The current admin accounts, in the order they were set. Anyone may call.
    function admins() external view returns (address[] memory) {
        return _admins.values();
    }

    /// @notice Admin members whose approvals a proposal needs to execute. Anyone may call.
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @notice Admin epoch, incremented on every admin-set change; proposals of older epochs are
    /// stale. Anyone may call.
    function adminEpoch() external view returns (uint64) {
        return _adminEpoch;
    }

    /**
     * @notice The admin seat of `account`: its member id (0 if `account` is not in the admin set),
     * the threshold and the admin epoch. Anyone may call.
     * @dev What {DataSharing} and {Credit} read to count approvals per admin member with the
     * registry's own admins, threshold and epoch.
     */
    function adminOf(address account) external view returns (uint256 memberId, uint256 threshold_, uint64 epoch) {
        return _adminSeat(account);
    }

    /**
     * @notice Whether `account` was an account of an Active member as of the end of block
     * `blockNumber`, which member, and of what kind. Anyone may call.
     * @dev For the current or a future block this is the current state. `memberId` is 0 (and
     * `kind` is meaningless) when the account belonged to no member at that height.
     */
    function activeMemberAt(
        address account,
        uint48 blockNumber
    ) external view returns (uint256 memberId, MemberKind kind, bool active) {
        uint208 packed = _history[account].upperLookupRecent(blockNumber);
        memberId = uint256(packed >> 16);
        kind = MemberKind(uint8(packed >> 8));
        active = packed & 1 == 1;
    }

    /**
     * @notice Storage slot of the ERC-7201 namespace `cityledger.MemberRegistry.activeAccounts`.
     * Anyone may call.
     * @dev The namespace is a single `mapping(address => bool)`, so the word at
     * `keccak256(abi.encode(account, activeAccountsSlot()))` is 1 exactly when `account` is an
     * account of an Active member, and 0 otherwise. The node reads that word directly
     * (`eth_getStorageAt` / state lookup) to admit or refuse a sender.
     */
    function activeAccountsSlot() external pure returns (bytes32) {
        return ACTIVE_ACCOUNTS_SLOT;
    }

    // ------------------------------------------------------------------------------------------
    // Governance (AdminApprovals hooks)
    // ------------------------------------------------------------------------------------------

    function _adminSeat(
        address account
    ) internal view override returns (uint256 memberId, uint256 threshold_, uint64 epoch) {
        if (_admins.contains(account)) memberId = _memberOf[account];
        return (memberId, _threshold, _adminEpoch);
    }

    /// @dev Only the action is checked when proposed; the payload is decoded when it executes.
    function _checkProposal(uint8 action, bytes calldata) internal pure override {
        if (action > uint8(type(Action).max)) revert MemberRegistryUnknownAction(action);
    }

    function _executeProposal(uint256, uint8 action, bytes memory payload) internal override {
        _execute(Action(action), payload);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _activeAccounts() private pure returns (ActiveAccountsStorage storage $) {
        assembly {
            $.slot := ACTIVE_ACCOUNTS_SLOT
        }
    }

    function _member(uint256 memberId) private view returns (Member storage) {
        if (memberId == 0 || memberId > _memberCount) revert MemberRegistryUnknownMember(memberId);
        return _members[memberId];
    }

    function _execute(Action action, bytes memory payload) private {
        if (action == Action.AdmitMember) {
            _executeAdmitMember(payload);
        } else if (action == Action.SuspendMember) {
            (uint256 memberId, string memory reason) = abi.decode(payload, (uint256, string));
            _suspendMember(memberId, reason);
        } else if (action == Action.ReinstateMember) {
            _reinstateMember(abi.decode(payload, (uint256)));
        } else if (action == Action.AddAccount) {
            (uint256 memberId, address account) = abi.decode(payload, (uint256, address));
            _addAccount(memberId, _member(memberId), account);
        } else if (action == Action.RemoveAccount) {
            (uint256 memberId, address account) = abi.decode(payload, (uint256, address));
            _removeAccount(memberId, account);
        } else if (action == Action.SetEncryptionKey) {
            (uint256 memberId, bytes32 key) = abi.decode(payload, (uint256, bytes32));
            _setEncryptionKey(memberId, _member(memberId), key);
        } else if (action == Action.SetSealers) {
            _setSealers(abi.decode(payload, (address[])));
        } else if (action == Action.SetWitnesses) {
            _setWitnesses(abi.decode(payload, (address[])));
        } else {
            // Action.SetAdmins (the ABI decoder rejects out-of-range enum values).
            (address[] memory list, uint256 threshold_) = abi.decode(payload, (address[], uint256));
            _setAdmins(list, threshold_);
        }
    }

    function _executeAdmitMember(bytes memory payload) private {
        (string memory name, uint8 kind, uint8 level, address[] memory accounts, bytes32 key) = abi.decode(
            payload,
            (string, uint8, uint8, address[], bytes32)
        );
        if (kind > uint8(type(MemberKind).max)) revert MemberRegistryInvalidMemberKind(kind);
        if (level > uint8(type(Level).max)) revert MemberRegistryInvalidLevel(level);
        if (bytes(name).length == 0) revert MemberRegistryEmptyName();
        if (accounts.length == 0) revert MemberRegistryNoAccounts();
        _admitMember(name, MemberKind(kind), Level(level), accounts, key);
    }

    function _admitMember(
        string memory name,
        MemberKind kind,
        Level level,
        address[] memory accounts,
        bytes32 key
    ) private {
        uint256 memberId = ++_memberCount;
        Member storage m = _members[memberId];
        m.name = name;
        m.kind = kind;
        m.level = level;
        m.status = Status.Active;
        emit MemberAdmitted(memberId, name, kind, level);

        for (uint256 i = 0; i < accounts.length; ++i) {
            _addAccount(memberId, m, accounts[i]);
        }
        _setEncryptionKey(memberId, m, key);
    }

    function _suspendMember(uint256 memberId, string memory reason) private {
        Member storage m = _member(memberId);
        if (m.status != Status.Active) revert MemberRegistryInvalidMemberStatus(memberId, m.status);
        address[] memory accounts = m.accounts.values();
        for (uint256 i = 0; i < accounts.length; ++i) {
            if (_admins.contains(accounts[i])) revert MemberRegistryMemberHoldsAdmin(memberId, accounts[i]);
        }
        m.status = Status.Suspended;
        for (uint256 i = 0; i < accounts.length; ++i) {
            _recordAccount(accounts[i], memberId, m.kind, false);
        }
        emit MemberSuspended(memberId, reason);
        _dropFromRoles(accounts);
    }

    function _reinstateMember(uint256 memberId) private {
        Member storage m = _member(memberId);
        if (m.status != Status.Suspended) revert MemberRegistryInvalidMemberStatus(memberId, m.status);
        m.status = Status.Active;
        address[] memory accounts = m.accounts.values();
        for (uint256 i = 0; i < accounts.length; ++i) {
            _recordAccount(accounts[i], memberId, m.kind, true);
        }
        emit MemberReinstated(memberId);
    }

    function _addAccount(uint256 memberId, Member storage m, address account) private {
        if (account == address(0)) revert MemberRegistryInvalidAccount(account);
        uint256 holder = _memberOf[account];
        if (holder != 0) revert MemberRegistryAccountTaken(account, holder);
        _memberOf[account] = memberId;
        m.accounts.add(account);
        _recordAccount(account, memberId, m.kind, m.status == Status.Active);
        emit AccountAdded(memberId, account);
    }

    function _removeAccount(uint256 memberId, address account) private {
        Member storage m = _member(memberId);
        if (_memberOf[account] != memberId) revert MemberRegistryAccountNotOfMember(memberId, account);
        if (_admins.contains(account)) revert MemberRegistryAccountIsAdmin(account);
        delete _memberOf[account];
        m.accounts.remove(account);
        _recordAccount(account, 0, MemberKind.Department, false);
        emit AccountRemoved(memberId, account);
        address[] memory removed = new address[](1);
        removed[0] = account;
        _dropFromRoles(removed);
    }

    /// @dev Takes `accounts` out of the sealer and witness sets; emits the new sets that changed.
    function _dropFromRoles(address[] memory accounts) private {
        bool sealersChanged;
        bool witnessesChanged;
        for (uint256 i = 0; i < accounts.length; ++i) {
            if (_sealers.remove(accounts[i])) sealersChanged = true;
            if (_witnesses.remove(accounts[i])) witnessesChanged = true;
        }
        if (sealersChanged) {
            if (_sealers.length() == 0) revert MemberRegistryNoSealers();
            emit SealersChanged(_sealers.values());
        }
        if (witnessesChanged) emit WitnessesChanged(_witnesses.values());
    }

    function _setEncryptionKey(uint256 memberId, Member storage m, bytes32 key) private {
        m.encryptionKey = key;
        emit EncryptionKeySet(memberId, key);
    }

    function _setSealers(address[] memory list) private {
        if (list.length == 0) revert MemberRegistryNoSealers();
        _requireEligible(list, MemberKind.Admin);
        _replaceSet(_sealers, list);
        emit SealersChanged(list);
    }

    function _setWitnesses(address[] memory list) private {
        _requireEligible(list, MemberKind.Auditor);
        _replaceSet(_witnesses, list);
        emit WitnessesChanged(list);
    }

    function _setAdmins(address[] memory list, uint256 threshold_) private {
        _requireEligible(list, MemberKind.Admin);
        // Count distinct admin members: the threshold counts members, not accounts.
        uint256[] memory seen = new uint256[](list.length);
        uint256 adminMembers = 0;
        for (uint256 i = 0; i < list.length; ++i) {
            uint256 memberId = _memberOf[list[i]];
            bool counted = false;
            for (uint256 j = 0; j < adminMembers && !counted; ++j) counted = seen[j] == memberId;
            if (!counted) seen[adminMembers++] = memberId;
        }
        if (threshold_ == 0 || threshold_ > adminMembers) revert MemberRegistryInvalidThreshold(threshold_, adminMembers);
        _replaceSet(_admins, list);
        _threshold = threshold_;
        uint64 epoch = ++_adminEpoch;
        emit AdminsChanged(list, threshold_, epoch);
    }

    /// @dev Every account of `list` is non-zero and an account of an Active member of kind `kind`.
    function _requireEligible(address[] memory list, MemberKind kind) private view {
        ActiveAccountsStorage storage $ = _activeAccounts();
        for (uint256 i = 0; i < list.length; ++i) {
            address a = list[i];
            if (a == address(0)) revert MemberRegistryInvalidAccount(a);
            if (!$.active[a] || _members[_memberOf[a]].kind != kind) revert MemberRegistryIneligibleAccount(a, kind);
        }
    }

    /// @dev Replaces the contents of `set` with `list`, keeping its order; rejects zero and repeats.
    function _replaceSet(EnumerableSet.AddressSet storage set, address[] memory list) private {
        set.clear();
        for (uint256 i = 0; i < list.length; ++i) {
            address a = list[i];
            if (a == address(0)) revert MemberRegistryInvalidAccount(a);
            if (!set.add(a)) revert MemberRegistryDuplicateAddress(a);
        }
    }

    /**
     * @dev Keeps the ERC-7201 active-account word and the account's history in step. Called on
     * every change that affects `account`: admit, suspend, reinstate, add and remove account.
     */
    function _recordAccount(address account, uint256 memberId, MemberKind kind, bool active) private {
        _activeAccounts().active[account] = active;
        uint208 packed = (uint208(SafeCast.toUint192(memberId)) << 16) |
            (uint208(uint8(kind)) << 8) |
            (active ? 1 : 0);
        _history[account].push(SafeCast.toUint48(block.number), packed);
    }
}
