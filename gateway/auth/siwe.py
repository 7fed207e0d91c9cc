"""EIP-4361 (Sign-In with Ethereum) messages: built, parsed and checked here.

Both PyPI SIWE packages pin web3 < 8 and cannot be installed beside ours (NOTES.md), so the message
grammar is implemented from the EIP's ABNF::

    [scheme "://"] domain " wants you to sign in with your Ethereum account:" LF
    address LF
    LF
    [statement LF]
    LF
    "URI: " uri LF
    "Version: " "1" LF
    "Chain ID: " chain-id LF
    "Nonce: " nonce LF
    "Issued At: " issued-at
    [LF "Expiration Time: " expiration-time]
    [LF "Not Before: " not-before]
    [LF "Request ID: " request-id]
    [LF "Resources:" *(LF "- " URI)]

The signature is EIP-191 ``personal_sign`` over the exact text; the signer is recovered with
eth-account and compared with the message's (EIP-55 checksummed) address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address

from gateway.errors import GatewayError

PREAMBLE = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DOMAIN = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<domain>[^\s/?#]+)$")
MAX_MESSAGE = 4096


@dataclass
class SiweInvalid(GatewayError):
    """Raised when a text is not a well-formed EIP-4361 message; ``field`` names the term."""

    field: str
    reason: str
    status = 401
    slug = "sign-in-message-invalid"

    def __str__(self) -> str:
        return f"sign-in message: {self.field}: {self.reason}"


def _timestamp(value: str, term: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SiweInvalid(term, f"{value!r} is not an RFC 3339 date-time") from exc
    if parsed.tzinfo is None:
        raise SiweInvalid(term, f"{value!r} has no time zone")
    return parsed


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SiweMessage:
    """The terms of one sign-in message."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    scheme: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        """The exact text a wallet shows and signs."""
        head = (f"{self.scheme}://" if self.scheme else "") + self.domain + PREAMBLE
        lines = [head, self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines += [""]
        lines += [f"URI: {self.uri}", f"Version: {self.version}", f"Chain ID: {self.chain_id}",
                  f"Nonce: {self.nonce}", f"Issued At: {self.issued_at}"]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)

    @property
    def expires(self) -> datetime | None:
        return None if self.expiration_time is None else _timestamp(self.expiration_time, "Expiration Time")

    @property
    def valid_from(self) -> datetime | None:
        return None if self.not_before is None else _timestamp(self.not_before, "Not Before")


def parse_message(text: str) -> SiweMessage:
    """Parse ``text`` by the ABNF above; ``SiweInvalid`` names the first term that is wrong."""
    if len(text) > MAX_MESSAGE:
        raise SiweInvalid("message", f"longer than {MAX_MESSAGE} characters")
    lines = text.split("\n")
    if not lines[0].endswith(PREAMBLE):
        raise SiweInvalid("preamble", f"the first line must end with {PREAMBLE.strip()!r}")
    match = _DOMAIN.match(lines[0][: -len(PREAMBLE)])
    if match is None:
        raise SiweInvalid("domain", f"{lines[0][: -len(PREAMBLE)]!r} is not an RFC 3986 authority")
    if len(lines) < 8:
        raise SiweInvalid("message", "too few lines")
    address = lines[1]
    if not _ADDRESS.match(address):
        raise SiweInvalid("address", f"{address!r} is not a 20-byte hex address")
    if address[2:] != address[2:].lower() and not is_checksum_address(address):
        raise SiweInvalid("address", f"{address} has a wrong EIP-55 checksum")
    if lines[2] != "":
        raise SiweInvalid("message", "an empty line must follow the address")
    position = 3
    statement: str | None = None
    if lines[3] == "":
        position = 4
    else:
        statement = lines[3]
        if len(lines) < 5 or lines[4] != "":
            raise SiweInvalid("statement", "an empty line must follow the statement")
        position = 5
    rest = lines[position:]

    def take(label: str, optional: bool = False) -> str | None:
        if rest and rest[0].startswith(label + ": "):
            return rest.pop(0)[len(label) + 2:]
        if optional:
            return None
        raise SiweInvalid(label, f"expected a line starting with {label + ':'!r}")

    uri = take("URI")
    version = take("Version")
    chain = take("Chain ID")
    nonce = take("Nonce")
    issued_at = take("Issued At")
    expiration = take("Expiration Time", True)
    not_before = take("Not Before", True)
    request_id = take("Request ID", True)
    resources: list[str] = []
    if rest and rest[0] == "Resources:":
        rest.pop(0)
        while rest and rest[0].startswith("- "):
            resources.append(rest.pop(0)[2:])
    if rest:
        raise SiweInvalid("message", f"unexpected line {rest[0]!r}")
    assert uri is not None and version is not None and chain is not None and nonce is not None
    assert issued_at is not None
    if version != "1":
        raise SiweInvalid("Version", f"must be 1, got {version!r}")
    if not chain.isdigit():
        raise SiweInvalid("Chain ID", f"{chain!r} is not a number")
    if not _NONCE.match(nonce):
        raise SiweInvalid("Nonce", "must be at least 8 letters or digits")
    if ":" not in uri:
        raise SiweInvalid("URI", f"{uri!r} is not an absolute URI")
    for term, value in (("Issued At", issued_at), ("Expiration Time", expiration), ("Not Before", not_before)):
        if value is not None:
            _timestamp(value, term)
    return SiweMessage(domain=match["domain"], scheme=match["scheme"], address=address, statement=statement,
                       uri=uri, version=version, chain_id=int(chain), nonce=nonce, issued_at=issued_at,
                       expiration_time=expiration, not_before=not_before, request_id=request_id,
                       resources=tuple(resources))


def recover_signer(text: str, signature: str) -> str:
    """The checksummed address whose EIP-191 personal signature over ``text`` is ``signature``."""
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=signature))
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise SiweInvalid("signature", f"cannot recover a signer: {exc}") from exc
