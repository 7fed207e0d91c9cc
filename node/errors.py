"""The node's exceptions: one root, one subclass per way things go wrong.

Errors turn into JSON-RPC error objects in exactly one place, ``node.rpc.server``.
"""

from __future__ import annotations

from dataclasses import dataclass


class NodeError(Exception):
    """Root of every error the node raises on purpose."""


class StorageError(NodeError):
    """Raised when the on-disk store cannot be opened, is closed, or holds data this node cannot
    use (another chain's, a newer index schema, a block without its index)."""


@dataclass
class RegistryCallFailed(NodeError):
    """Raised when a read-only call into the member registry fails: the registry at that block is
    not the contract the node expects (wrong code, changed layout) or ran out of gas."""

    registry: bytes
    error: str
    detail: str

    def __str__(self) -> str:
        return f"registry call to 0x{self.registry.hex()} failed: {self.error} {self.detail}".rstrip()


class GenesisError(NodeError):
    """Raised when a genesis document is malformed or does not match the stored chain."""


@dataclass
class TransactionRejected(NodeError):
    """Raised when a raw transaction fails admission; ``reason`` is a stable machine code.

    ``message`` uses the wording of go-ethereum's txpool errors ("nonce too low", ...) so that
    clients which classify errors by message text (ethers, web3.py, cast) recognise them.
    """

    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class BlockRejected(NodeError):
    """Raised when a block fails a check on import; ``check`` names the failed check."""

    number: int
    check: str
    detail: str

    def __str__(self) -> str:
        return f"block {self.number} rejected: {self.check}: {self.detail}"


@dataclass
class InvalidParams(NodeError):
    """Raised when a JSON-RPC method receives parameters it cannot use."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class ResourceNotFound(NodeError):
    """Raised when a request names a block, filter or subscription the node does not have."""

    message: str

    def __str__(self) -> str:
        return self.message


class LogRangeError(ResourceNotFound):
    """Raised when a root or proof of the block-hash log is asked for a tree size or leaf the log
    does not hold (beyond the head, or an old size larger than the new)."""


@dataclass
class ExecutionReverted(NodeError):
    """Raised when ``eth_call`` or ``eth_estimateGas`` execution reverts; ``data`` is the revert data."""

    data: bytes
    reason: str | None = None

    def __str__(self) -> str:
        return f"execution reverted: {self.reason}" if self.reason else "execution reverted"


@dataclass
class UpstreamUnavailable(NodeError):
    """Raised when a replica cannot reach its upstream node."""

    url: str
    detail: str

    def __str__(self) -> str:
        return f"upstream {self.url} unavailable: {self.detail}"


@dataclass
class SealerUnavailable(NodeError):
    """Raised when the node's sealing loop is not running (it failed to start or stopped), so a
    transaction cannot be admitted."""

    detail: str

    def __str__(self) -> str:
        return f"sealer unavailable: {self.detail}"


@dataclass
class LimitExceeded(NodeError):
    """Raised when a request asks for more than the node serves at once or would hold more than
    it keeps (a block range, a batch, installed filters, subscriptions; EIP-1474 -32005)."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class UpstreamError(NodeError):
    """Raised when a replica forwards a request and its upstream answers with an error object."""

    code: int
    message: str
    data: object = None

    def __str__(self) -> str:
        return self.message
