"""py-evm objects to the JSON shapes of the Ethereum execution-API specification."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI, LegacyTransactionFieldsAPI, ReceiptAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_utils import to_checksum_address


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


def block_json(block: BlockAPI, full: bool) -> dict[str, Any]:
    header = block.header
    out = header_json(header, size=len(rlp.encode(block)))
    if full:
        out["transactions"] = [
            tx_json(tx, header, i) for i, tx in enumerate(block.transactions)
        ]
    else:
        out["transactions"] = [d(tx.hash) for tx in block.transactions]
    out["uncles"] = []
    out["withdrawals"] = []
    return out


def tx_json(
    tx: SignedTransactionAPI, header: BlockHeaderAPI | None = None, index: int | None = None
) -> dict[str, Any]:
    type_id = tx.type_id or 0
    out: dict[str, Any] = {
        "type": q(type_id),
        "hash": d(tx.hash),
        "nonce": q(tx.nonce),
        "from": addr(tx.sender),
        "to": None if tx.to == CREATE_CONTRACT_ADDRESS else addr(tx.to),
        "value": q(tx.value),
        "gas": q(tx.gas),
        "input": d(tx.data),
        "r": q(tx.r),
        "s": q(tx.s),
        "blockHash": d(header.hash) if header is not None else None,
        "blockNumber": q(header.block_number) if header is not None else None,
        "transactionIndex": q(index) if index is not None else None,
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
            out["gasPrice"] = q(effective_gas_price(tx, header))
        if type_id == 4:
            out["authorizationList"] = [
                {"chainId": q(a.chain_id), "address": addr(a.address), "nonce": q(a.nonce),
                 "yParity": q(a.y_parity), "r": q(a.r), "s": q(a.s)}
                for a in tx.authorization_list
            ]
    return out


def effective_gas_price(tx: SignedTransactionAPI, header: BlockHeaderAPI | None) -> int:
    base_fee = header.base_fee_per_gas if header is not None else 0
    max_fee = getattr(tx, "max_fee_per_gas", None)
    if max_fee is None:
        return int(tx.gas_price)
    assert base_fee is not None  # headers on this chain are Prague headers, with a base fee
    return int(min(max_fee, base_fee + tx.max_priority_fee_per_gas))


def logs_of_block(
    block: BlockAPI, receipts: Sequence[ReceiptAPI]
) -> list[dict[str, Any]]:
    """Every log of a block, with block-wide log indexes, in execution-API shape."""
    out: list[dict[str, Any]] = []
    header = block.header
    log_index = 0
    for tx_index, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
        for log in receipt.logs:
            out.append({
                "removed": False,
                "logIndex": q(log_index),
                "transactionIndex": q(tx_index),
                "transactionHash": d(tx.hash),
                "blockHash": d(header.hash),
                "blockNumber": q(header.block_number),
                "blockTimestamp": q(header.timestamp),
                "address": addr(log.address),
                "data": d(log.data),
                "topics": [topic(t) for t in log.topics],
            })
            log_index += 1
    return out


def receipt_json(
    block: BlockAPI, receipts: Sequence[ReceiptAPI], index: int,
    block_logs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    header = block.header
    tx = block.transactions[index]
    receipt = receipts[index]
    previous = receipts[index - 1].gas_used if index > 0 else 0
    if block_logs is None:
        block_logs = logs_of_block(block, receipts)
    tx_hash = d(tx.hash)
    contract = None
    if tx.to == CREATE_CONTRACT_ADDRESS:
        contract = addr(generate_contract_address(tx.sender, tx.nonce))
    return {
        "transactionHash": tx_hash,
        "transactionIndex": q(index),
        "blockHash": d(header.hash),
        "blockNumber": q(header.block_number),
        "from": addr(tx.sender),
        "to": None if tx.to == CREATE_CONTRACT_ADDRESS else addr(tx.to),
        "cumulativeGasUsed": q(receipt.gas_used),
        "gasUsed": q(receipt.gas_used - previous),
        "effectiveGasPrice": q(effective_gas_price(tx, header)),
        "contractAddress": contract,
        "logs": [log for log in block_logs if log["transactionHash"] == tx_hash],
        "logsBloom": "0x" + receipt.bloom.to_bytes(256, "big").hex(),
        "type": q(tx.type_id or 0),
        "status": q(1 if receipt.state_root == b"\x01" else 0),
        "blobGasUsed": q(0),
    }
