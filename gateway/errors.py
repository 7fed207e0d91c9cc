"""The gateway's exceptions: one root, one subclass per way things go wrong.

Routes and services raise these; ``gateway.problems`` is the one place where they become RFC 9457
``application/problem+json`` responses (each class names its HTTP status and problem type).
"""

from __future__ import annotations

from dataclasses import dataclass


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    #: HTTP status of the problem+json response.
    status: int = 500
    #: Short problem type slug; the ``type`` URI is ``https://cityledger.example/problems/<slug>``.
    slug: str = "gateway-error"
    #: Process exit code when the error ends a CLI command.
    exit_code: int = 2


@dataclass
class ChainDataInvalid(GatewayError):
    """Raised when data read from the chain node does not hold together (a header that does not
    hash to its block hash, a receipt list whose trie root is not the header's)."""

    what: str
    detail: str
    status = 502
    slug = "chain-data-invalid"

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


@dataclass
class UpstreamUnavailable(GatewayError):
    """Raised when the chain node cannot be reached or times out."""

    url: str
    detail: str
    status = 503
    slug = "upstream-unavailable"

    def __str__(self) -> str:
        return f"chain node {self.url} unavailable: {self.detail}"


@dataclass
class UpstreamRpcError(GatewayError):
    """Raised when the chain node answers a JSON-RPC request with an error object."""

    method: str
    code: int
    message: str
    data: object = None
    status = 502
    slug = "upstream-error"

    def __str__(self) -> str:
        return f"{self.method}: JSON-RPC error {self.code}: {self.message}"


@dataclass
class ProofInvalid(GatewayError):
    """Raised when a proof does not verify; ``check`` names the failed check (stable names, the
    same as in the evidence bundle schema), ``detail`` says what was expected and found."""

    check: str
    detail: str
    status = 500
    slug = "proof-invalid"

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


# --- payloads (gateway.payloads) ---------------------------------------------------------------
# Messages name the payload (its root CID) and, where one block is at fault, that block's CID.
# ``exit_code`` 1 marks a check that ran and failed (a corrupt block, a wrong key, an altered
# ciphertext); ``gateway.payloads.cli`` imports this module on ``payload cid``'s start-up path, so
# it stays standard-library only.


class PayloadError(GatewayError):
    """Raised when storing, reading, importing or encrypting a payload fails; the root of the
    payload errors below."""

    status = 500
    slug = "payload-error"


@dataclass
class InvalidCid(PayloadError):
    """Raised when a text is not a CID, or names one this store cannot serve (a hash function
    other than sha2-256, a codec other than raw or dag-pb)."""

    text: str
    detail: str
    status = 400
    slug = "invalid-cid"

    def __str__(self) -> str:
        return f"not a usable CID {self.text!r}: {self.detail}"


@dataclass
class PayloadNotFound(PayloadError):
    """Raised when the store holds no payload (no root block) under a CID."""

    cid: str
    status = 404
    slug = "payload-not-found"

    def __str__(self) -> str:
        return f"payload {self.cid} not found"


@dataclass
class BlockMissing(PayloadError):
    """Raised when a payload's root is present but one of its blocks is not (an incomplete DAG)."""

    cid: str
    block_cid: str
    status = 502
    slug = "payload-incomplete"

    def __str__(self) -> str:
        return f"payload {self.cid}: block {self.block_cid} is missing"


@dataclass
class BlockCorrupted(PayloadError):
    """Raised when a block's bytes do not hash to the CID they are stored under: the block was
    altered on disk, or by the node that served it. Nothing after the last verified block is
    returned."""

    cid: str
    block_cid: str
    expected: str
    actual: str
    status = 502
    slug = "payload-corrupted"
    exit_code = 1

    def __str__(self) -> str:
        return (f"payload {self.cid}: block {self.block_cid} is corrupted "
                f"(its bytes hash to sha2-256 {self.actual}, its CID names {self.expected})")


@dataclass
class MalformedBlock(PayloadError):
    """Raised when a block hashes correctly but is not part of a UnixFS file this reader
    understands (bad dag-pb or UnixFS protobuf, a directory, an unsupported codec or hash)."""

    cid: str
    block_cid: str
    detail: str
    status = 422
    slug = "payload-not-a-file"

    def __str__(self) -> str:
        return f"payload {self.cid}: block {self.block_cid} is not a UnixFS file node: {self.detail}"


@dataclass
class PayloadTooLarge(PayloadError):
    """Raised when an upload exceeds the store's size limit; nothing of it is kept."""

    limit: int
    status = 413
    slug = "payload-too-large"

    def __str__(self) -> str:
        mib = f" ({self.limit / 2**20:g} MiB)" if self.limit >= 2**20 else ""
        return f"payload larger than the limit of {self.limit:,} bytes{mib}"


@dataclass
class CarInvalid(PayloadError):
    """Raised when a CAR v1 file is malformed (header, section framing, CIDs) or lacks a block its
    roots need. A block that does not match its CID raises :class:`BlockCorrupted` instead."""

    detail: str
    status = 400
    slug = "car-invalid"

    def __str__(self) -> str:
        return f"invalid CAR file: {self.detail}"


@dataclass
class StoreUnavailable(PayloadError):
    """Raised when the IPFS node cannot be reached, times out, or answers with an error."""

    url: str
    detail: str
    status = 503
    slug = "ipfs-unavailable"

    def __str__(self) -> str:
        return f"IPFS node at {self.url}: {self.detail}"


@dataclass
class InvalidKey(PayloadError):
    """Raised when an X25519 public key, an age recipient or an age identity (a key file) cannot be
    parsed."""

    detail: str
    status = 400
    slug = "invalid-key"

    def __str__(self) -> str:
        return f"invalid key: {self.detail}"


@dataclass
class DecryptionFailed(PayloadError):
    """Raised when a ciphertext cannot be opened: not encrypted to this key, or altered (a changed
    byte; a reordered, dropped or truncated chunk). No plaintext is left behind."""

    reason: str
    status = 422
    slug = "decryption-failed"
    exit_code = 1

    def __str__(self) -> str:
        return f"decryption failed: {self.reason}"
