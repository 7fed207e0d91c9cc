"""The sealing loop driven by an injected clock (no sleeps, no threads): when blocks are opened,
executed into and sealed, and what the pool answers meanwhile.

The chain is in memory (``MemoryKV``, the store for unit tests): only the loop's decisions are
under test here; the on-disk store and the socket protocol are exercised by the in-process RPC
tests and the process tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_keys import keys
from eth_typing import Address

from conftest import DevNet
from node.chain import LedgerChain
from node.errors import TransactionRejected
from node.genesis import load_genesis
from node.kv import MemoryKV
from node.sealer import SealingLoop, decode_messages, encode_message


def _loop(devnet: DevNet, block_time: float = 1.0, **kwargs: Any) -> SealingLoop:
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    return SealingLoop(chain, keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:])), block_time=block_time,
                       **kwargs)


def _raw(devnet: DevNet, member: dict[str, Any], nonce: int) -> tuple[bytes, Address]:
    raw = Account.sign_transaction({"to": member["address"], "gas": 21_000, "gasPrice": 0, "value": 0,
                                    "nonce": nonce, "chainId": devnet.chain_id}, member["private_key"]).raw_transaction
    return bytes(raw), Address(bytes.fromhex(member["address"][2:]))


def _run_until_idle(loop: SealingLoop, now: float) -> list[Any]:
    sealed = []
    while (wake := loop.next_wake(now)) is not None and wake <= now:
        info = loop.step(now)
        if info is not None:
            sealed.append(info)
    return sealed


def test_idle_loop_has_nothing_to_do(devnet: DevNet) -> None:
    loop = _loop(devnet)
    assert loop.next_wake(0.0) is None
    assert loop.step(0.0) is None


def test_first_block_seals_at_once_then_one_per_block_time(devnet: DevNet) -> None:
    loop = _loop(devnet, block_time=1.0)
    member = devnet.member(0)
    loop.admit(*_raw(devnet, member, 0))
    (first,) = _run_until_idle(loop, 10.0)
    assert first.number == 1 and first.transactions == 1
    # The next transaction is executed at once, but its block waits for the block time.
    loop.admit(*_raw(devnet, member, 1))
    assert _run_until_idle(loop, 10.5) == []
    assert loop.builder is not None and len(loop.builder.included) == 1
    assert loop.next_wake(10.5) == 11.0
    loop.admit(*_raw(devnet, member, 2))
    (second,) = _run_until_idle(loop, 11.0)
    assert (second.number, second.transactions) == (2, 2)
    assert loop.next_wake(11.0) is None


def test_nonce_gap_waits_in_the_pool(devnet: DevNet) -> None:
    loop = _loop(devnet)
    member = devnet.member(1)
    loop.admit(*_raw(devnet, member, 1))
    assert loop.next_wake(0.0) is None  # nothing executable
    assert loop.pending_nonce(Address(bytes.fromhex(member["address"][2:]))) == 0
    loop.admit(*_raw(devnet, member, 0))
    (sealed,) = _run_until_idle(loop, 0.0)
    assert sealed.transactions == 2


def test_duplicates_and_stale_nonces_are_refused(devnet: DevNet) -> None:
    loop = _loop(devnet)
    member = devnet.member(2)
    raw, sender = _raw(devnet, member, 0)
    loop.admit(raw, sender)
    with pytest.raises(TransactionRejected, match="already known"):
        loop.admit(raw, sender)
    loop.step(0.0)  # executed into the open block (and sealed: the first block is due at once)
    with pytest.raises(TransactionRejected) as refused:
        loop.admit(raw, sender)
    assert refused.value.reason in ("known", "nonce_too_low")


def test_a_full_block_seals_at_the_block_time_and_the_rest_follows(devnet: DevNet) -> None:
    loop = _loop(devnet, block_time=1.0, max_block_txs=3)
    member = devnet.member(3)
    loop.admit(*_raw(devnet, member, 0))
    _run_until_idle(loop, 0.0)
    for nonce in range(1, 6):
        loop.admit(*_raw(devnet, member, nonce))
    # A full block (max_block_txs) is sealed as soon as the block time allows.
    assert _run_until_idle(loop, 0.5) == []
    sealed = _run_until_idle(loop, 1.0)
    assert [s.transactions for s in sealed] == [3]
    assert [s.transactions for s in _run_until_idle(loop, 2.0)] == [2]


def test_pending_transaction_is_served_from_the_open_block(devnet: DevNet) -> None:
    loop = _loop(devnet)
    member = devnet.member(4)
    _run_until_idle(loop, 0.0)
    loop.admit(*_raw(devnet, member, 0))
    _run_until_idle(loop, 0.0)  # first block sealed at once
    raw, sender = _raw(devnet, member, 1)
    tx_hash = loop.admit(raw, sender)
    loop.step(0.1)  # executed, not yet sealed
    assert loop.pending_transaction(tx_hash) == (raw, sender)
    assert loop.status()["pending"] == 1


def test_messages_round_trip_in_frames() -> None:
    buffer = bytearray(encode_message(("admit", 1, [(b"\x01", b"\x02" * 20)])) + encode_message(("status", 2)))
    whole = bytes(buffer)
    partial = bytearray(whole[:7])
    assert list(decode_messages(partial)) == [] and len(partial) == 7
    assert list(decode_messages(buffer)) == [("admit", 1, [(b"\x01", b"\x02" * 20)]), ("status", 2)]
    assert buffer == bytearray()


def test_a_burst_straddling_the_timer_waits_for_a_quiet_spell(devnet: DevNet) -> None:
    loop = _loop(devnet, block_time=1.0)
    member = devnet.member(5)
    loop.admit(*_raw(devnet, member, 0), now=0.0)
    assert [s.number for s in _run_until_idle(loop, 0.0)] == []  # the first transaction just arrived
    assert [s.transactions for s in _run_until_idle(loop, 0.1)] == [1]
    loop.admit(*_raw(devnet, member, 1), now=1.05)
    # Block time has passed, but transactions are still arriving: keep the block open.
    assert _run_until_idle(loop, 1.1) == []
    assert loop.next_wake(1.1) == pytest.approx(1.15)
    loop.admit(*_raw(devnet, member, 2), now=1.12)
    assert _run_until_idle(loop, 1.2) == []
    assert [s.transactions for s in _run_until_idle(loop, 1.3)] == [2]
