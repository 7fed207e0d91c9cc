"""Domain objects (headers, index records, service dataclasses) to the JSON shapes of the
Ethereum execution-API specification. The only place the node produces JSON values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, LegacyTransactionFieldsAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_utils import to_checksum_address

from node.chain import BlockView
from node.index import IndexedReceipt, IndexedTransaction, LogEntry
from node.service import FeeHistory, NodeStatus, SyncStatus


def q(value: int) -> str:
    """A QUANTITY: hex without leading zeros."""
    return hex(value)


def d(value: bytes) -> str:
    """DATA: 0x-prefixed hex of every byte."""
    return "0x" + bytes(value).hex()


def addr(value: bytes) -> str:
    return to_checksum_address(value)


def topic(value: int | bytes) -> str:
    if isinstance(value, int):
        return "0x" + value.to_bytes(32, "big").hex()
    return d(value)


def header_json(header: BlockHeaderAPI, size: int | None = None) -> dict[str, Any]:
    # Every header on this chain is a Prague header (CityLedgerVM from block 0): these are set.
    assert header.base_fee_per_gas is not None
    assert header.withdrawals_root is not None
    assert header.parent_beacon_block_root is not None
    out: dict[str, Any] = {
        "number": q(header.block_number),
        "hash": d(header.hash),
        "parentHash": d(header.parent_hash),
        "nonce": d(header.nonce),
        "mixHash": d(header.mix_hash),
        "sha3Uncles": d(header.uncles_hash),
        "logsBloom": "0x" + header.bloom.to_bytes(256, "big").hex(),
        "transactionsRoot": d(header.transaction_root),
        "stateRoot": d(header.state_root),
        "receiptsRoot": d(header.receipt_root),
        "miner": addr(header.coinbase),
        "difficulty": q(header.difficulty),
        "totalDifficulty": q(0),
        "extraData": d(header.extra_data),
        "gasLimit": q(header.gas_limit),
        "gasUsed": q(header.gas_used),
        "timestamp": q(header.timestamp),
        "baseFeePerGas": q(header.base_fee_per_gas),
        "withdrawalsRoot": d(header.withdrawals_root),
        "blobGasUsed": q(header.blob_gas_used),
        "excessBlobGas": q(header.excess_blob_gas),
        "parentBeaconBlockRoot": d(header.parent_beacon_block_root),
        "requestsHash": d(cast(PragueBlockHeader, header).requests_hash),
    }
    if size is not None:
        out["size"] = q(size)
    return out


def block_json(view: BlockView, transactions: Sequence[IndexedTransaction] | None) -> dict[str, Any]:
    """execution-apis ``Block``: transaction hashes, or full transactions when given."""
    out = header_json(view.header, size=view.size)
    if transactions is not None:
        out["transactions"] = [tx_json(tx) for tx in transactions]
    else:
        out["transactions"] = [d(h) for h in view.transaction_hashes]
    out["uncles"] = []
    out["withdrawals"] = []
    return out


def tx_json(indexed: IndexedTransaction) -> dict[str, Any]:
    """execution-apis ``TransactionInfo`` (block fields null while pending)."""
    tx = indexed.decoded()
    type_id = tx.type_id or 0
    out: dict[str, Any] = {
        "type": q(type_id),
        "hash": d(indexed.hash),
        "nonce": q(tx.nonce),
        "from": addr(indexed.sender),
        "to": None if tx.to == CREATE_CONTRACT_ADDRESS else addr(tx.to),
        "value": q(tx.value),
        "gas": q(tx.gas),
        "input": d(tx.data),
        "r": q(tx.r),
        "s": q(tx.s),
        "blockHash": d(indexed.block_hash) if indexed.block_hash is not None else None,
        "blockNumber": q(indexed.block_number) if indexed.block_number is not None else None,
        "transactionIndex": q(indexed.index) if indexed.index is not None else None,
    }
    if type_id == 0:
        out["gasPrice"] = q(tx.gas_price)
        out["v"] = q(cast(LegacyTransactionFieldsAPI, tx).v)
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is not None:
            out["chainId"] = q(chain_id)
    else:
        assert tx.chain_id is not None  # typed (EIP-2718) transactions always carry one
        out["chainId"] = q(tx.chain_id)
        out["v"] = q(tx.y_parity)
        out["yParity"] = q(tx.y_parity)
        out["accessList"] = [
            {"address": addr(a), "storageKeys": [topic(k) for k in keys]} for a, keys in tx.access_list
        ]
        if type_id == 1:
            out["gasPrice"] = q(tx.gas_price)
        else:
            out["maxFeePerGas"] = q(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
            out["gasPrice"] = q(effective_gas_price(tx, indexed.base_fee))
        if type_id == 4:
            out["authorizationList"] = [
                {"chainId": q(a.chain_id), "address": addr(a.address), "nonce": q(a.nonce),
                 "yParity": q(a.y_parity), "r": q(a.r), "s": q(a.s)}
                for a in tx.authorization_list
            ]
    return out


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int) -> int:
    """EIP-1559: ``min(maxFeePerGas, baseFee + maxPriorityFeePerGas)``; the gas price otherwise."""
    max_fee = getattr(tx, "max_fee_per_gas", None)
    if max_fee is None:
        return int(tx.gas_price)
    return int(min(max_fee, base_fee + tx.max_priority_fee_per_gas))


def log_json(entry: LogEntry) -> dict[str, Any]:
    """execution-apis ``Log``."""
    return {
        "removed": False,
        "logIndex": q(entry.log_index),
        "transactionIndex": q(entry.transaction_index),
        "transactionHash": d(entry.transaction_hash),
        "blockHash": d(entry.block_hash),
        "blockNumber": q(entry.block_number),
        "blockTimestamp": q(entry.block_timestamp),
        "address": addr(entry.address),
        "data": d(entry.data),
        "topics": [d(t) for t in entry.topics],
    }


def receipt_json(receipt: IndexedReceipt) -> dict[str, Any]:
    """execution-apis ``ReceiptInfo``."""
    indexed = receipt.transaction
    tx = indexed.decoded()
    assert indexed.block_hash is not None and indexed.block_number is not None and indexed.index is not None
    contract = None
    if tx.to == CREATE_CONTRACT_ADDRESS:
        contract = addr(generate_contract_address(indexed.sender, tx.nonce))
    return {
        "transactionHash": d(indexed.hash),
        "transactionIndex": q(indexed.index),
        "blockHash": d(indexed.block_hash),
        "blockNumber": q(indexed.block_number),
        "from": addr(indexed.sender),
        "to": None if tx.to == CREATE_CONTRACT_ADDRESS else addr(tx.to),
        "cumulativeGasUsed": q(receipt.cumulative_gas_used),
        "gasUsed": q(receipt.gas_used),
        "effectiveGasPrice": q(effective_gas_price(tx, indexed.base_fee)),
        "contractAddress": contract,
        "logs": [log_json(entry) for entry in receipt.logs],
        "logsBloom": "0x" + receipt.bloom.to_bytes(256, "big").hex(),
        "type": q(tx.type_id or 0),
        "status": q(receipt.status),
        "blobGasUsed": q(0),
    }


def status_json(status: NodeStatus) -> dict[str, Any]:
    """``cityledger_status``."""
    out: dict[str, Any] = {"role": status.role, "chainId": status.chain_id, "head": status.head,
                           "headHash": d(status.head_hash)}
    if status.role == "sealer":
        out["sealer"] = addr(status.sealer) if status.sealer else None
        out["pending"] = status.pending
    if status.role == "replica":
        out.update(
            upstream=status.upstream, upstreamHead=status.upstream_head, startingBlock=status.starting_block,
            rejected=None if status.rejected is None else dict(zip(("number", "check", "detail"), status.rejected)),
            upstreamError=status.upstream_error)
    return out


def sync_json(status: SyncStatus | None) -> Any:
    """``eth_syncing``: false, or the replica's progress."""
    if status is None:
        return False
    return {"startingBlock": q(status.starting_block), "currentBlock": q(status.current_block),
            "highestBlock": q(status.highest_block)}


def fee_history_json(history: FeeHistory, percentiles: Sequence[float] | None) -> dict[str, Any]:
    """``eth_feeHistory`` with every base fee and reward zero (the chain pins them)."""
    n = len(history.gas_used_ratio)
    out: dict[str, Any] = {
        "oldestBlock": q(history.oldest_block),
        "baseFeePerGas": [q(0)] * (n + 1),
        "gasUsedRatio": list(history.gas_used_ratio),
        "baseFeePerBlobGas": [q(0)] * (n + 1),
        "blobGasUsedRatio": [0.0] * n,
    }
    if percentiles is not None:
        out["reward"] = [[q(0)] * len(percentiles) for _ in range(n)]
    return out


def proof_json(proof: dict[str, Any]) -> dict[str, Any]:
    """EIP-1186 ``eth_getProof`` result."""
    return {
        "address": to_checksum_address(proof["address"]),
        "accountProof": [d(n) for n in proof["accountProof"]],
        "balance": q(proof["balance"]),
        "codeHash": d(proof["codeHash"]),
        "nonce": q(proof["nonce"]),
        "storageHash": d(proof["storageHash"]),
        "storageProof": [
            {"key": "0x" + s["key"].to_bytes(32, "big").hex(), "value": q(s["value"]),
             "proof": [d(n) for n in s["proof"]]}
            for s in proof["storageProof"]
        ],
    }
