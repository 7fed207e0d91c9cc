"""The lookup index: what it serves equals what py-evm's tries hold, it is written in the block's
own commit, and data directories from before it are indexed at start.

The chain lives in a temporary directory on LMDB, as a node's does.
"""

from __future__ import annotations

import time
from pathlib import Path

import rlp
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from conftest import DevNet, artifact
from node.chain import LedgerChain
from node.genesis import load_genesis
from node.index import SCHEMA_KEY, SCHEMA_VERSION, block_key, tx_key
from node.kv import LmdbKV
from node.txpool import decode_transaction

RECORD = keccak(text="record(bytes32,bytes32,uint256)")[:4]


def _chain_with_blocks(devnet: DevNet, path: Path) -> tuple[LedgerChain, list[bytes]]:
    chain = LedgerChain(LmdbKV(path), load_genesis(devnet.genesis_path))
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    member = devnet.member(0)
    recorder = to_checksum_address(keccak(rlp.encode([bytes.fromhex(member["address"][2:]), 0]))[12:])

    def tx(nonce: int, tx_type: int, **fields: object) -> object:
        body = {"gas": 1_000_000, "value": 0, "nonce": nonce, "chainId": devnet.chain_id, **fields}
        body.update({"type": 2, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0} if tx_type == 2 else {"gasPrice": 0})
        raw = Account.sign_transaction(body, member["private_key"]).raw_transaction
        return decode_transaction(bytes(raw), devnet.chain_id)

    deploy = tx(0, 0, data=artifact("Recorder")["bytecode"])
    records = [tx(n, n % 3 and 2, to=recorder, data=RECORD + n.to_bytes(32, "big") + b"\x01" * 64)
               for n in range(1, 6)]
    hashes = []
    for i, batch in enumerate(([deploy], records)):
        built = chain.build_block(batch, int(time.time()) + i, sealer)  # type: ignore[arg-type]
        assert built.block is not None
        hashes += [bytes(t.hash) for t in built.block.transactions]
    return chain, hashes


def test_index_answers_as_the_tries_do(devnet: DevNet, tmp_path: Path) -> None:
    chain, hashes = _chain_with_blocks(devnet, tmp_path / "chain")
    head = chain.head
    block = chain.block(head)
    receipts = chain.receipts(block)
    assert chain.raw_block(head) == rlp.encode(block)
    assert chain.raw_receipts(head) == [r.encode() for r in receipts]
    view = chain.block_view(head)
    assert view.transaction_hashes == tuple(bytes(t.hash) for t in block.transactions)
    assert view.size == len(rlp.encode(block))
    assert [e.log_index for e in view.logs] == list(range(5))
    for index, tx in enumerate(block.transactions):
        receipt = chain.receipt(bytes(tx.hash))
        assert receipt is not None
        assert receipt.raw == receipts[index].encode()
        assert receipt.cumulative_gas_used == receipts[index].gas_used
        assert receipt.transaction.sender == tx.sender
        assert receipt.transaction.index == index and receipt.transaction.block_hash == head.hash
        assert [e.log_index for e in receipt.logs] == [index]
        assert receipt.logs[0] == view.logs[index]
        found = chain.transaction_at(head, index)
        assert found is not None and found.raw == tx.encode()
        assert found.decoded().hash == tx.hash
    assert chain.receipt(b"\x00" * 32) is None
    assert chain.transaction_at(head, 99) is None


def test_data_directory_without_index_is_indexed_at_start(devnet: DevNet, tmp_path: Path) -> None:
    chain, hashes = _chain_with_blocks(devnet, tmp_path / "chain")
    # Make it look like a directory written before the index existed.
    head = chain.head
    chain.buffer._store.commit({SCHEMA_KEY: None, block_key(head.hash): None,  # noqa: SLF001
                                **{tx_key(h): None for h in hashes}})
    chain.close()
    reader = LmdbKV(tmp_path / "chain")
    try:
        LedgerChain(reader, load_genesis(devnet.genesis_path), writable=False)
    except Exception as exc:  # a reader never writes: it asks for the writer to build the index
        assert "index is not built" in str(exc)
    else:
        raise AssertionError("a reader opened a data directory without its index")
    reader.close()
    reopened = LedgerChain(LmdbKV(tmp_path / "chain"), load_genesis(devnet.genesis_path))
    assert reopened.buffer._store.get(SCHEMA_KEY) == bytes([SCHEMA_VERSION])  # noqa: SLF001
    for tx_hash in hashes:
        receipt = reopened.receipt(tx_hash)
        assert receipt is not None and receipt.status == 1
    assert reopened.raw_block(head) == rlp.encode(reopened.block(head))
