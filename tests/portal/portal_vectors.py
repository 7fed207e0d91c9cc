"""Shared by the portal tests: the bundle vectors, audit's verdicts on them, and the built verifier."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from audit import tlog
from audit.bundle import Trust, verify_bundle
from conftest import ROOT

VECTORS = ROOT / "tests" / "vectors" / "bundles"
BUILT = ROOT / "gateway" / "portal" / "static" / "cityledger-verify.js"
CASES = Path(__file__).with_name("cases.mjs")
NAMES = sorted(p.name for p in VECTORS.iterdir() if (p / "expected.json").is_file())


def load(relative: str) -> Any:
    return json.loads((VECTORS / relative).read_text())


def trust_of(spec: Any) -> Trust:
    """The Trust an ``expected.json`` names (tests/vectors/bundles/README.md)."""
    book, genesis = load("addressbook.json"), load("genesis.json")
    if isinstance(spec, dict):
        return Trust(chain_id=spec.get("chainId"),
                     genesis_hash=bytes.fromhex(spec["genesisHash"][2:]) if spec.get("genesisHash") else None,
                     genesis_sealers=tuple(bytes.fromhex(a[2:]) for a in spec["genesisSealers"])
                     if spec.get("genesisSealers") is not None else None,
                     witness_keys=tuple(tlog.parse_vkey(k) for k in spec.get("witnessKeys", [])),
                     min_cosignatures=int(spec.get("minCosignatures", 0)))
    return Trust(chain_id=book["chainId"],
                 genesis_hash=bytes.fromhex(book["deployment"]["blockHash"][2:]) if spec in ("both", "addressbook") else None,
                 genesis_sealers=tuple(bytes.fromhex(a[2:]) for a in genesis["registry"]["sealers"])
                 if spec in ("both", "genesis") else None)


def verdict(ok: bool, results: list[tuple[str, str, bool]]) -> dict[str, Any]:
    """What must agree: the verdict, the failing check names, and every (check, subject, ok)."""
    return {"ok": ok, "failing": sorted({c for c, _, passed in results if not passed}), "results": results}


@cache
def python_verdict(name: str) -> dict[str, Any]:
    report = verify_bundle(load(f"{name}/bundle.json"), trust_of(load(f"{name}/expected.json")["trust"]))
    return verdict(report.ok, [(r.check, r.subject, r.ok) for r in report.results])


def js_verdict(raw: dict[str, Any]) -> dict[str, Any]:
    return verdict(raw["ok"], [(r["check"], r["subject"], r["ok"]) for r in raw["results"]])


def run_node(*args: str, stdin: Any = None) -> Any:
    """Run tests/portal/cases.mjs (which imports the built bundle) and parse its JSON answer."""
    done = subprocess.run(["node", str(CASES), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          input=None if stdin is None else json.dumps(stdin))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
