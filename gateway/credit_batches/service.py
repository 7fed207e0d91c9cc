"""The credit-batch services of one gateway: the batch-file store, the background worker, the
restricted-content store and the calldata builder, built from the settings with the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.client.transactions import TxBuilder
from gateway.credit_batches.indexing import BatchWorker
from gateway.credit_batches.prepared import PreparedBatches
from gateway.credit_batches.restricted import RestrictedStore
from gateway.payloads.store import PayloadStore, StoreSettings, open_store

KEY = "credit-batches"


@dataclass
class CreditBatches:
    """What the credit-batch routes and the worker share."""

    worker: BatchWorker
    #: The payload store opened with the batch-file size limit (``settings.max_batch_file_bytes``);
    #: the same blocks and pins as ``services.payloads``.
    store: PayloadStore
    restricted: RestrictedStore
    builder: TxBuilder
    prepared: PreparedBatches

    def close(self) -> None:
        self.store.close()
        self.restricted.close()


def attach(services: Any) -> CreditBatches:
    """Build the credit-batch services for ``services`` (a ``gateway.app.Services``)."""
    settings = services.settings
    store = open_store(StoreSettings(
        store_dir=None if settings.ipfs_url else settings.data_dir / "payloads", ipfs_url=settings.ipfs_url,
        max_size=settings.max_batch_file_bytes))
    prepared = PreparedBatches(settings.data_dir / "credit-prepared")
    worker = BatchWorker(services.engine, store, settings.data_dir / "spool", max_entries=settings.max_batch_entries,
                         poll_interval=settings.poll_interval, retry_seconds=settings.batch_retry_seconds,
                         prepared=prepared)
    batches = CreditBatches(worker, store, RestrictedStore(settings.data_dir / "restricted"),
                            TxBuilder(settings.artifacts, services.book), prepared)
    services.extras[KEY] = batches
    return batches


def of(services: Any) -> CreditBatches:
    batches = services.extras.get(KEY)
    assert isinstance(batches, CreditBatches), "credit batches are attached in gateway.app.build_services"
    return batches
