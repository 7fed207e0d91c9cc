"""Decoding the contracts' logs with their ABIs (the committed artifacts are data the audit reads,
like the address book; the decoder is the Solidity ABI specification via ``eth_abi``).

topic0 is keccak256 of the event's canonical signature; indexed arguments are the following
topics (dynamic types as their keccak256), the others ABI-encoded in the data. Values come out as
Python values: integers, ``0x``-hex lower-case strings for addresses and fixed bytes, strings, and
dictionaries for structs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from audit.chain import Log
from audit.errors import AuditError


class EventDecodeError(AuditError):
    """Raised when a log from a known contract carries a known topic0 but its topics or data do
    not decode with the event's ABI. ``event`` names the event, ``reason`` the fault."""

    event: str
    reason: str

    def __init__(self, event: str, reason: str) -> None:
        self.event = event
        self.reason = reason
        super().__init__(f"{event}: {reason}")


def _type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def _value(param: dict[str, Any], value: Any) -> Any:
    kind: str = param["type"]
    if kind.endswith("]"):
        inner = {**param, "type": kind[: kind.rindex("[")]}
        return [_value(inner, v) for v in value]
    if kind == "tuple":
        return {c["name"]: _value(c, v) for c, v in zip(param["components"], value)}
    if kind == "address":
        return str(value).lower()
    if kind.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


@dataclass(frozen=True)
class Event:
    """A decoded log: contract, event name, arguments."""

    contract: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class _Abi:
    contract: str
    name: str
    signature: str
    inputs: list[dict[str, Any]]


class EventCodec:
    """Event ABIs of the contracts at their addresses."""

    def __init__(self, addresses: dict[str, bytes], artifacts: Path) -> None:
        self._by_key: dict[tuple[bytes, bytes], _Abi] = {}
        self.signatures: dict[str, str] = {}
        for contract, address in addresses.items():
            try:
                abi = json.loads((artifacts / f"{contract}.json").read_text())["abi"]
            except (OSError, ValueError, KeyError):
                continue
            for item in abi:
                if item.get("type") != "event":
                    continue
                signature = f"{item['name']}({','.join(_type(p) for p in item['inputs'])})"
                entry = _Abi(contract, item["name"], signature, item["inputs"])
                self._by_key[(address, keccak(signature.encode()))] = entry
                self.signatures[f"{contract}.{item['name']}"] = signature
        self.addresses = {a: c for c, a in addresses.items()}

    def decode(self, log: Log) -> Event | None:
        """The event of a log from one of the contracts, None for any other log."""
        if not log.topics:
            return None
        abi = self._by_key.get((log.address, log.topics[0]))
        if abi is None:
            return None
        indexed = [p for p in abi.inputs if p.get("indexed")]
        plain = [p for p in abi.inputs if not p.get("indexed")]
        if len(log.topics) != 1 + len(indexed):
            raise EventDecodeError(abi.name, f"{len(log.topics)} topics for {len(indexed)} indexed inputs")
        args: dict[str, Any] = {}
        try:
            for param, topic in zip(indexed, log.topics[1:]):
                dynamic = param["type"] in ("string", "bytes") or param["type"].endswith("]") or param["type"].startswith("tuple")
                args[param["name"]] = "0x" + topic.hex() if dynamic else _value(param, abi_decode([param["type"]], topic)[0])
            for param, value in zip(plain, abi_decode([_type(p) for p in plain], log.data)):
                args[param["name"]] = _value(param, value)
        except Exception as exc:  # eth_abi raises several decoding errors
            raise EventDecodeError(abi.name, f"does not decode with its ABI: {exc}") from exc
        return Event(abi.contract, abi.name, args)
