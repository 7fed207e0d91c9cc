"""The ceiling of the gateway benchmark: the same FastAPI/uvicorn stack answering one constant
JSON document (of the size of a real answer) with no database and no proofs.

Run by ``scripts/bench_gateway.py`` as ``uvicorn scripts.bench_ceiling_app:app``; the document is
read from the file named by ``CITYLEDGER_CEILING_DOCUMENT`` at start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

app = FastAPI()
_DOCUMENT: Any = json.loads(Path(os.environ["CITYLEDGER_CEILING_DOCUMENT"]).read_text())


@app.get("/constant")
def constant() -> Any:
    """Returns the same document on every call, serialised by FastAPI like any route's answer."""
    return _DOCUMENT
