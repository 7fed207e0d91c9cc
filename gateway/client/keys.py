"""The member's keys, on the member's machine: a signing key (an encrypted Ethereum keystore, or
for demos the development keys file) and an X25519 encryption key for payloads delivered to the
member (an age key file, or the development keys file's ``encryption_private_key``).

Nothing here talks to the gateway: the gateway never sees a private key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.client.errors import KeyUnavailable

if TYPE_CHECKING:
    from gateway.payloads.encryption import KeyPair


@dataclass(frozen=True)
class MemberKeys:
    """A member's signing key and, when known, its encryption key pair."""

    private_key: bytes
    address: str
    #: The member's name where the key source says (the development keys file); informational.
    name: str | None = None
    encryption: KeyPair | None = None

    def __repr__(self) -> str:  # never print a key
        return f"MemberKeys(address={self.address!r}, name={self.name!r})"


def _account_of(private_key: bytes) -> str:
    from eth_account import Account

    return str(Account.from_key(private_key).address)


def from_keystore(path: Path, password: str) -> MemberKeys:
    """Unlock an encrypted Ethereum keystore (Web3 Secret Storage, v3)."""
    from eth_account import Account

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyUnavailable(str(path), f"cannot read the keystore: {exc}") from None
    try:
        secret = bytes(Account.decrypt(doc, password))
    except ValueError as exc:
        raise KeyUnavailable(str(path), f"cannot unlock the keystore: {exc}") from None
    return MemberKeys(secret, _account_of(secret))


def load_dev_keys(path: Path) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyUnavailable(str(path), f"cannot read the development keys file: {exc}") from None
    if not isinstance(doc.get("members"), list):
        raise KeyUnavailable(str(path), "not a development keys file (no \"members\" list)")
    return doc


def dev_entry(doc: dict[str, Any], member: str, source: str = "dev keys") -> dict[str, Any]:
    """The entry for ``member``: an id, an address, an exact name, or a case-insensitive part of
    exactly one name (members first, then admins)."""
    entries: list[dict[str, Any]] = list(doc.get("members", [])) + list(doc.get("admins", []))
    wanted = member.strip()
    for entry in entries:
        if wanted == str(entry.get("id")) or wanted.lower() == str(entry.get("address", "")).lower() \
                or wanted == entry.get("name"):
            return entry
    matches = [e for e in entries if wanted.lower() in str(e.get("name", "")).lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KeyUnavailable(source, f"no member matches {member!r}; members: "
                                     + "; ".join(str(e.get("name")) for e in entries))
    raise KeyUnavailable(source, f"{member!r} matches several members: "
                                 + "; ".join(str(e.get("name")) for e in matches) + " (give the full name or the id)")


def from_dev_keys(path: Path, member: str) -> MemberKeys:
    """A member's keys from ``cityledger node init --dev``'s keys file (DEVELOPMENT ONLY)."""
    entry = dev_entry(load_dev_keys(path), member, str(path))
    secret = bytes.fromhex(str(entry["private_key"]).removeprefix("0x"))
    encryption = None
    if entry.get("encryption_private_key"):
        from gateway.payloads.encryption import key_pair_from_private_key

        encryption = key_pair_from_private_key(str(entry["encryption_private_key"]))
    return MemberKeys(secret, _account_of(secret), str(entry.get("name")), encryption)


def with_encryption_key(keys: MemberKeys, key_file: Path) -> MemberKeys:
    """``keys`` with the encryption key pair read from an age key file."""
    from gateway.errors import PayloadError
    from gateway.payloads.encryption import read_key_file

    try:
        pair = read_key_file(key_file)
    except PayloadError as exc:
        raise KeyUnavailable(str(key_file), str(exc)) from None
    return MemberKeys(keys.private_key, keys.address, keys.name, pair)
