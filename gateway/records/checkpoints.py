"""Checkpoints and their witness cosignatures: fetched from the node, checked, stored, served.

The node's sealer signs a checkpoint of its block-hash log (C2SP tlog-checkpoint: origin
``cityledger/<chain id>/0x<genesis hash>``, tree size, base64 RFC 6962 root) every
``checkpointInterval`` blocks (``node/checkpoints.py``): a signed note whose signature line is
``— <origin> base64(key ID || 65-byte secp256k1 signature)`` over the EIP-191 hash of the text.
Witnesses (``cityledger audit witness``) check the chain up to a checkpoint and submit an Ed25519
``cosignature/v1`` (C2SP tlog-cosignature) with their *key binding*: a statement
``cityledger-witness-key/v1 / origin … / account 0x… / key <vkey>`` signed (EIP-191) by a witness
account of the registry's witness set. The gateway stores a cosignature only when the binding's
account is in the witness set it has indexed and the cosignature verifies.

Tables (``checkpoint``, ``cosignature``) sit in the gateway's database but outside the index's
schema (their own SQLAlchemy ``MetaData``): the index is a cache of the chain and ``reindex``
drops it, while cosignatures exist nowhere else, so they are kept.

The verification here is the gateway's own code (it imports nothing from ``audit/``); the audit
re-checks everything with its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth_hash.auto import keccak
from eth_keys import keys
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, Text, select
from sqlmodel import Session, col
from sqlmodel import select as sql_select

from gateway.chain.codec import encode_header
from gateway.chain.rpc import RpcClient
from gateway.errors import GatewayError, UpstreamRpcError
from gateway.records.members import RoleSet

METADATA = MetaData()
checkpoint_table = Table(
    "checkpoint", METADATA,
    Column("size", BigInteger, primary_key=True),
    Column("origin", String(200), nullable=False),
    Column("root", String(66), nullable=False),
    #: The note as the sealer signed it (text, blank line, the sealer's signature line).
    Column("note", Text, nullable=False),
)
cosignature_table = Table(
    "cosignature", METADATA,
    Column("size", BigInteger, primary_key=True),
    Column("key_id", String(8), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("line", Text, nullable=False),
    Column("account", String(42), nullable=False),
    Column("binding", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)
SEALER_TYPE = b"\xff" + b"cityledger/secp256k1-eip191"
COSIGNATURE_TYPE = b"\x04"
BINDING_HEADER = "cityledger-witness-key/v1"


@dataclass
class CheckpointNotFound(GatewayError):
    """Raised when no checkpoint of the asked size was signed (or the chain signs none)."""

    size: int | None
    status = 404
    slug = "checkpoint-not-found"

    def __str__(self) -> str:
        return "the chain has signed no checkpoint" if self.size is None else f"no checkpoint of size {self.size}"


@dataclass
class CheckpointInvalid(GatewayError):
    """Raised when a checkpoint the node serves does not verify (malformed, or not signed by a sealer)."""

    detail: str
    status = 502
    slug = "checkpoint-invalid"

    def __str__(self) -> str:
        return self.detail


@dataclass
class CosignatureRefused(GatewayError):
    """Raised when a submitted cosignature is malformed, does not verify, or its key is not bound
    to an account of the registry's witness set; nothing is stored."""

    reason: str
    status = 422
    slug = "cosignature-refused"

    def __str__(self) -> str:
        return self.reason


_CREATED: set[int] = set()


def ensure_tables(engine: Engine) -> None:
    """Create the two tables once per engine (they are outside the index's schema)."""
    if id(engine) not in _CREATED:
        METADATA.create_all(engine)
        _CREATED.add(id(engine))


# ------------------------------------------------------------------------- signed notes
def _split_note(wire: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    cut = wire.rfind("\n\n")
    if cut < 0 or not wire.endswith("\n"):
        raise ValueError("not a signed note")
    text = wire[:cut + 1]
    lines = []
    for line in wire[cut + 2:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("a signature line starts with an em dash")
        name, _, encoded = line[2:].partition(" ")
        raw = base64.b64decode(encoded, validate=True)
        lines.append((name, raw[:4], raw[4:]))
    return text, lines


def _key_id(name: str, kind: bytes, key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + kind + key).digest()[:4]


def _eip191_signer(message: bytes, signature: bytes) -> bytes:
    digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)
    if len(signature) != 65:
        raise ValueError("a secp256k1 signature is 65 bytes")
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    public = keys.Signature(signature[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    return bytes(public.to_canonical_address())


@dataclass(frozen=True)
class Checkpoint:
    size: int
    origin: str
    root: bytes
    note: str


def parse_checkpoint(note: str, sealers: list[bytes]) -> Checkpoint:
    """Parse a sealer-signed checkpoint and check that a sealer of ``sealers`` signed it."""
    try:
        text, lines = _split_note(note)
        origin, size, root = text.split("\n")[:3]
        root_bytes = base64.b64decode(root, validate=True)
        signers = set()
        for name, key_id, signature in lines:
            if name != origin:
                continue
            signer = _eip191_signer(text.encode(), signature)
            if _key_id(origin, SEALER_TYPE, signer) == key_id:
                signers.add(signer)
    except (ValueError, TypeError) as exc:
        raise CheckpointInvalid(f"the node's checkpoint is malformed: {exc}") from exc
    if not signers & set(sealers):
        raise CheckpointInvalid(f"checkpoint {size} is not signed by a sealer")
    return Checkpoint(int(size), origin, root_bytes, note)


def _sealers_ever(s: Session) -> list[bytes]:
    rows = s.exec(sql_select(RoleSet).where(RoleSet.role == "sealers")).all()
    return [bytes.fromhex(a[2:]) for row in rows for a in json.loads(row.accounts)]


def _witnesses_now(s: Session) -> list[bytes]:
    row = s.exec(sql_select(RoleSet).where(RoleSet.role == "witnesses")
                 .order_by(col(RoleSet.block_number).desc(), col(RoleSet.block_log_index).desc()).limit(1)).first()
    return [] if row is None else [bytes.fromhex(a[2:]) for a in json.loads(row.accounts)]


# ------------------------------------------------------------------------- store
def _stored(s: Session, size: int | None) -> dict[str, Any] | None:
    query = select(checkpoint_table)
    query = query.where(checkpoint_table.c.size == size) if size is not None else query.order_by(checkpoint_table.c.size.desc()).limit(1)
    row = s.connection().execute(query).first()
    return None if row is None else dict(row._mapping)


async def fetch(rpc: RpcClient, s: Session, size: int | None) -> dict[str, Any] | None:
    """The checkpoint of ``size`` (the node's newest when None), stored once verified."""
    ensure_tables(s.get_bind())  # type: ignore[arg-type]
    if size is not None:
        stored = _stored(s, size)
        if stored is not None:
            return stored
    try:
        answer = await (rpc.call("cityledger_checkpoint", [hex(size)]) if size is not None
                        else rpc.call("cityledger_latestCheckpoint"))
    except UpstreamRpcError as exc:
        if exc.code == -32601:  # not a CityLedger node (anvil): no checkpoints
            return None
        raise
    if answer is None:
        return None
    checkpoint = parse_checkpoint(str(answer["note"]), _sealers_ever(s))
    if _stored(s, checkpoint.size) is None:
        s.connection().execute(checkpoint_table.insert().values(
            size=checkpoint.size, origin=checkpoint.origin, root="0x" + checkpoint.root.hex(), note=checkpoint.note))
        s.commit()
    return _stored(s, checkpoint.size)


def cosignatures(s: Session, size: int) -> list[dict[str, Any]]:
    rows = s.connection().execute(select(cosignature_table).where(cosignature_table.c.size == size)
                                  .order_by(cosignature_table.c.name)).all()
    return [dict(r._mapping) for r in rows]


def document(s: Session, stored: dict[str, Any]) -> dict[str, Any]:
    """The served form: the note with every stored cosignature line, and who cosigned."""
    cosigned = cosignatures(s, int(stored["size"]))
    return {"size": stored["size"], "origin": stored["origin"], "root": stored["root"],
            "note": stored["note"] + "".join(c["line"] for c in cosigned),
            "cosignatures": [{"name": c["name"], "keyId": c["key_id"], "account": c["account"], "timestamp": c["timestamp"]}
                             for c in cosigned],
            "witnesses": [json.loads(c["binding"]) for c in cosigned]}


def add_cosignature(s: Session, stored: dict[str, Any], line: str, binding: dict[str, Any]) -> dict[str, Any]:
    """Check and store a witness's cosignature line on a stored checkpoint (module docstring)."""
    try:
        origin, account_hex, vkey, signature = (str(binding[k]) for k in ("origin", "account", "vkey", "signature"))
        name, key_id_hex, key_b64 = vkey.split("+", 2)
        raw_key = base64.b64decode(key_b64, validate=True)
        if raw_key[:1] != COSIGNATURE_TYPE or len(raw_key) != 33 or _key_id(name, COSIGNATURE_TYPE, raw_key[1:]).hex() != key_id_hex:
            raise ValueError("the vkey is not an Ed25519 cosignature key with its key ID")
        account = bytes.fromhex(account_hex[2:])
        statement = f"{BINDING_HEADER}\norigin {origin}\naccount 0x{account.hex()}\nkey {vkey}\n"
        if _eip191_signer(statement.encode(), bytes.fromhex(signature[2:])) != account:
            raise ValueError("the key binding is not signed by the account it names")
        if origin != stored["origin"]:
            raise ValueError(f"the key binding is for {origin}, not {stored['origin']}")
        if not line.startswith("\u2014 ") or not line.endswith("\n"):
            raise ValueError("a cosignature is one signature line")
        line_name, _, encoded = line[2:-1].partition(" ")
        raw = base64.b64decode(encoded, validate=True)
        if line_name != name or raw[:4].hex() != key_id_hex or len(raw) != 4 + 8 + 64:
            raise ValueError("the cosignature line is not by the bound key")
        timestamp = int.from_bytes(raw[4:12], "big")
        text = stored["note"][: stored["note"].rfind("\n\n") + 1]
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
        Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(raw[12:], message)
    except (KeyError, ValueError, TypeError, InvalidSignature) as exc:
        raise CosignatureRefused(f"cosignature refused: {exc or type(exc).__name__}") from exc
    if account not in _witnesses_now(s):
        raise CosignatureRefused(f"0x{account.hex()} is not in the registry's witness set")
    exists = s.connection().execute(select(cosignature_table).where(
        cosignature_table.c.size == stored["size"], cosignature_table.c.key_id == key_id_hex,
        cosignature_table.c.name == name)).first()
    if exists is None:
        s.connection().execute(cosignature_table.insert().values(
            size=stored["size"], key_id=key_id_hex, name=name, line=line, account="0x" + account.hex(),
            binding=json.dumps(binding), timestamp=timestamp))
        s.commit()
    return document(s, stored)


# ------------------------------------------------------------------------- evidence
def witness_slot(artifacts: Any) -> int:
    layout = json.loads((artifacts / "MemberRegistry.json").read_text())["storageLayout"]
    return next(int(item["slot"]) for item in layout["storage"] if item["label"] == "_witnesses")


async def evidence_section(rpc: RpcClient, s: Session, registry: bytes, artifacts: Any, indexed: int,
                           blocks: list[tuple[int, str]]) -> dict[str, Any] | None:
    """The bundle's ``checkpoint`` section: the newest stored checkpoint covering every block of
    ``blocks`` (preferring one that witnesses cosigned), with inclusion proofs, the head header and
    the witness set's state proof at the head (``audit.bundle`` checks it)."""
    await fetch(rpc, s, None)
    last = max((n for n, _ in blocks), default=0)
    rows = s.connection().execute(select(checkpoint_table).where(checkpoint_table.c.size > last,
                                                                 checkpoint_table.c.size <= indexed + 1)
                                  .order_by(checkpoint_table.c.size.desc())).all()
    if not rows and indexed + 1 > last:  # the newest checkpoint is past the index: the one at its height
        await fetch(rpc, s, indexed + 1)
        rows = s.connection().execute(select(checkpoint_table).where(checkpoint_table.c.size > last,
                                                                     checkpoint_table.c.size <= indexed + 1)
                                      .order_by(checkpoint_table.c.size.desc())).all()
    if not rows:
        return None
    candidates = [dict(r._mapping) for r in rows]
    chosen = next((c for c in candidates if cosignatures(s, int(c["size"]))), candidates[0])
    size = int(chosen["size"])
    head_block = await rpc.call("eth_getBlockByNumber", [hex(size - 1), False])
    head_proof = await rpc.call("cityledger_inclusionProof", [hex(size - 1), hex(size)])
    inclusions = []
    for number, block_hash in sorted(set(blocks)):
        answer = await rpc.call("cityledger_inclusionProof", [hex(number), hex(size)])
        inclusions.append({"blockNumber": number, "blockHash": block_hash, "proof": answer["proof"]})
    slot = witness_slot(artifacts)
    first = await rpc.call("eth_getProof", ["0x" + registry.hex(), [hex(slot)], hex(size - 1)])
    length = int(first["storageProof"][0]["value"], 16)
    base = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
    account = await rpc.call("eth_getProof", ["0x" + registry.hex(), [hex(slot)] + [hex(base + i) for i in range(length)],
                                              hex(size - 1)])
    served = document(s, chosen)
    return {"size": size, "note": served["note"],
            "head": {"blockNumber": size - 1, "header": "0x" + encode_header(head_block).hex(), "proof": head_proof["proof"]},
            "inclusions": inclusions,
            "witnesses": {"registry": "0x" + registry.hex(), "witnessSlot": slot, "account": account,
                          "bindings": served["witnesses"]}}
