"""Payloads: content addressing identical to Kubo's, two stores behind one interface, CAR files.
See ``gateway/payloads/README.md``.

The names below are imported on first use (PEP 562), so ``cityledger payload cid`` — which needs
only :mod:`gateway.payloads.unixfs` — does not pay for the stores' libraries at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.payloads.cids import Cid, CidVersion, normalize_cid, parse_cid
    from gateway.payloads.embedded import EmbeddedStore
    from gateway.payloads.kubo import KuboStore
    from gateway.payloads.store import (DEFAULT_MAX_SIZE, PayloadStore, StoreSettings, open_store,
                                        write_payload)
    from gateway.payloads.unixfs import file_cid, import_bytes, import_stream

_EXPORTS = {
    "Cid": "cids", "CidVersion": "cids", "normalize_cid": "cids", "parse_cid": "cids",
    "EmbeddedStore": "embedded",
    "KuboStore": "kubo",
    "DEFAULT_MAX_SIZE": "store", "PayloadStore": "store", "StoreSettings": "store", "open_store": "store",
    "write_payload": "store",
    "file_cid": "unixfs", "import_bytes": "unixfs", "import_stream": "unixfs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway.payloads' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gateway.payloads.{module}"), name)
