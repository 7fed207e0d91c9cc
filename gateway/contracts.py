"""The contracts the gateway indexes: addresses (the address book) and ABIs (the artifacts).

Both are data shared with the node and the audit toolkit, never code (STYLE 1). Events are
decoded with ``eth_abi`` into JSON-ready values: addresses as checksummed hex, bytes as 0x-hex,
integers as ints (JSON numbers up to 2^53, decimal strings above, so JavaScript clients never
lose precision).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from gateway.errors import GatewayError

ADDRESSBOOK_FORMAT = "cityledger-addressbook/1"
CONTRACTS = ("MemberRegistry", "DataSharing", "SupplyCustody", "Credit")
_SAFE_INT = 2**53


@dataclass
class ConfigurationInvalid(GatewayError):
    """Raised when the address book or the contract artifacts cannot be used."""

    detail: str
    status = 500
    slug = "configuration-invalid"

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class AddressBook:
    """Where the contracts live on one chain, and from which block."""

    chain_id: int
    deployment_block: int
    deployment_hash: bytes
    addresses: dict[str, bytes]

    @classmethod
    def load(cls, path: Path) -> AddressBook:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationInvalid(f"cannot read the address book {path}: {exc!r}") from exc
        return cls.from_json(doc, str(path))

    @classmethod
    def from_json(cls, doc: Any, source: str = "address book") -> AddressBook:
        """An address book from its JSON document (``cityledger-addressbook/1``)."""
        try:
            if doc.get("format") != ADDRESSBOOK_FORMAT:
                raise ConfigurationInvalid(f"{source}: format is {doc.get('format')!r}, expected {ADDRESSBOOK_FORMAT!r}")
            addresses = {name: bytes.fromhex(doc["contracts"][name]["address"][2:]) for name in CONTRACTS}
            return cls(int(doc["chainId"]), int(doc["deployment"]["block"]),
                       bytes.fromhex(doc["deployment"]["blockHash"][2:]), addresses)
        except (AttributeError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationInvalid(f"cannot read the address book {source}: {exc!r}") from exc

    def to_json(self, consensus: str | None = None) -> dict[str, Any]:
        """The address book's JSON document (what ``scripts/deploy`` writes)."""
        doc: dict[str, Any] = {"format": ADDRESSBOOK_FORMAT, "chainId": self.chain_id}
        if consensus is not None:
            doc["consensus"] = consensus
        doc["deployment"] = {"block": self.deployment_block, "blockHash": "0x" + self.deployment_hash.hex()}
        doc["contracts"] = {name: {"address": to_checksum_address(address)} for name, address in self.addresses.items()}
        return doc

    def name_of(self, address: bytes) -> str | None:
        for name, addr in self.addresses.items():
            if addr == address:
                return name
        return None


def _json_value(kind: str, value: Any, components: list[dict[str, Any]] | None = None) -> Any:
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [_json_value(inner, v, components) for v in value]
    if kind == "tuple":
        assert components is not None
        return {c["name"]: _json_value(c["type"], v, c.get("components")) for c, v in zip(components, value)}
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("bytes"):
        return "0x" + bytes(value).hex()
    if kind.startswith(("uint", "int")):
        return int(value) if -_SAFE_INT < value < _SAFE_INT else str(value)
    return value


def _canonical(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + kind[5:]
    return kind


@dataclass(frozen=True)
class EventAbi:
    contract: str
    name: str
    signature: str
    topic0: bytes
    inputs: tuple[dict[str, Any], ...]

    def decode(self, topics: tuple[bytes, ...], data: bytes) -> dict[str, Any]:
        """Arguments by name. Indexed dynamic values (strings, arrays) arrive only as hashes."""
        indexed = [p for p in self.inputs if p.get("indexed")]
        plain = [p for p in self.inputs if not p.get("indexed")]
        if len(topics) != 1 + len(indexed):
            raise ValueError(f"{self.name}: expected {1 + len(indexed)} topics, got {len(topics)}")
        out: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:]):
            if param["type"] in ("string", "bytes") or param["type"].endswith("]") or param["type"].startswith("tuple"):
                out[param["name"]] = "0x" + topic.hex()
            else:
                (value,) = abi_decode([param["type"]], topic)
                out[param["name"]] = _json_value(param["type"], value)
        values = abi_decode([_canonical(p) for p in plain], data)
        for param, value in zip(plain, values):
            out[param["name"]] = _json_value(param["type"], value, param.get("components"))
        return {p["name"]: out[p["name"]] for p in self.inputs}


class EventCodec:
    """Every event of the indexed contracts, by (address, topic0)."""

    def __init__(self, artifacts: Path, book: AddressBook) -> None:
        self.book = book
        self._events: dict[tuple[bytes, bytes], EventAbi] = {}
        self.abis: dict[str, list[dict[str, Any]]] = {}
        for contract in CONTRACTS:
            try:
                abi = json.loads((artifacts / f"{contract}.json").read_text())["abi"]
            except (OSError, ValueError, KeyError) as exc:
                raise ConfigurationInvalid(f"cannot read the {contract} artifact in {artifacts}: {exc!r}") from exc
            self.abis[contract] = abi
            for item in abi:
                if item.get("type") != "event":
                    continue
                signature = f"{item['name']}({','.join(_canonical(p) for p in item['inputs'])})"
                ev = EventAbi(contract, item["name"], signature, keccak(signature.encode()), tuple(item["inputs"]))
                self._events[(book.addresses[contract], ev.topic0)] = ev

    def lookup(self, address: bytes, topics: tuple[bytes, ...]) -> EventAbi | None:
        if not topics:
            return None
        return self._events.get((address, topics[0]))

    def signature_of(self, contract: str, name: str) -> str:
        for ev in self._events.values():
            if ev.contract == contract and ev.name == name:
                return ev.signature
        raise KeyError(f"{contract} has no event {name}")

    @property
    def addresses(self) -> list[bytes]:
        return list(self.book.addresses.values())
