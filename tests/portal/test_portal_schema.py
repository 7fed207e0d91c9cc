"""The published contract of the portal's verdict attributes (gateway/schemas/portal-verified.schema.json)
accepts what the pages write and refuses what they must never write; the browser tests validate
every verdict on the trace pages against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "gateway" / "schemas" / "portal-verified.schema.json").read_text())
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "bundles"


def valid(attributes: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(SCHEMA).is_valid(attributes)


def test_the_verdicts_the_pages_write_are_valid() -> None:
    assert valid({"data-verified": "true"})
    assert valid({"data-verified": "false", "data-failed-check": "receipt-proof"})


@pytest.mark.parametrize("attributes", [
    {"data-verified": "false"},  # a failure that names no check
    {"data-verified": "true", "data-failed-check": "seal"},  # a pass that names a failed check
    {"data-failed-check": "seal"},  # a failed check without a verdict
    {"data-verified": "yes"},
    {"data-verified": "false", "data-failed-check": "Receipt Proof"},
    {"data-verified": "true", "aria-busy": "true"},  # marked before its check finished
])
def test_what_the_pages_must_never_write_is_refused(attributes: dict[str, Any]) -> None:
    assert not valid(attributes)


def test_every_check_a_shared_vector_fails_is_a_known_name() -> None:
    names = set(SCHEMA["$defs"]["check"]["examples"])
    failing = {c for p in VECTORS.glob("*/expected.json") for c in json.loads(p.read_text())["failing"]}
    assert failing and failing <= names, failing - names
    assert all(valid({"data-verified": "false", "data-failed-check": c}) for c in failing)


def test_every_check_the_verifiers_name_is_a_known_name() -> None:
    """The browser verifier's and the gateway's check lists are inside the published names."""
    import re

    from gateway.proofs import RECEIPT_CHECKS

    source = (Path(__file__).resolve().parents[2] / "gateway" / "portal_src" / "verify" / "bundle.js").read_text()
    listed = re.search(r"export const CHECKS = Object.freeze\(\[(.*?)\]\)", source, re.S)
    assert listed is not None
    browser = set(re.findall(r'"([a-z-]+)"', listed.group(1)))
    assert browser and browser | set(RECEIPT_CHECKS) <= set(SCHEMA["$defs"]["check"]["examples"])
