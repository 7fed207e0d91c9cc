"""The browser verifier, as built (gateway/portal/static/cityledger-verify.js) and run by Node.js,
reaches the same verdicts as ``audit.bundle.verify_bundle`` on every shared bundle vector — the
same overall verdict, the same failing check names and the same (check, subject, passed) for every
check — and both reproduce each vector's ``expected.json``."""

from __future__ import annotations

from typing import Any

import pytest

from portal_vectors import NAMES, VECTORS, js_verdict, load, python_verdict, run_node


@pytest.fixture(scope="module")
def node_verdicts() -> dict[str, Any]:
    return {name: js_verdict(raw) for name, raw in run_node("vectors", str(VECTORS), *NAMES).items()}


def test_the_vectors_cover_every_check_a_bundle_can_fail() -> None:
    failing = {check for name in NAMES for check in load(f"{name}/expected.json")["failing"]}
    assert failing >= {"format", "genesis", "sealer-change", "header-hash", "block-number", "tx-proof", "tx-hash",
                       "receipt-proof", "log-index", "log-content", "seal"}
    assert sum(load(f"{name}/expected.json")["ok"] for name in NAMES) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_audit_reproduces_the_vector(name: str) -> None:
    expected = load(f"{name}/expected.json")
    got = python_verdict(name)
    assert (got["ok"], got["failing"]) == (expected["ok"], expected["failing"])


@pytest.mark.parametrize("name", NAMES)
def test_node_agrees_with_audit(name: str, node_verdicts: dict[str, Any]) -> None:
    assert node_verdicts[name] == python_verdict(name)
