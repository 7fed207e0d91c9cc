"""One module per record kind (STYLE 4): its tables, how events become rows, its index keys.

``MODULES`` is what the indexer applies, in order, to each event.
"""

from __future__ import annotations

from gateway.indexer import RecordModule

MODULES: tuple[RecordModule, ...] = ()
