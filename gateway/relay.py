"""Relaying members' signed transactions: checked, dry-run, sent, sealed, indexed, proven.

The gateway never holds a member key. A member signs a transaction on its own machine and posts
the raw bytes; the gateway refuses anything that is not a state-changing call of one of the four
contracts, for this chain, from the signed-in member's own account. It first runs the call with
``eth_call`` at the head: a call that would revert is answered with the contract's custom error
decoded by name and arguments, and nothing is broadcast (the member's nonce is not spent). A sent
transaction is awaited until it is sealed and indexed, then answered with its events and their
proofs in the gateway's proof format.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import rlp
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from gateway.chain.codec import hex_int
from gateway.client.transactions import TxBuilder
from gateway.errors import GatewayError, UpstreamRpcError

RECEIPT_TIMEOUT = 60.0


@dataclass
class TransactionRefused(GatewayError):
    """Raised when a relayed transaction is not one the gateway relays: ``reason`` is
    ``malformed``, ``chain``, ``sender``, ``target``, ``function`` or ``node`` (the node refused it)."""

    reason: str
    detail: str
    status = 422
    slug = "transaction-refused"

    def __str__(self) -> str:
        return self.detail


@dataclass
class TransactionReverted(GatewayError):
    """Raised when a call reverts (in the dry run, or when sealed); ``error`` is the contract's
    custom error by name, ``arguments`` its arguments."""

    contract: str
    function: str
    error: str
    arguments: dict[str, Any]
    tx_hash: str | None = None
    status = 422
    slug = "transaction-reverted"

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.arguments.items())
        return f"{self.contract}.{self.function} reverted with {self.error}({shown})"


@dataclass
class ReceiptTimeout(GatewayError):
    """Raised when a relayed transaction is not sealed within the gateway's wait."""

    tx_hash: str
    status = 504
    slug = "receipt-timeout"

    def __str__(self) -> str:
        return f"{self.tx_hash} was sent but not sealed within {RECEIPT_TIMEOUT:.0f} s; ask again later"


@dataclass(frozen=True)
class DecodedTransaction:
    raw: bytes
    sender: str
    chain_id: int | None
    to: bytes
    data: bytes
    nonce: int
    contract: str
    function: str
    args: tuple[Any, ...]


def decode_transaction(raw: bytes, builder: TxBuilder) -> DecodedTransaction:
    """Decode a raw signed transaction and the contract call it carries."""
    try:
        sender = str(Account.recover_transaction(raw))
        if raw and raw[0] < 0x80:
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            chain_id: int | None = int(fields["chainId"])
            to = bytes(HexBytes(fields.get("to") or b""))
            data = bytes(HexBytes(fields.get("data", b"")))
            nonce = int(fields["nonce"])
        else:
            nonce_raw, _price, _gas, to, _value, data, v, _r, _s = rlp.decode(raw)
            v_int = int.from_bytes(v, "big")
            chain_id = (v_int - 35) // 2 if v_int >= 35 else None
            nonce = int.from_bytes(nonce_raw, "big")
    except Exception as exc:  # eth-account and rlp raise several types for malformed input
        raise TransactionRefused("malformed", f"not a signed transaction: {exc}") from exc
    contract = builder.book.name_of(bytes(to))
    if contract is None:
        raise TransactionRefused("target", f"0x{bytes(to).hex()} is not one of the ledger's contracts")
    function = next((f for (c, _), f in builder.functions.items() if c == contract and f.selector == bytes(data)[:4]), None)
    if function is None:
        raise TransactionRefused("function", f"the calldata is not a call of any {contract} function")
    try:
        args = function.decode_input(bytes(data))
    except Exception as exc:  # eth_abi raises several decoding errors
        raise TransactionRefused("function", f"the calldata does not decode as {contract}.{function.name}: {exc}") from exc
    return DecodedTransaction(raw, sender, chain_id, bytes(to), bytes(data), nonce, contract, function.name, args)


class Relay:
    """Relays one member's transactions through the gateway's node connection."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.builder: TxBuilder = services.extras.get("txbuilder") or TxBuilder(services.settings.artifacts, services.book)
        services.extras["txbuilder"] = self.builder

    def check(self, raw: bytes, account: str) -> DecodedTransaction:
        tx = decode_transaction(raw, self.builder)
        if tx.chain_id != self.services.book.chain_id:
            raise TransactionRefused("chain", f"the transaction is for chain {tx.chain_id}, this is chain {self.services.book.chain_id}"
                                     + (" (sign with EIP-155 replay protection)" if tx.chain_id is None else ""))
        if tx.sender.lower() != account.lower():
            raise TransactionRefused("sender", f"the transaction is signed by {tx.sender}, not by the signed-in account {account}")
        return tx

    async def dry_run(self, tx: DecodedTransaction, block: str = "latest") -> None:
        call = {"from": tx.sender, "to": "0x" + tx.to.hex(), "data": "0x" + tx.data.hex()}
        try:
            await self.services.rpc.call("eth_call", [call, block])
        except UpstreamRpcError as exc:
            revert = exc.data if isinstance(exc.data, str) and exc.data.startswith("0x") else "0x"
            decoded = self.builder.decode_error(bytes.fromhex(revert[2:]))
            if decoded is None:
                raise TransactionReverted(tx.contract, tx.function, "ExecutionReverted", {"message": exc.message,
                                                                                        "data": revert}) from exc
            raise TransactionReverted(tx.contract, tx.function, decoded["error"], decoded["args"]) from exc

    async def send(self, tx: DecodedTransaction) -> dict[str, Any]:
        """Dry-run, send, wait for the seal and the index; the receipt (status 1) as JSON."""
        await self.dry_run(tx)
        try:
            tx_hash = await self.services.rpc.call("eth_sendRawTransaction", ["0x" + tx.raw.hex()])
        except UpstreamRpcError as exc:
            raise TransactionRefused("node", f"the node refused the transaction: {exc.message}") from exc
        deadline = time.monotonic() + RECEIPT_TIMEOUT
        self.services.indexer.wake()
        while True:
            receipt = await self.services.rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            if time.monotonic() > deadline:
                raise ReceiptTimeout(str(tx_hash))
            await asyncio.sleep(0.02)  # polling the node for the seal, bounded by the deadline
        number = hex_int(receipt["blockNumber"], "receipt.blockNumber")
        if hex_int(receipt["status"], "receipt.status") != 1:
            try:
                await self.dry_run(tx, hex(number - 1))
            except TransactionReverted as reverted:
                reverted.tx_hash = str(tx_hash)
                raise
            raise TransactionReverted(tx.contract, tx.function, "Reverted", {}, str(tx_hash))
        await self.services.indexer.wait_for(number)
        return dict(receipt)
