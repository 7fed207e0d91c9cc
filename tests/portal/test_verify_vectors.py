"""The browser verifier, as built (gateway/portal/static/cityledger-verify.js) and run by Node.js,
reaches the same verdicts as ``audit.bundle.verify_bundle`` on every shared bundle vector — the
same overall verdict, the same failing check names and the same (check, subject, passed) for every
check — and both reproduce each vector's ``expected.json``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from portal_vectors import NAMES, VECTORS, js_verdict, load, python_verdict, run_node


@pytest.fixture(scope="module")
def node_verdicts() -> dict[str, Any]:
    return {name: js_verdict(raw) for name, raw in run_node("vectors", str(VECTORS), *NAMES).items()}


def test_the_vectors_cover_every_check_a_bundle_can_fail() -> None:
    failing = {check for name in NAMES for check in load(f"{name}/expected.json")["failing"]}
    assert failing >= {"format", "genesis", "sealer-change", "header-hash", "block-number", "tx-proof", "tx-hash",
                       "receipt-proof", "log-index", "log-content", "seal", "checkpoint", "inclusion", "cosignature"}
    assert sum(load(f"{name}/expected.json")["ok"] for name in NAMES) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_audit_reproduces_the_vector(name: str) -> None:
    expected = load(f"{name}/expected.json")
    got = python_verdict(name)
    assert (got["ok"], got["failing"]) == (expected["ok"], expected["failing"])


@pytest.mark.parametrize("name", NAMES)
def test_node_agrees_with_audit(name: str, node_verdicts: dict[str, Any]) -> None:
    assert node_verdicts[name] == python_verdict(name)


def test_fresh_vectors_from_a_new_chain_agree_too(tmp_path: Path) -> None:
    """The generator still works, and on a chain made now (new keys, hashes, times) the built
    verifier again gives audit's verdict on every vector (the generator checks audit's)."""
    done = subprocess.run([str(ROOT / "scripts" / "make-bundle-vectors"), "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    names = sorted(p.name for p in tmp_path.iterdir() if (p / "expected.json").is_file())
    assert names == NAMES
    for name, raw in run_node("vectors", str(tmp_path), *names).items():
        expected = json.loads((tmp_path / name / "expected.json").read_text())
        got = js_verdict(raw)
        assert (got["ok"], got["failing"]) == (expected["ok"], expected["failing"]), name
