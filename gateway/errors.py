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
