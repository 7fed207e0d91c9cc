"""The pending pool and stateless admission, unit by unit (no chain: states are given)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from node.errors import TransactionRejected
from node.txpool import MAX_NONCE_GAP, TxPool, decode_transaction

CHAIN_ID = 4242
KEYS = ["0x" + bytes([i]) .hex() * 32 for i in range(1, 4)]


def _tx(key: str, nonce: int, **fields: Any) -> Any:
    body = {"to": "0x" + "11" * 20, "gas": 21_000, "gasPrice": 0, "value": 0, "nonce": nonce, "chainId": CHAIN_ID,
            **fields}
    return decode_transaction(bytes(Account.sign_transaction(body, key).raw_transaction), CHAIN_ID)


def _admit(pool: TxPool, tx: Any, state_nonce: int = 0, **kwargs: Any) -> None:
    pool.admit(tx, state_nonce=state_nonce, balance=kwargs.get("balance", 0), is_member=kwargs.get("is_member", True),
               block_gas_limit=kwargs.get("block_gas_limit", 30_000_000))


def test_ready_interleaves_senders_by_arrival_and_stops_at_gaps() -> None:
    pool = TxPool()
    a0, a1, a3 = (_tx(KEYS[0], n) for n in (0, 1, 3))
    b0 = _tx(KEYS[1], 0)
    for tx in (a0, b0, a1, a3):
        _admit(pool, tx)
    ready = pool.ready(lambda _sender: 0, 10)
    assert [t.hash for t in ready] == [a0.hash, b0.hash, a1.hash]
    assert pool.pending_nonce(a0.sender, 0) == 2
    pool.remove([a0, b0])
    assert pool.prune(lambda _sender: 2) == [a1]
    assert len(pool) == 1 and a3.hash in pool


@pytest.mark.parametrize(("tx_nonce", "state_nonce", "kwargs", "reason"), [
    (0, 1, {}, "nonce_too_low"),
    (MAX_NONCE_GAP + 1, 0, {}, "nonce_too_high"),
    (0, 0, {"is_member": False}, "not_member"),
    (0, 0, {"block_gas_limit": 20_000}, "gas_limit"),
])
def test_stateful_refusals(tx_nonce: int, state_nonce: int, kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(TransactionRejected) as refused:
        _admit(TxPool(), _tx(KEYS[2], tx_nonce), state_nonce, **kwargs)
    assert refused.value.reason == reason


def test_funds_and_replacement() -> None:
    pool = TxPool()
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        _admit(pool, _tx(KEYS[0], 0, gasPrice=1))
    _admit(pool, _tx(KEYS[0], 0))
    with pytest.raises(TransactionRejected, match="replacement transaction underpriced"):
        _admit(pool, _tx(KEYS[0], 0, gas=22_000))


def test_stateless_refusals() -> None:
    with pytest.raises(TransactionRejected, match="invalid chain id"):
        decode_transaction(bytes(Account.sign_transaction(
            {"to": "0x" + "11" * 20, "gas": 21_000, "gasPrice": 0, "value": 0, "nonce": 0, "chainId": 1},
            KEYS[0]).raw_transaction), CHAIN_ID)
    with pytest.raises(TransactionRejected, match="empty transaction"):
        decode_transaction(b"", CHAIN_ID)
