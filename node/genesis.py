"""Genesis as data: a JSON document loaded into a frozen, documented configuration.

The document names the chain id, the initial gas limit and timestamp, plain account allocations,
and the member registry deployed at genesis with its constructor arguments (members, admins and
threshold, sealers). The registry's role rules are checked here too, naming the field: admins and
sealers are accounts of members of kind ``admin``, and the threshold counts distinct admin members.
Member kinds and levels are the contract's enum names in lower case, read from the compiler's
manifest (``contract_enum``). The registry's creation code is part of the document, so a genesis file fully
determines the genesis state without the contract artifacts; the node runs that creation code
once, at a fixed address, when it builds the genesis state.

Format ``cityledger-genesis/1``::

    {
      "format": "cityledger-genesis/1",
      "chainId": 17228,
      "timestamp": 1764000000,
      "gasLimit": 500000000,
      "extraData": "0x...",                # vanity, at most 32 bytes
      "development": true,                 # dev keys exist for this chain; never in production
      "checkpointInterval": 1,             # optional, default 1: the sealer signs a checkpoint of
                                           # the block-hash log (node/checkpoints.py) in the commit
                                           # of every block whose tree size (height + 1) is a
                                           # multiple of it; not part of the genesis state, so a
                                           # document without it keeps its genesis hash
      "alloc": {"0xADDR": {"balance": "0x0", "nonce": 0, "code": "0x", "storage": {"0x0": "0x1"}}},
      "registry": {
        "address": "0x...", "creationCode": "0x...", "artifactSha256": "...",
        "threshold": 2, "admins": ["0x..."], "sealers": ["0x..."],
        "members": [{"name": "...", "kind": "department", "level": "city",
                     "accounts": ["0x..."], "encryptionKey": "0x<32 bytes>"}]
      },
      "contracts": [                       # deployed in order, after the registry
        {"name": "DataSharing", "address": "0x...", "artifactSha256": "...",
         "constructor": {"types": ["address"], "values": ["0x<registry>"]}, "creationCode": "0x..."}
      ]
    }
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_typing import Address
from eth_utils import to_canonical_address, to_checksum_address

from node.errors import GenesisError

GENESIS_FORMAT = "cityledger-genesis/1"
#: Blocks between two signed checkpoints when the genesis document does not say. One per block:
#: the sealer makes blocks only while transactions are pending, so with a larger interval the
#: newest blocks of a quiet chain would stay outside every checkpoint (and every witness's view)
#: until more traffic came; a checkpoint costs one signature and ~200 bytes per block.
DEFAULT_CHECKPOINT_INTERVAL = 1
#: Where the member registry lives on every CityLedger chain built from a genesis file.
DEFAULT_REGISTRY_ADDRESS = to_canonical_address("0x00000000000000000000000000000000c1700001")
#: The deployer address used for the genesis creation message (no key exists for it).
GENESIS_DEPLOYER = to_canonical_address("0x00000000000000000000000000000000c1700000")

#: The compiler's manifest: besides hashes and settings it lists the member names of every enum the
#: contracts define, read from the Solidity AST by ``scripts/compile.mjs``.
MANIFEST = Path(__file__).resolve().parents[1] / "contracts" / "artifacts" / "manifest.json"


def contract_enum(qualified_name: str, manifest: Path = MANIFEST) -> tuple[str, ...]:
    """Member names of a contract enum (``"MemberRegistry.MemberKind"``), in declaration order, so
    that name ``i`` is the enum's numeric value ``i``. Read from the manifest, never copied here."""
    try:
        enums = json.loads(manifest.read_text())["enums"]
        return tuple(str(name) for name in enums[qualified_name])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenesisError(f"cannot read enum {qualified_name} from {manifest}: {exc!r}") from exc


#: Genesis documents spell kinds and levels in lower case ("department", "city"); the numeric value
#: is the position in the contract's ``MemberKind`` and ``Level`` enums.
MEMBER_KINDS = tuple(name.lower() for name in contract_enum("MemberRegistry.MemberKind"))
LEVELS = tuple(name.lower() for name in contract_enum("MemberRegistry.Level"))


@dataclass(frozen=True)
class AccountAlloc:
    """A plain account in the genesis state."""

    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GenesisMember:
    """A member admitted at genesis (status Active)."""

    name: str
    kind: str
    level: str
    accounts: tuple[Address, ...]
    encryption_key: bytes  # X25519 public key, 32 bytes (all zero when not yet set)


@dataclass(frozen=True)
class RegistryGenesis:
    """The member registry deployed at genesis, with its constructor arguments."""

    address: Address
    creation_code: bytes
    artifact_sha256: str
    members: tuple[GenesisMember, ...]
    admins: tuple[Address, ...]
    threshold: int
    sealers: tuple[Address, ...]

    def init_code(self) -> bytes:
        """Creation code followed by the ABI-encoded constructor arguments."""
        members = [
            (m.name, MEMBER_KINDS.index(m.kind), LEVELS.index(m.level), list(m.accounts),
             m.encryption_key)
            for m in self.members
        ]
        args = abi_encode(
            ["(string,uint8,uint8,address[],bytes32)[]", "address[]", "uint256", "address[]"],
            [members, list(self.admins), self.threshold, list(self.sealers)],
        )
        return self.creation_code + args


@dataclass(frozen=True)
class GenesisContract:
    """A further contract deployed at genesis, after the registry (the domain contracts)."""

    name: str
    address: Address
    creation_code: bytes
    artifact_sha256: str
    #: Constructor argument ABI types and JSON values (addresses as hex strings).
    arg_types: tuple[str, ...] = ()
    arg_values: tuple[Any, ...] = ()

    def init_code(self) -> bytes:
        """Creation code followed by the ABI-encoded constructor arguments."""
        return self.creation_code + abi_encode(list(self.arg_types), list(self.arg_values))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": to_checksum_address(self.address),
            "artifactSha256": self.artifact_sha256,
            "constructor": {"types": list(self.arg_types), "values": list(self.arg_values)},
            "creationCode": "0x" + self.creation_code.hex(),
        }


@dataclass(frozen=True)
class Genesis:
    """A chain's genesis: everything needed to rebuild block 0 bit for bit."""

    chain_id: int
    timestamp: int
    gas_limit: int
    extra_data: bytes
    alloc: Mapping[Address, AccountAlloc]
    registry: RegistryGenesis
    development: bool = False
    contracts: tuple[GenesisContract, ...] = ()
    #: Blocks between two signed checkpoints (see the module docstring).
    checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL

    def to_json(self) -> dict[str, Any]:
        """The document form (see the module docstring)."""
        reg = self.registry
        return {
            "format": GENESIS_FORMAT,
            "chainId": self.chain_id,
            "timestamp": self.timestamp,
            "gasLimit": self.gas_limit,
            "extraData": "0x" + self.extra_data.hex(),
            "development": self.development,
            "checkpointInterval": self.checkpoint_interval,
            "alloc": {
                to_checksum_address(addr): {
                    "balance": hex(acc.balance),
                    "nonce": acc.nonce,
                    "code": "0x" + acc.code.hex(),
                    "storage": {hex(k): hex(v) for k, v in acc.storage.items()},
                }
                for addr, acc in self.alloc.items()
            },
            "registry": {
                "address": to_checksum_address(reg.address),
                "artifactSha256": reg.artifact_sha256,
                "threshold": reg.threshold,
                "admins": [to_checksum_address(a) for a in reg.admins],
                "sealers": [to_checksum_address(a) for a in reg.sealers],
                "members": [
                    {
                        "name": m.name,
                        "kind": m.kind,
                        "level": m.level,
                        "accounts": [to_checksum_address(a) for a in m.accounts],
                        "encryptionKey": "0x" + m.encryption_key.hex(),
                    }
                    for m in reg.members
                ],
                "creationCode": "0x" + reg.creation_code.hex(),
            },
            "contracts": [c.to_json() for c in self.contracts],
        }

    def dump(self, path: Path) -> None:
        """Write the document to ``path``."""
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def load_genesis(path: Path) -> Genesis:
    """Read and validate a genesis document; every problem names the offending field."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GenesisError(f"cannot read genesis {path}: {exc}") from exc
    return parse_genesis(doc)


def parse_genesis(doc: Any) -> Genesis:
    """Validate a decoded genesis document and build the frozen :class:`Genesis`."""
    if not isinstance(doc, dict):
        raise GenesisError("genesis: expected a JSON object")
    if doc.get("format") != GENESIS_FORMAT:
        raise GenesisError(f"genesis.format: expected {GENESIS_FORMAT!r}, got {doc.get('format')!r}")
    reg = _obj(doc, "registry", "genesis")
    members = tuple(_member(m, f"genesis.registry.members[{i}]") for i, m in enumerate(
        _list(reg, "members", "genesis.registry")))
    admins = tuple(_address(a, "genesis.registry.admins") for a in _list(reg, "admins", "genesis.registry"))
    sealers = tuple(_address(a, "genesis.registry.sealers") for a in _list(reg, "sealers", "genesis.registry"))
    threshold = _int(reg.get("threshold"), "genesis.registry.threshold")
    if not sealers:
        raise GenesisError("genesis.registry.sealers: at least one sealer is required")
    if not 1 <= threshold <= len(admins):
        raise GenesisError(
            f"genesis.registry.threshold: {threshold} is not between 1 and {len(admins)} admins")
    # The registry's own rules, checked here so that a bad document fails with the field's name
    # rather than as a reverted constructor: admins and sealers are accounts of admin-kind members,
    # and the threshold counts distinct admin members.
    kind_of = {a: m.kind for m in members for a in m.accounts}
    member_of = {a: i for i, m in enumerate(members) for a in m.accounts}
    for role, accounts in (("admins", admins), ("sealers", sealers)):
        for account in accounts:
            if kind_of.get(account) != "admin":
                raise GenesisError(f"genesis.registry.{role}: {to_checksum_address(account)} is not an "
                                   "account of a member of kind admin")
    admin_members = len({member_of[a] for a in admins})
    if threshold > admin_members:
        raise GenesisError(f"genesis.registry.threshold: {threshold} is more than the {admin_members} "
                           "distinct admin members")
    registry = RegistryGenesis(
        address=_address(reg.get("address", to_checksum_address(DEFAULT_REGISTRY_ADDRESS)),
                         "genesis.registry.address"),
        creation_code=_hex(reg.get("creationCode"), "genesis.registry.creationCode"),
        artifact_sha256=str(reg.get("artifactSha256", "")),
        members=members,
        admins=admins,
        threshold=threshold,
        sealers=sealers,
    )
    if not registry.creation_code:
        raise GenesisError("genesis.registry.creationCode: empty")
    extra = _hex(doc.get("extraData", "0x"), "genesis.extraData")
    if len(extra) > 32:
        raise GenesisError(f"genesis.extraData: {len(extra)} bytes, at most 32 allowed")
    alloc: dict[Address, AccountAlloc] = {}
    for key, acc in _obj(doc, "alloc", "genesis", default={}).items():
        where = f"genesis.alloc[{key}]"
        if not isinstance(acc, dict):
            raise GenesisError(f"{where}: expected an object")
        storage = acc.get("storage", {})
        if not isinstance(storage, dict):
            raise GenesisError(f"{where}.storage: expected an object")
        alloc[_address(key, "genesis.alloc")] = AccountAlloc(
            balance=_int(acc.get("balance", 0), f"{where}.balance"),
            nonce=_int(acc.get("nonce", 0), f"{where}.nonce"),
            code=_hex(acc.get("code", "0x"), f"{where}.code"),
            storage={_int(k, f"{where}.storage"): _int(v, f"{where}.storage") for k, v in storage.items()},
        )
    contracts: list[GenesisContract] = []
    for i, raw in enumerate(doc.get("contracts", [])):
        where = f"genesis.contracts[{i}]"
        if not isinstance(raw, dict):
            raise GenesisError(f"{where}: expected an object")
        ctor = raw.get("constructor", {"types": [], "values": []})
        if not isinstance(ctor, dict) or not isinstance(ctor.get("types"), list) \
                or not isinstance(ctor.get("values"), list) or len(ctor["types"]) != len(ctor["values"]):
            raise GenesisError(f"{where}.constructor: expected matching lists of types and values")
        contract = GenesisContract(
            name=str(raw.get("name", "")),
            address=_address(raw.get("address"), f"{where}.address"),
            creation_code=_hex(raw.get("creationCode"), f"{where}.creationCode"),
            artifact_sha256=str(raw.get("artifactSha256", "")),
            arg_types=tuple(str(t) for t in ctor["types"]),
            arg_values=tuple(ctor["values"]),
        )
        try:
            contract.init_code()
        except Exception as exc:  # eth_abi raises several types for values that do not fit
            raise GenesisError(f"{where}.constructor: {exc}") from exc
        if not contract.name or not contract.creation_code:
            raise GenesisError(f"{where}: name and creationCode are required")
        if contract.address == registry.address or contract.address in {c.address for c in contracts}:
            raise GenesisError(f"{where}.address: {to_checksum_address(contract.address)} is used twice")
        contracts.append(contract)
    chain_id = _int(doc.get("chainId"), "genesis.chainId")
    if not 1 <= chain_id < 2**63:
        raise GenesisError(f"genesis.chainId: {chain_id} out of range")
    interval = _int(doc.get("checkpointInterval", DEFAULT_CHECKPOINT_INTERVAL), "genesis.checkpointInterval")
    if not 1 <= interval <= 1_000_000:
        raise GenesisError(f"genesis.checkpointInterval: {interval} is not between 1 and 1000000")
    return Genesis(
        chain_id=chain_id,
        timestamp=_int(doc.get("timestamp"), "genesis.timestamp"),
        gas_limit=_int(doc.get("gasLimit"), "genesis.gasLimit"),
        extra_data=extra,
        alloc=alloc,
        registry=registry,
        development=bool(doc.get("development", False)),
        contracts=tuple(contracts),
        checkpoint_interval=interval,
    )


def _member(raw: Any, where: str) -> GenesisMember:
    if not isinstance(raw, dict):
        raise GenesisError(f"{where}: expected an object")
    kind = raw.get("kind")
    level = raw.get("level")
    if kind not in MEMBER_KINDS:
        raise GenesisError(f"{where}.kind: {kind!r} is not one of {', '.join(MEMBER_KINDS)}")
    if level not in LEVELS:
        raise GenesisError(f"{where}.level: {level!r} is not one of {', '.join(LEVELS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise GenesisError(f"{where}.name: a non-empty string is required")
    key = _hex(raw.get("encryptionKey", "0x" + "00" * 32), f"{where}.encryptionKey")
    if len(key) != 32:
        raise GenesisError(f"{where}.encryptionKey: expected 32 bytes, got {len(key)}")
    accounts = tuple(_address(a, f"{where}.accounts") for a in _list(raw, "accounts", where))
    if not accounts:
        raise GenesisError(f"{where}.accounts: at least one signing account is required")
    return GenesisMember(name=name, kind=kind, level=level, accounts=accounts, encryption_key=key)


def _obj(doc: dict[str, Any], key: str, where: str, default: Any = None) -> dict[str, Any]:
    value = doc.get(key, default)
    if not isinstance(value, dict):
        raise GenesisError(f"{where}.{key}: expected an object")
    return value


def _list(doc: dict[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise GenesisError(f"{where}.{key}: expected a list")
    return value


def _address(raw: Any, where: str) -> Address:
    try:
        return Address(to_canonical_address(raw))
    except (TypeError, ValueError) as exc:
        raise GenesisError(f"{where}: {raw!r} is not an address") from exc


def _hex(raw: Any, where: str) -> bytes:
    if not isinstance(raw, str) or not raw.startswith("0x"):
        raise GenesisError(f"{where}: expected a 0x-prefixed hex string")
    try:
        return bytes.fromhex(raw[2:])
    except ValueError as exc:
        raise GenesisError(f"{where}: {exc}") from exc


def _int(raw: Any, where: str) -> int:
    if isinstance(raw, bool):
        raise GenesisError(f"{where}: expected an integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw, 16) if raw.startswith("0x") else int(raw)
        except ValueError as exc:
            raise GenesisError(f"{where}: {raw!r} is not an integer") from exc
    else:
        raise GenesisError(f"{where}: expected an integer")
    if value < 0:
        raise GenesisError(f"{where}: must not be negative")
    return value
