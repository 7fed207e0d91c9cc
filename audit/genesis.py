"""What the audit starts from: the genesis document of a CityLedger chain (or the address book
of a deployment on any other chain), read with the audit's own code.

A CityLedger genesis document (``cityledger-genesis/1``, documented in the node's
``node/genesis.py``) fully determines block 0: plain allocations, then the member registry's and
each domain contract's creation code run at a fixed address. The audit re-encodes the constructor
arguments itself (Solidity ABI; member kinds and levels are positions in the contracts' enums,
which the compiler's manifest lists) and has the independent EVM derive the genesis state
(``audit.executor.T8nExecutor.derive_genesis``); the derived state root must equal block 0's, so a
genesis document the auditor was handed, or fetched from the node (``cityledger_genesis``), is
authenticated by the chain itself.

A chain deployed by ``scripts/deploy`` (anvil, Besu) has no such document: its address book names
the contracts and the deployment block, and its genesis allocation is read from the node at block
0 (the node's own accounts and the usual predeploys), checked by re-executing block 1 (anvil's
block 0 carries the empty-trie root instead of its state root).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode

from audit.errors import AuditError
from audit.rpc import RpcClient

GENESIS_FORMAT = "cityledger-genesis/1"
ADDRESSBOOK_FORMAT = "cityledger-addressbook/1"
ARTIFACTS = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"
CONTRACTS = ("MemberRegistry", "DataSharing", "SupplyCustody", "Credit")
#: Addresses a node may hold code or balances at from genesis besides its accounts: the EIP-2935,
#: EIP-4788, EIP-7002 and EIP-7251 system contracts and the deterministic CREATE2 deployer.
PREDEPLOYS = ("0x0000f90827f1c53a10cb7a02335b175320002935", "0x000f3df6d732807ef1319fb7b8bb8522d0beac02",
              "0x00000961ef480eb55e80d19ad83579a64c007002", "0x0000bbddc7ce488642fb579f8b00f3a590007251",
              "0x4e59b44847b379578588920ca78fbf26c0b4956c", "0xca11bde05977b3631167028862be2a173976ca11")


class TrustInvalid(AuditError):
    """Raised when a genesis document or address book cannot be used: unreadable, of another
    format, or missing a field the audit needs. ``path`` names the file, ``reason`` the fault."""

    path: str
    reason: str

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    exit_code = 2


def _address(text: Any, where: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 42:
        raise TrustInvalid(where, f"expected an address, got {text!r:.60}")
    return bytes.fromhex(text[2:])


def _hex(text: Any, where: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise TrustInvalid(where, f"expected 0x-hex, got {text!r:.60}")
    return bytes.fromhex(text[2:])


@dataclass(frozen=True)
class Member:
    """A member admitted at genesis (ids follow document order from 1)."""

    id: int
    name: str
    kind: str
    accounts: tuple[bytes, ...]


@dataclass(frozen=True)
class ChainSpec:
    """What the audit knows about a chain before reading any block."""

    chain_id: int
    #: Contract name → address.
    addresses: dict[str, bytes]
    #: True for a CityLedger chain (sealed headers, genesis document); False for a deployment.
    poa: bool
    #: The block at and before which the contracts were being deployed (0 on CityLedger).
    deployment_block: int
    genesis_hash: bytes | None
    #: CityLedger chains: the genesis document and what it says.
    document: dict[str, Any] | None = None
    members: tuple[Member, ...] = ()
    admins: tuple[bytes, ...] = ()
    threshold: int = 0
    sealers: tuple[bytes, ...] = ()
    checkpoint_interval: int = 1

    def deployments(self, artifacts: Path = ARTIFACTS) -> list[tuple[bytes, bytes]]:
        """(address, init code) of each genesis contract in document order: creation code
        followed by the ABI-encoded constructor arguments."""
        assert self.document is not None
        enums = json.loads((artifacts / "manifest.json").read_text())["enums"]
        kinds = [k.lower() for k in enums["MemberRegistry.MemberKind"]]
        levels = [k.lower() for k in enums["MemberRegistry.Level"]]
        reg = self.document["registry"]
        members = [(m["name"], kinds.index(m["kind"]), levels.index(m["level"]),
                    [_address(a, "member account") for a in m["accounts"]],
                    _hex(m.get("encryptionKey", "0x" + "00" * 32), "encryptionKey"))
                   for m in reg["members"]]
        args = abi_encode(["(string,uint8,uint8,address[],bytes32)[]", "address[]", "uint256", "address[]"],
                          [members, list(self.admins), self.threshold, list(self.sealers)])
        out = [(self.addresses["MemberRegistry"], _hex(reg["creationCode"], "registry.creationCode") + args)]
        for contract in self.document.get("contracts", []):
            ctor = contract.get("constructor", {"types": [], "values": []})
            out.append((_address(contract["address"], "contract address"),
                        _hex(contract["creationCode"], "creationCode") + abi_encode(ctor["types"], ctor["values"])))
        return out

    def plain_alloc(self) -> dict[str, Any]:
        """The document's plain allocations in t8n's ``alloc`` form."""
        assert self.document is not None
        out: dict[str, Any] = {}
        for address, acc in (self.document.get("alloc") or {}).items():
            def q(value: Any) -> str:
                return hex(int(value, 16) if isinstance(value, str) and value.startswith("0x") else int(value))
            out[address.lower()] = {"balance": q(acc.get("balance", 0)), "nonce": q(acc.get("nonce", 0)),
                                    "code": acc.get("code", "0x"),
                                    "storage": {"0x" + int(k, 16).to_bytes(32, "big").hex(): "0x" + int(v, 16).to_bytes(32, "big").hex()
                                                for k, v in (acc.get("storage") or {}).items()}}
        return out


def parse_genesis(doc: Any, where: str = "genesis") -> ChainSpec:
    """Read a ``cityledger-genesis/1`` document (fields as ``node/genesis.py`` documents them)."""
    if not isinstance(doc, dict) or doc.get("format") != GENESIS_FORMAT:
        raise TrustInvalid(where, f"not a {GENESIS_FORMAT} document")
    try:
        reg = doc["registry"]
        addresses = {"MemberRegistry": _address(reg["address"], "registry.address")}
        for contract in doc.get("contracts", []):
            addresses[str(contract["name"])] = _address(contract["address"], "contract address")
        members = tuple(Member(i, m["name"], m["kind"], tuple(_address(a, "account") for a in m["accounts"]))
                        for i, m in enumerate(reg["members"], start=1))
        return ChainSpec(
            chain_id=int(doc["chainId"]), addresses=addresses, poa=True, deployment_block=0, genesis_hash=None,
            document=doc, members=members, admins=tuple(_address(a, "admin") for a in reg["admins"]),
            threshold=int(reg["threshold"]), sealers=tuple(_address(a, "sealer") for a in reg["sealers"]),
            checkpoint_interval=int(doc.get("checkpointInterval", 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise TrustInvalid(where, f"missing or malformed field: {exc!r}") from exc


def parse_addressbook(doc: Any, where: str = "addressbook") -> ChainSpec:
    """Read an address book (``scripts/deploy``): chain id, contract addresses, deployment block."""
    if not isinstance(doc, dict) or doc.get("format") != ADDRESSBOOK_FORMAT:
        raise TrustInvalid(where, f"not a {ADDRESSBOOK_FORMAT} document")
    try:
        addresses = {name: _address(entry["address"], f"contracts.{name}") for name, entry in doc["contracts"].items()}
        block = int(doc["deployment"]["block"])
        return ChainSpec(chain_id=int(doc["chainId"]), addresses=addresses, poa=block == 0, deployment_block=block,
                         genesis_hash=_hex(doc["deployment"]["blockHash"], "deployment.blockHash") if block == 0 else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise TrustInvalid(where, f"missing or malformed field: {exc!r}") from exc


def load_trust_file(path: Path) -> ChainSpec:
    """A genesis document or an address book, told apart by its ``format``."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrustInvalid(str(path), f"cannot read: {exc}") from exc
    if isinstance(doc, dict) and doc.get("format") == GENESIS_FORMAT:
        return parse_genesis(doc, str(path))
    return parse_addressbook(doc, str(path))


def node_alloc(rpc: RpcClient) -> dict[str, Any]:
    """The genesis allocation of a chain without a genesis document, read at block 0: the node's
    own accounts (``eth_accounts``) and :data:`PREDEPLOYS`, with balance, nonce and code (their
    storage is taken as empty). Re-executing block 1 checks the result."""
    candidates = sorted({a.lower() for a in rpc.call("eth_accounts") or []} | set(PREDEPLOYS))
    calls = [c for a in candidates for c in (("eth_getBalance", [a, "0x0"]), ("eth_getTransactionCount", [a, "0x0"]),
                                             ("eth_getCode", [a, "0x0"]))]
    answers = rpc.batch(calls)
    alloc: dict[str, Any] = {}
    for i, address in enumerate(candidates):
        balance, nonce, code = answers[3 * i: 3 * i + 3]
        if int(balance, 16) or int(nonce, 16) or code not in ("0x", None):
            alloc[address] = {"balance": balance, "nonce": nonce, "code": code or "0x"}
    return alloc
