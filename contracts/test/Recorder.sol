// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/**
 * @title Recorder
 * @notice A minimal record-writing contract for tests and benchmarks: one struct written and one
 * event emitted per call, plus two functions that always revert (custom error and reason string).
 */
contract Recorder {
    struct Record {
        address author;
        uint64 at; // block timestamp
        bytes32 digest;
        uint256 amount;
    }

    mapping(bytes32 key => Record) private _records;

    event Recorded(bytes32 indexed key, address indexed author, bytes32 digest, uint256 amount);

    /// @dev Always raised by {fail}.
    error RecorderFailed(string why);

    /**
     * @notice Stores a record under `key`, overwriting any earlier one. Anyone may call.
     * @dev Emits {Recorded}.
     */
    function record(bytes32 key, bytes32 digest, uint256 amount) external {
        _records[key] = Record({author: msg.sender, at: uint64(block.timestamp), digest: digest, amount: amount});
        emit Recorded(key, msg.sender, digest, amount);
    }

    /// @notice The record under `key`; all zero if none. Anyone may call.
    function get(bytes32 key) external view returns (Record memory) {
        return _records[key];
    }

    /// @notice Always reverts with {RecorderFailed}(`why`). Anyone may call.
    function fail(string calldata why) external pure {
        revert RecorderFailed(why);
    }

    /// @notice Always reverts with the reason string "recorder says no". Anyone may call.
    function failWithReason() external pure {
        revert("recorder says no");
    }
}
