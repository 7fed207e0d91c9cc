"""Genesis as data: documents round-trip, seeded development keys are reproducible, and every
malformed field is named in the error."""

from __future__ import annotations

import pytest

from conftest import ARTIFACTS
from node.errors import GenesisError
from node.genesis import parse_genesis
from node.genesis_init import dev_genesis


def test_document_round_trips() -> None:
    genesis, _keys = dev_genesis(ARTIFACTS, timestamp=1_764_000_000, seed=b"round-trip")
    assert parse_genesis(genesis.to_json()) == genesis


def test_seeded_development_genesis_is_reproducible() -> None:
    first, first_keys = dev_genesis(ARTIFACTS, timestamp=1, seed=b"same")
    second, second_keys = dev_genesis(ARTIFACTS, timestamp=1, seed=b"same")
    assert first == second and first_keys == second_keys
    other, _ = dev_genesis(ARTIFACTS, timestamp=1, seed=b"other")
    assert other.registry.sealers != first.registry.sealers


@pytest.mark.parametrize(("path", "value", "named"), [
    (("chainId",), "seventeen", "chainId"),
    (("registry", "admins"), [], "admins"),
    (("registry", "sealers"), ["0x1234"], "sealers"),
])
def test_malformed_fields_are_named(path: tuple[str, ...], value: object, named: str) -> None:
    genesis, _keys = dev_genesis(ARTIFACTS, timestamp=1, seed=b"bad")
    doc = genesis.to_json()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(GenesisError, match=named):
        parse_genesis(doc)
