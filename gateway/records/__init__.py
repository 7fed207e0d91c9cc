"""One module per record kind (STYLE 4): its tables, how events become rows, its index keys.

``MODULES`` is what the indexer applies, in order, to each event.
"""

from __future__ import annotations

from gateway.indexer import RecordModule
from gateway.records.credit import CreditRecords
from gateway.records.custody import CustodyRecords
from gateway.records.members import MemberRecords
from gateway.records.sharing import SharingRecords

MODULES: tuple[RecordModule, ...] = (MemberRecords(), SharingRecords(), CustodyRecords(), CreditRecords())
