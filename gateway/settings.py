"""The gateway's one settings object, validated at start and passed down (STYLE 7).

Built only in the entry point (``cityledger gateway run``, or a test calling
``create_app(Settings(...))``); nothing below reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_UPLOAD_LIMIT = 256 * 1024 * 1024


class Alerts(BaseModel):
    """When custody records become alerts (PRODUCT.md, "Supply custody")."""

    model_config = ConfigDict(frozen=True)

    #: Goods sent but neither accepted nor refused for longer than this are "stuck in transit".
    transit_seconds: int = Field(default=48 * 3600, gt=0)
    #: Goods held by a warehouse for longer than this are "sitting in a warehouse".
    held_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    #: A lot whose losses exceed this share of its original quantity is flagged.
    loss_ratio: float = Field(default=0.05, ge=0, le=1)


class Settings(BaseModel):
    """Everything the gateway needs to run; invalid values fail at start, naming the field."""

    model_config = ConfigDict(frozen=True)

    #: JSON-RPC URL of a chain node (CityLedger's node, anvil, Besu).
    rpc_url: str
    #: Where the gateway keeps its index (when ``database_url`` is not given), payloads and keys.
    data_dir: Path
    #: SQLAlchemy URL of the index; SQLite under ``data_dir`` by default. PostgreSQL:
    #: ``postgresql+psycopg://user@host/db``.
    database_url: str | None = None
    #: The address book written by ``scripts/deploy`` (contract addresses, deployment block).
    addressbook: Path
    #: On a network of CometBFT validators (``scripts/testnet``): the CometBFT genesis file, whose
    #: validator set the gateway pins to check each block's commit (consensus ``cometbft``).
    cometbft_genesis: Path | None = None
    #: Kubo RPC API URL (``http://127.0.0.1:5001``); the embedded store under ``data_dir`` if None.
    ipfs_url: str | None = None
    #: Contract ABIs (the committed artifacts).
    artifacts: Path = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"
    #: Public (unauthenticated) requests per minute per client address; 0 turns the limit off.
    public_rate_limit: int = Field(default=600, ge=0)
    #: Largest accepted upload (payloads, batch files), bytes.
    max_upload_bytes: int = Field(default=DEFAULT_UPLOAD_LIMIT, gt=0)
    #: Largest accepted credit-batch upload (``POST /v1/credit/batches``: CSV or JSON Lines), bytes.
    max_batch_upload_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    #: Largest batch file the gateway stores or fetches to index a batch, bytes.
    max_batch_file_bytes: int = Field(default=8 * 1024 * 1024 * 1024, gt=0)
    #: Most entries in one credit batch (uploads above are refused; anchored batches above are not
    #: indexed here and show as ``unavailable``). Indexing holds ~50 bytes per entry in memory.
    max_batch_entries: int = Field(default=10_000_000, gt=0)
    #: How long to wait before fetching an unavailable batch file again, seconds.
    batch_retry_seconds: float = Field(default=60.0, gt=0)
    #: How often the indexer asks the node for new blocks when it has caught up, seconds.
    poll_interval: float = Field(default=0.5, gt=0)
    #: Most blocks indexed in one database transaction.
    index_batch_blocks: int = Field(default=200, gt=0)
    alerts: Alerts = Alerts()
    #: Verified public answers kept per indexed height (0: build every answer afresh).
    answer_cache_entries: int = Field(default=10_000, ge=0)
    #: The URL members reach this gateway at; its authority is the EIP-4361 ``domain`` that sign-in
    #: messages must name (a message for another domain is refused).
    public_url: str = "http://127.0.0.1:8080"
    #: How long a sign-in challenge may wait for its signature, and how long a token lives, seconds.
    challenge_seconds: int = Field(default=300, gt=0)
    token_seconds: int = Field(default=3600, gt=0)
    #: TEST ONLY: accept an ``X-CityLedger-Test-Member`` header naming the acting member's account.
    #: Never set in production (members sign in with Sign-In with Ethereum).
    test_member_header: bool = False
    #: An index of another table layout (after an upgrade): dropped and rebuilt from the chain at
    #: start when True (``cityledger up``: the index is a cache); refused with what to run otherwise.
    rebuild_outdated_index: bool = False

    @field_validator("rpc_url", "ipfs_url", "public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @property
    def domain(self) -> str:
        """The RFC 3986 authority of ``public_url`` (host and port)."""
        return self.public_url.split("://", 1)[1].split("/", 1)[0]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'index.sqlite'}"

    @property
    def database_kind(self) -> str:
        return self.resolved_database_url.split(":", 1)[0].split("+", 1)[0]
