"""Decoding of JSON-RPC parameters; every failure is an InvalidParams naming the parameter."""

from __future__ import annotations

from typing import Any

from eth_typing import Address
from eth_utils import is_checksum_address, to_canonical_address

from node.errors import InvalidParams

BLOCK_TAGS = ("earliest", "latest", "pending", "safe", "finalized")


def arity(params: list[Any], minimum: int, maximum: int) -> list[Any]:
    if not minimum <= len(params) <= maximum:
        want = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
        raise InvalidParams(f"expected {want} parameters, got {len(params)}")
    return params + [None] * (maximum - len(params))


def quantity(value: Any, name: str) -> int:
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) > 2:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidParams(f"{name}: expected a hex quantity like 0x1a, got {value!r}")


def data(value: Any, name: str) -> bytes:
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        body = value[2:]
        if len(body) % 2 == 0:
            try:
                return bytes.fromhex(body)
            except ValueError:
                pass
    raise InvalidParams(f"{name}: expected 0x-prefixed hex bytes, got {value!r:.80}")


def hash32(value: Any, name: str) -> bytes:
    raw = data(value, name)
    if len(raw) != 32:
        raise InvalidParams(f"{name}: expected 32 bytes, got {len(raw)}")
    return raw


def address(value: Any, name: str) -> Address:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise InvalidParams(f"{name}: expected a 20-byte hex address, got {value!r:.80}")
    mixed = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if mixed and not is_checksum_address(value):
        raise InvalidParams(f"{name}: bad EIP-55 checksum in {value}")
    try:
        return Address(to_canonical_address(value))
    except ValueError as exc:
        raise InvalidParams(f"{name}: {exc}") from exc


def block_ref(value: Any, name: str = "block") -> str | int | bytes:
    """A block tag, number, or (EIP-1898) ``{"blockHash": ...}`` / ``{"blockNumber": ...}``."""
    if value is None:
        return "latest"
    if isinstance(value, str):
        if value in BLOCK_TAGS:
            return value
        if value.startswith("0x") and len(value) == 66:
            return hash32(value, name)
        return quantity(value, name)
    if isinstance(value, dict):
        if "blockHash" in value:
            return hash32(value["blockHash"], f"{name}.blockHash")
        if "blockNumber" in value:
            return block_ref(value["blockNumber"], f"{name}.blockNumber")
    raise InvalidParams(f"{name}: expected a block number, tag or hash, got {value!r:.80}")


def call_object(value: Any, name: str = "transaction") -> dict[str, Any]:
    """A transaction call object (execution-apis ``GenericTransaction``); ``input`` and ``data``
    are both accepted (cast sends both; they must agree)."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{name}: expected an object")
    out: dict[str, Any] = {}
    if value.get("from") is not None:
        out["from"] = address(value["from"], f"{name}.from")
    if value.get("to") is not None:
        out["to"] = address(value["to"], f"{name}.to")
    for key in ("gas", "value", "nonce"):
        if value.get(key) is not None:
            out[key] = quantity(value[key], f"{name}.{key}")
    inp = value.get("input")
    dat = value.get("data")
    if inp is not None and dat is not None and data(inp, f"{name}.input") != data(dat, f"{name}.data"):
        raise InvalidParams(f"{name}: both input and data given and they differ")
    payload = inp if inp is not None else dat
    out["data"] = data(payload, f"{name}.input") if payload is not None else b""
    return out


def storage_key(value: Any, name: str) -> int:
    """A storage slot: 32-byte DATA, or (as go-ethereum also accepts) a shorter hex number."""
    if isinstance(value, str) and value.startswith(("0x", "0X")) and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidParams(f"{name}: expected a 32-byte hex storage key, got {value!r:.80}")
