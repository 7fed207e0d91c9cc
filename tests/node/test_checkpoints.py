"""The block-hash log and its checkpoints (``node/checkpoints.py``), checked by the audit
package's independent RFC 6962 and signed-note code (``audit/tlog.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import tlog
from conftest import make_devnet
from node.chain import LedgerChain
from node.errors import LogRangeError
from node.genesis import load_genesis
from node.kv import MemoryKV
from scripts.contract_driver import Ledger


def _ledger(tmp_path: Path, interval: int | None = None) -> Ledger:
    devnet = make_devnet(tmp_path / "node")
    if interval is not None:
        doc = json.loads(devnet.genesis_path.read_text())
        doc["checkpointInterval"] = interval
        devnet.genesis_path.write_text(json.dumps(doc))
    return Ledger(devnet)


def _grow(ledger: Ledger, blocks: int) -> list[bytes]:
    member = ledger.members[0]
    for _ in range(blocks):
        ledger.seal([ledger.sign(member, b"\x11" * 20, b"")])
    return [bytes(ledger.header(n).hash) for n in range(ledger.chain.head.block_number + 1)]


def test_every_block_is_a_leaf_and_every_checkpoint_verifies(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    hashes = _grow(ledger, 6)
    chain = ledger.chain
    assert chain.log.size == len(hashes) == 7
    sealer = bytes.fromhex(ledger.devnet.keys["sealer"]["address"][2:])
    for size in range(2, 8):  # the genesis leaf is never signed for: no block was sealed then
        signed = chain.checkpoint(size)
        assert signed is not None and signed.size == size
        note = tlog.parse_note(signed.note)
        checkpoint = tlog.parse_checkpoint(note.text)
        assert checkpoint.root == tlog.root(hashes[:size]) == chain.log.root(size)
        assert checkpoint.chain == (chain.chain_id, bytes(chain.genesis_header.hash))
        assert tlog.verify_sealer_signature(note, [sealer]) == sealer
        with pytest.raises(tlog.NoteError, match="no signature by a sealer"):
            tlog.verify_sealer_signature(note, [b"\x22" * 20])
    assert chain.checkpoint(None) == chain.checkpoint(7)
    assert chain.checkpoint(1) is None


def test_proofs_agree_with_the_independent_implementation(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    hashes = _grow(ledger, 12)
    log = ledger.chain.log
    for size in range(1, len(hashes) + 1):
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert proof == tlog.inclusion_proof(hashes, index, size)
            tlog.verify_inclusion(hashes[index], index, size, proof, log.root(size))
        for old in range(1, size + 1):
            proof = log.consistency_proof(old, size)
            assert proof == tlog.consistency_proof(hashes, old, size)
            tlog.verify_consistency(old, size, log.root(old), log.root(size), proof)
    with pytest.raises(LogRangeError):
        log.inclusion_proof(3, len(hashes) + 1)
    with pytest.raises(LogRangeError):
        log.consistency_proof(5, 4)


def test_the_interval_comes_from_genesis(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, interval=4)
    _grow(ledger, 9)
    signed = [size for size in range(1, 11) if ledger.chain.checkpoint(size) is not None]
    assert signed == [4, 8]
    assert ledger.chain.checkpoint(None) is not None and ledger.chain.checkpoint(None).size == 8  # type: ignore[union-attr]


def test_a_store_without_the_log_gets_it_at_start(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    hashes = _grow(ledger, 5)
    store = ledger.chain._store
    assert isinstance(store, MemoryKV)
    store._data = {k: v for k, v in store._data.items() if not k.startswith(b"cl:mt:")}
    reopened = LedgerChain(store, load_genesis(ledger.devnet.genesis_path))
    assert reopened.log.size == len(hashes)
    assert reopened.log.root(len(hashes)) == tlog.root(hashes)
