"""Contract calls built from the committed ABIs and signed with a member's key.

Everything a member does on chain is one of these: ``TxBuilder.call("SupplyCustody",
"transfer", [...])`` gives the calldata, ``Signer.sign`` a raw EIP-1559 transaction with zero fees
(the chain pins its base fee to zero; a zero priority fee needs no balance).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

from gateway.contracts import CONTRACTS, AddressBook
from gateway.errors import GatewayError


@dataclass
class CallInvalid(GatewayError):
    """Raised when a contract call cannot be built (unknown function, wrong arguments)."""

    contract: str
    function: str
    detail: str
    status = 422
    slug = "call-invalid"

    def __str__(self) -> str:
        return f"{self.contract}.{self.function}: {self.detail}"


def _type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def _value(param: dict[str, Any], value: Any) -> Any:
    """JSON-ish values (dicts for tuples, hex strings for bytes) into what eth_abi encodes."""
    kind: str = param["type"]
    if kind.endswith("]"):
        inner = {**param, "type": kind[: kind.rindex("[")]}
        return [_value(inner, v) for v in value]
    if kind == "tuple":
        comps = param["components"]
        if isinstance(value, dict):
            return tuple(_value(c, value[c["name"]]) for c in comps)
        return tuple(_value(c, v) for c, v in zip(comps, value))
    if kind.startswith("bytes") and isinstance(value, str):
        raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
        return raw
    if kind.startswith(("uint", "int")) and isinstance(value, str):
        return int(value, 0)
    return value


@dataclass(frozen=True)
class Function:
    contract: str
    name: str
    selector: bytes
    inputs: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]

    def encode(self, args: Sequence[Any]) -> bytes:
        if len(args) != len(self.inputs):
            raise CallInvalid(self.contract, self.name, f"expects {len(self.inputs)} arguments, got {len(args)}")
        try:
            values = [_value(p, a) for p, a in zip(self.inputs, args)]
            return self.selector + abi_encode([_type(p) for p in self.inputs], values)
        except Exception as exc:  # eth_abi raises several encoding error types
            raise CallInvalid(self.contract, self.name, str(exc)) from exc

    def decode_input(self, calldata: bytes) -> tuple[Any, ...]:
        if calldata[:4] != self.selector:
            raise CallInvalid(self.contract, self.name, "the calldata is for another function")
        return tuple(abi_decode([_type(p) for p in self.inputs], calldata[4:]))

    def decode_output(self, data: bytes) -> tuple[Any, ...]:
        return tuple(abi_decode([_type(p) for p in self.outputs], data))


class TxBuilder:
    """Calldata for every function of the four contracts."""

    def __init__(self, artifacts: Path, book: AddressBook) -> None:
        self.book = book
        self.functions: dict[tuple[str, str], Function] = {}
        self.errors: dict[bytes, tuple[str, str, tuple[dict[str, Any], ...]]] = {}
        for contract in CONTRACTS:
            abi = json.loads((artifacts / f"{contract}.json").read_text())["abi"]
            for item in abi:
                if item.get("type") == "function":
                    sig = f"{item['name']}({','.join(_type(p) for p in item['inputs'])})"
                    self.functions[(contract, item["name"])] = Function(
                        contract, item["name"], keccak(sig.encode())[:4], tuple(item["inputs"]), tuple(item["outputs"]))
                elif item.get("type") == "error":
                    sig = f"{item['name']}({','.join(_type(p) for p in item['inputs'])})"
                    self.errors[keccak(sig.encode())[:4]] = (contract, item["name"], tuple(item["inputs"]))

    def function(self, contract: str, name: str) -> Function:
        fn = self.functions.get((contract, name))
        if fn is None:
            raise CallInvalid(contract, name, "no such function in the contract's ABI")
        return fn

    def call(self, contract: str, name: str, args: Sequence[Any]) -> tuple[bytes, bytes]:
        """``(to, calldata)`` for ``contract.name(*args)``."""
        return self.book.addresses[contract], self.function(contract, name).encode(args)

    def decode_error(self, data: bytes) -> dict[str, Any] | None:
        """A custom error's name and arguments from revert data (None when unknown)."""
        found = self.errors.get(data[:4])
        if found is None:
            return None
        contract, name, inputs = found
        try:
            values = abi_decode([_type(p) for p in inputs], data[4:])
        except Exception:  # malformed revert data is reported raw by the caller
            return None
        from gateway.contracts import _json_value

        return {"contract": contract, "error": name,
                "args": {p["name"]: _json_value(p["type"], v, p.get("components")) for p, v in zip(inputs, values)}}


class Signer:
    """A member's key: signs transactions locally."""

    def __init__(self, private_key: str | bytes, chain_id: int) -> None:
        self._account = Account.from_key(private_key)
        self.chain_id = chain_id

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign(self, to: bytes, data: bytes, *, nonce: int, gas: int) -> bytes:
        from eth_utils import to_checksum_address

        tx = {"type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to_checksum_address(to), "data": data,
              "value": 0, "gas": gas, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        return bytes(Account.sign_transaction(tx, self._account.key).raw_transaction)

    def sign_message(self, text: str) -> str:
        from eth_account.messages import encode_defunct

        return "0x" + bytes(Account.sign_message(encode_defunct(text=text), self._account.key).signature).hex()

    def sign_typed_data(self, full_message: dict[str, Any]) -> bytes:
        from eth_account.messages import encode_typed_data

        return bytes(Account.sign_message(encode_typed_data(full_message=full_message), self._account.key).signature)
