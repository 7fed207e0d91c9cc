"""Payloads: content addressing identical to Kubo's, two stores behind one interface, CAR files,
and encryption to a member's X25519 key. See ``gateway/payloads/README.md``.

The names below are imported on first use (PEP 562), so ``cityledger payload cid`` — which needs
only :mod:`gateway.payloads.unixfs` — does not pay for the stores' libraries at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.payloads.cids import Cid, CidVersion, normalize_cid, parse_cid
    from gateway.payloads.embedded import EmbeddedStore
    from gateway.payloads.encryption import (KeyPair, decrypt_file, decrypt_stream, encrypt_file, encrypt_stream,
                                             generate_key_pair, key_pair_of, parse_public_key, read_key_file,
                                             recipient_for, write_key_file)
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
    "KeyPair": "encryption", "decrypt_file": "encryption", "decrypt_stream": "encryption",
    "encrypt_file": "encryption", "encrypt_stream": "encryption", "generate_key_pair": "encryption",
    "key_pair_of": "encryption", "parse_public_key": "encryption", "read_key_file": "encryption",
    "recipient_for": "encryption", "write_key_file": "encryption",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway.payloads' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gateway.payloads.{module}"), name)
