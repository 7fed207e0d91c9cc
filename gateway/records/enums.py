"""Contract enums by name, read from ``contracts/artifacts/manifest.json`` (generated from the
Solidity AST by ``scripts/compile``), so the gateway never keeps its own copy of them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[2] / "contracts" / "artifacts" / "manifest.json"


@cache
def enums(manifest: Path = MANIFEST) -> dict[str, tuple[str, ...]]:
    doc = json.loads(manifest.read_text())
    return {name: tuple(values) for name, values in doc["enums"].items()}


def name_of(enum: str, value: int) -> str:
    """``name_of("MemberRegistry.MemberKind", 7) == "Admin"``; unknown values read ``"#<n>"``."""
    values = enums()[enum]
    return values[value] if 0 <= value < len(values) else f"#{value}"


def value_of(enum: str, name: str) -> int:
    return enums()[enum].index(name)
