// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/**
 * @title MemberRegistry
 * @notice The consortium's members, their signing accounts and encryption keys, the sealer, witness
 * and admin sets, and the M-of-N governance that changes all of them.
 *
 * Every change after genesis is a proposal that executes when `threshold()` distinct admin accounts
 * have approved it (the proposer's approval counts). A proposal carries an {Action} and an
 * ABI-encoded payload (`abi.encode(...)` of exactly these types):
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
 * Changing the admin set starts a new admin epoch: proposals created in an older epoch can no longer
 * be approved or executed ({MemberRegistryStaleProposal}), so approvals given by removed admins never count.
 *
 * Invariant: every admin account is an account of an Active member. Suspending a member that holds
 * an admin account, or removing an admin account from its member, is refused until the admin set no
 * longer contains it ({MemberRegistryMemberHoldsAdmin}, {MemberRegistryAccountIsAdmin}).
 *
 * The node decides "may this sender transact" by reading one storage slot of this contract, not by
 * calling it: see {activeAccountsSlot}.
 */
contract MemberRegistry {
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

    /// @dev A governance proposal, as stored and as returned by {getProposal}.
    struct Proposal {
        address proposer;
        uint48 createdAt; // block number
        Action action;
        bool executed;
        uint32 approvals;
        uint64 epoch; // admin epoch the proposal belongs to
        bytes payload;
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

    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => mapping(address admin => bool)) private _approvedBy;
    uint256 private _proposalCount;

    event ProposalCreated(uint256 indexed proposalId, address indexed proposer, Action action, bytes payload);
    event ProposalApproved(uint256 indexed proposalId, address indexed approver, uint256 approvals);
    event ProposalExecuted(uint256 indexed proposalId);
    event MemberAdmitted(uint256 indexed memberId, string name, MemberKind kind, Level level);
    event MemberSuspended(uint256 indexed memberId, string reason);
    event MemberReinstated(uint256 indexed memberId);
    event AccountAdded(uint256 indexed memberId, address indexed account);
    event AccountRemoved(uint256 indexed memberId, address indexed account);
    event EncryptionKeySet(uint256 indexed memberId, bytes32 key);
    event SealersChanged(address[] sealers);
    event WitnessesChanged(address[] witnesses);
    event AdminsChanged(address[] admins, uint256 threshold);

    /// @dev `account` is not in the admin set.
    error MemberRegistryNotAdmin(address account);
    /// @dev No member has id `memberId`.
    error MemberRegistryUnknownMember(uint256 memberId);
    /// @dev No proposal has id `proposalId`.
    error MemberRegistryUnknownProposal(uint256 proposalId);
    /// @dev The proposal has already executed.
    error MemberRegistryProposalAlreadyExecuted(uint256 proposalId);
    /// @dev The proposal was created under an admin set that has since changed.
    error MemberRegistryStaleProposal(uint256 proposalId, uint64 proposalEpoch, uint64 currentEpoch);
    /// @dev `admin` has already approved the proposal.
    error MemberRegistryAlreadyApproved(uint256 proposalId, address admin);
    /// @dev The threshold is zero or larger than the number of admins.
    error MemberRegistryInvalidThreshold(uint256 threshold, uint256 adminCount);
    /// @dev An admin must be an account of an Active member.
    error MemberRegistryAdminNotActive(address account);
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
     * `threshold_` and the sealer set. The witness set starts empty.
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
    // Governance
    // ------------------------------------------------------------------------------------------

    /**
     * @notice Proposes a change; the proposer's approval counts as the first one.
     * @dev Callable by admin accounts only ({MemberRegistryNotAdmin} otherwise). `payload` is the ABI encoding
     * listed for `action` in the contract documentation; it is decoded only when the proposal
     * executes. If the threshold is already reached (threshold 1) the proposal executes in this
     * call, and if execution reverts the whole call reverts.
     *
     * Emits {ProposalCreated} and {ProposalApproved}; on execution, the action's events followed
     * by {ProposalExecuted}.
     */
    function propose(Action action, bytes calldata payload) external returns (uint256 proposalId) {
        _checkAdmin(msg.sender);
        proposalId = ++_proposalCount;
        Proposal storage p = _proposals[proposalId];
        p.proposer = msg.sender;
        p.createdAt = SafeCast.toUint48(block.number);
        p.action = action;
        p.epoch = _adminEpoch;
        p.payload = payload;
        emit ProposalCreated(proposalId, msg.sender, action, payload);
        _approve(proposalId, p, msg.sender);
    }

    /**
     * @notice Approves a pending proposal; executes it when approvals reach the threshold.
     * @dev Callable by admin accounts only ({MemberRegistryNotAdmin}), once per admin ({MemberRegistryAlreadyApproved}), on a
     * proposal that exists ({MemberRegistryUnknownProposal}), has not executed ({MemberRegistryProposalAlreadyExecuted}) and
     * was created under the current admin set ({MemberRegistryStaleProposal}). If execution reverts the whole
     * call reverts and the approval is not recorded.
     *
     * Emits {ProposalApproved}; on execution, the action's events followed by {ProposalExecuted}.
     */
    function approve(uint256 proposalId) external {
        _checkAdmin(msg.sender);
        Proposal storage p = _existingProposal(proposalId);
        if (p.executed) revert MemberRegistryProposalAlreadyExecuted(proposalId);
        if (p.epoch != _adminEpoch) revert MemberRegistryStaleProposal(proposalId, p.epoch, _adminEpoch);
        _approve(proposalId, p, msg.sender);
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

    /// @notice The current sealer set, in the order it was set. Anyone may call.
    function sealers() external view returns (address[] memory) {
        return _sealers.values();
    }

    /// @notice The current witness set, in the order it was set. Anyone may call.
    function witnesses() external view returns (address[] memory) {
        return _witnesses.values();
    }

    /// @notice The current admin accounts, in the order they were set. Anyone may call.
    function admins() external view returns (address[] memory) {
        return _admins.values();
    }

    /// @notice Approvals a proposal needs to execute. Anyone may call.
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @notice Admin epoch, incremented on every admin-set change; proposals of older epochs are
    /// stale. Anyone may call.
    function adminEpoch() external view returns (uint64) {
        return _adminEpoch;
    }

    /// @notice Number of proposals ever created; proposal ids are 1..proposalCount(). Anyone may call.
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @notice Proposal `proposalId` ({MemberRegistryUnknownProposal} if there is none). Anyone may call.
    function getProposal(uint256 proposalId) external view returns (Proposal memory) {
        return _existingProposal(proposalId);
    }

    /// @notice Whether `account` has approved proposal `proposalId`. Anyone may call.
    function hasApproved(uint256 proposalId, address account) external view returns (bool) {
        return _approvedBy[proposalId][account];
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
    // Internals
    // ------------------------------------------------------------------------------------------

    function _activeAccounts() private pure returns (ActiveAccountsStorage storage $) {
        assembly {
            $.slot := ACTIVE_ACCOUNTS_SLOT
        }
    }

    function _checkAdmin(address account) private view {
        if (!_admins.contains(account)) revert MemberRegistryNotAdmin(account);
    }

    function _existingProposal(uint256 proposalId) private view returns (Proposal storage p) {
        p = _proposals[proposalId];
        if (p.proposer == address(0)) revert MemberRegistryUnknownProposal(proposalId);
    }

    function _member(uint256 memberId) private view returns (Member storage) {
        if (memberId == 0 || memberId > _memberCount) revert MemberRegistryUnknownMember(memberId);
        return _members[memberId];
    }

    function _approve(uint256 proposalId, Proposal storage p, address approver) private {
        if (_approvedBy[proposalId][approver]) revert MemberRegistryAlreadyApproved(proposalId, approver);
        _approvedBy[proposalId][approver] = true;
        uint32 approvals = ++p.approvals;
        emit ProposalApproved(proposalId, approver, approvals);

        if (approvals >= _threshold) {
            p.executed = true;
            _execute(p.action, p.payload);
            emit ProposalExecuted(proposalId);
        }
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
    }

    function _setEncryptionKey(uint256 memberId, Member storage m, bytes32 key) private {
        m.encryptionKey = key;
        emit EncryptionKeySet(memberId, key);
    }

    function _setSealers(address[] memory list) private {
        if (list.length == 0) revert MemberRegistryNoSealers();
        _replaceSet(_sealers, list);
        emit SealersChanged(list);
    }

    function _setWitnesses(address[] memory list) private {
        _replaceSet(_witnesses, list);
        emit WitnessesChanged(list);
    }

    function _setAdmins(address[] memory list, uint256 threshold_) private {
        if (threshold_ == 0 || threshold_ > list.length) revert MemberRegistryInvalidThreshold(threshold_, list.length);
        ActiveAccountsStorage storage $ = _activeAccounts();
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == address(0)) revert MemberRegistryInvalidAccount(list[i]);
            if (!$.active[list[i]]) revert MemberRegistryAdminNotActive(list[i]);
        }
        _replaceSet(_admins, list);
        _threshold = threshold_;
        ++_adminEpoch;
        emit AdminsChanged(list, threshold_);
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
