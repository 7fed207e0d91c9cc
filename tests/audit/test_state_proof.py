"""Tests of ``audit.state_proof`` against a real py-evm state, the independent producer.

py-evm's ``AccountDB`` builds and persists the state; ``trie.HexaryTrie.get_proof`` reads the proofs
out of the same database; ``get_proof`` below shapes them as geth's ``eth_getProof`` does
(EIP-1186: hex strings, QUANTITY numbers, only hashed nodes in the proof lists).

The golden vectors in ``tests/vectors/state_proof/`` are made by ``build_golden_vectors``; rewrite
them with ``.venv/bin/python -m tests.audit.test_state_proof --write-vectors`` (from the repository
root) and a test fails whenever the committed files differ from what it builds.
"""

import copy
import dataclasses
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.rlp.accounts import Account
from eth_hash.auto import keccak
from eth_typing import Address as EthAddress
from rlp.sedes import big_endian_int
from trie import HexaryTrie

from audit.errors import (
    ProofError,
    ProofIncomplete,
    ProofMalformed,
    ProofNodeHashMismatch,
    ProofValueMismatch,
    ResponseMalformed,
)
from audit.mpt import EMPTY_TRIE_ROOT
from audit.state_proof import EMPTY_CODE_HASH, VerifiedAccount, verify_account_proof

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors" / "state_proof"

DEPARTMENT = bytes.fromhex("1000000000000000000000000000000000000001")
"""An externally owned account: nonce and balance, no code, no storage."""
REGISTRY = bytes.fromhex("2000000000000000000000000000000000000002")
"""A contract with code and a storage trie deep enough to have branch nodes."""
LEDGER = bytes.fromhex("3000000000000000000000000000000000000003")
"""A contract with exactly two storage slots (the golden vector's account)."""
ABSENT = bytes.fromhex("9000000000000000000000000000000000000001")
"""Never written: its proof of absence ends at another account's leaf (a path that diverges)."""
ABSENT_AT_BRANCH = bytes.fromhex("9000000000000000000000000000000000000006")
"""Never written: its proof of absence ends at an empty slot of the root branch."""

REGISTRY_STORAGE = {slot: slot * 1000 + 1 for slot in range(24)} | {
    int.from_bytes(keccak(b"members" + bytes(31)), "big"): 2**256 - 1
}
LEDGER_STORAGE = {
    0: 0x2A,
    int.from_bytes(keccak(DEPARTMENT.rjust(32, b"\0") + bytes(32)), "big"): 10**21,
}


def build_state() -> tuple[AtomicDB, bytes]:
    """A small city state: two contracts, one department and sixteen filler accounts."""
    db = AtomicDB()
    accounts = AccountDB(db)
    accounts.set_nonce(EthAddress(DEPARTMENT), 7)
    accounts.set_balance(EthAddress(DEPARTMENT), 3 * 10**18)
    for address, code, storage in (
        (REGISTRY, bytes.fromhex("6080604052600080fd"), REGISTRY_STORAGE),
        (LEDGER, bytes.fromhex("60006000f3"), LEDGER_STORAGE),
    ):
        accounts.set_nonce(EthAddress(address), 1)
        accounts.set_code(EthAddress(address), code)
        for slot, value in storage.items():
            accounts.set_storage(EthAddress(address), slot, value)
    for n in range(16):
        accounts.set_balance(EthAddress(bytes([0xF0, n]) + bytes(18)), n + 1)
    accounts.persist()
    return db, accounts.state_root


def encode_proof(nodes: Any) -> list[str]:
    """The producer's node list as EIP-1186 proof: RLP hex of the root and of every hashed node
    (nodes under 32 bytes are embedded in their parent and not listed, as geth does)."""
    encoded = [rlp.encode(node) for node in nodes]
    return ["0x" + node.hex() for i, node in enumerate(encoded) if i == 0 or len(node) >= 32]


def get_proof(db: AtomicDB, state_root: bytes, address: bytes, slots: list[int]) -> dict[str, Any]:
    """What ``eth_getProof(address, slots, block)`` returns for the block with ``state_root``."""
    state = HexaryTrie(db, state_root)
    path = keccak(address)
    raw = state.get(path)
    account = rlp.decode(raw, sedes=Account) if raw else Account()
    storage = HexaryTrie(db, account.storage_root)
    entries = []
    for slot in slots:
        word = slot.to_bytes(32, "big")
        stored = storage.get(keccak(word))
        entries.append(
            {
                "key": "0x" + word.hex(),
                "value": hex(rlp.decode(stored, sedes=big_endian_int) if stored else 0),
                "proof": encode_proof(storage.get_proof(keccak(word))),
            }
        )
    return {
        "address": "0x" + address.hex(),
        "accountProof": encode_proof(state.get_proof(path)),
        "balance": hex(account.balance),
        "codeHash": "0x" + account.code_hash.hex(),
        "nonce": hex(account.nonce),
        "storageHash": "0x" + account.storage_root.hex(),
        "storageProof": entries,
    }


@pytest.fixture(scope="module")
def state() -> tuple[AtomicDB, bytes]:
    return build_state()


def flip_hex(node: str, position: int) -> str:
    data = bytearray(bytes.fromhex(node[2:]))
    data[position] ^= 0x01
    return "0x" + data.hex()


# --- honest responses -----------------------------------------------------------------------


def test_contract_with_storage(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    slots = sorted(REGISTRY_STORAGE)
    verified = verify_account_proof(root, get_proof(db, root, REGISTRY, slots))
    reference = AccountDB(db, root)
    assert verified.exists
    assert verified.address == REGISTRY
    assert verified.nonce == 1
    assert verified.code_hash == keccak(bytes.fromhex("6080604052600080fd"))
    assert verified.storage_root == rlp.decode(
        HexaryTrie(db, root)[keccak(REGISTRY)], sedes=Account
    ).storage_root
    assert {int.from_bytes(s.key, "big"): s.value for s in verified.storage} == REGISTRY_STORAGE
    for slot in slots:
        assert verified.slot_value(slot) == reference.get_storage(EthAddress(REGISTRY), slot)
    with pytest.raises(KeyError):
        verified.slot_value(10**6)


def test_absent_slots_of_a_present_account_are_zero(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    verified = verify_account_proof(root, get_proof(db, root, REGISTRY, [24, 2**255, 10**9]))
    assert [slot.value for slot in verified.storage] == [0, 0, 0]


def test_account_without_code_or_storage(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    verified = verify_account_proof(root, get_proof(db, root, DEPARTMENT, [0]))
    assert (verified.exists, verified.nonce, verified.balance) == (True, 7, 3 * 10**18)
    assert verified.code_hash == EMPTY_CODE_HASH
    assert verified.storage_root == EMPTY_TRIE_ROOT
    assert verified.slot_value(0) == 0


@pytest.mark.parametrize(("address", "nodes"), [(ABSENT, 2), (ABSENT_AT_BRANCH, 1)])
def test_absent_account(state: tuple[AtomicDB, bytes], address: bytes, nodes: int) -> None:
    db, root = state
    response = get_proof(db, root, address, [0, 5])
    assert len(response["accountProof"]) == nodes
    assert all(entry["proof"] == [] for entry in response["storageProof"])
    verified = verify_account_proof(root, response)
    assert verified == VerifiedAccount(
        address=address,  # type: ignore[arg-type]
        exists=False,
        nonce=0,
        balance=0,
        storage_root=EMPTY_TRIE_ROOT,
        code_hash=EMPTY_CODE_HASH,
        storage=verified.storage,
    )
    assert [slot.value for slot in verified.storage] == [0, 0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        verified.balance = 1  # type: ignore[misc]


def test_web3_style_values_and_short_slot_keys(state: tuple[AtomicDB, bytes]) -> None:
    """web3.py hands back ints and bytes, and geth echoes slot keys as the caller wrote them."""
    db, root = state
    response = get_proof(db, root, LEDGER, [0])
    web3_style = {
        **response,
        "address": bytes.fromhex(response["address"][2:]),
        "balance": int(response["balance"], 16),
        "nonce": int(response["nonce"], 16),
        "codeHash": bytes.fromhex(response["codeHash"][2:]),
        "accountProof": [bytes.fromhex(node[2:]) for node in response["accountProof"]],
        "storageProof": [{**response["storageProof"][0], "key": "0x0", "value": 0x2A}],
    }
    assert verify_account_proof(root, web3_style).slot_value(0) == 0x2A


# --- dishonest responses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "forged"),
    [
        ("balance", lambda r: hex(int(r["balance"], 16) + 1)),
        ("nonce", lambda r: hex(int(r["nonce"], 16) + 1)),
        ("codeHash", lambda r: "0x" + keccak(b"other code").hex()),
        ("storageHash", lambda r: "0x" + EMPTY_TRIE_ROOT.hex()),
    ],
)
def test_a_forged_account_field_is_a_value_mismatch(
    state: tuple[AtomicDB, bytes], field: str, forged: Any
) -> None:
    db, root = state
    response = get_proof(db, root, REGISTRY, [1])
    response[field] = forged(response)
    with pytest.raises(ProofValueMismatch) as caught:
        verify_account_proof(root, response)
    message = str(caught.value)
    assert message.startswith("value check failed at proof node")
    assert f"account 0x{REGISTRY.hex()}" in message
    assert f"the response claims {field} {response[field]}" in message
    assert caught.value.actual == HexaryTrie(db, root)[keccak(REGISTRY)]


def test_an_absent_account_claimed_to_hold_funds(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    response = get_proof(db, root, ABSENT, [])
    response["balance"] = "0x1"
    with pytest.raises(ProofValueMismatch, match="account is absent.*claims balance 0x1") as caught:
        verify_account_proof(root, response)
    assert caught.value.actual is None


def test_an_existing_account_claimed_absent(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    response = get_proof(db, root, DEPARTMENT, [])
    response |= {"balance": "0x0", "nonce": "0x0"}
    with pytest.raises(ProofValueMismatch, match="claims nonce 0x0 where the proof proves 0x7"):
        verify_account_proof(root, response)


@pytest.mark.parametrize(
    ("slot", "forged_value", "message"),
    [
        (3, "0xbb9", "claims value 0xbb9 where the proof proves 0xbb9"),  # replaced below
        (3, "0x0", "claims value 0x0 where the proof proves 0xbb9"),
        (24, "0x1", "claims value 0x1 where the proof proves 0x0 \\(the slot is absent\\)"),
    ],
)
def test_a_forged_storage_value_is_a_value_mismatch(
    state: tuple[AtomicDB, bytes], slot: int, forged_value: str, message: str
) -> None:
    db, root = state
    response = get_proof(db, root, REGISTRY, [0, slot])
    if forged_value == response["storageProof"][1]["value"]:
        forged_value, message = "0xbba", "claims value 0xbba where the proof proves 0xbb9"
    response["storageProof"][1]["value"] = forged_value
    with pytest.raises(ProofValueMismatch, match=message) as caught:
        verify_account_proof(root, response)
    assert f"storage slot 0x{slot:064x} of account 0x{REGISTRY.hex()}" in str(caught.value)
    assert caught.value.key == keccak(slot.to_bytes(32, "big"))


def test_every_flipped_byte_of_the_account_proof_is_caught(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    honest = get_proof(db, root, REGISTRY, [])
    for index, node in enumerate(honest["accountProof"]):
        for position in range(0, len(node) // 2 - 1, 7):
            response = copy.deepcopy(honest)
            response["accountProof"][index] = flip_hex(node, position)
            with pytest.raises(ProofNodeHashMismatch) as caught:
                verify_account_proof(root, response)
            assert caught.value.depth == index
            assert caught.value.subject == f"account 0x{REGISTRY.hex()}"


def test_every_flipped_byte_of_a_storage_proof_is_caught(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    honest = get_proof(db, root, REGISTRY, [5, 99])
    for entry_index in (0, 1):
        for index, node in enumerate(honest["storageProof"][entry_index]["proof"]):
            for position in range(0, len(node) // 2 - 1, 5):
                response = copy.deepcopy(honest)
                response["storageProof"][entry_index]["proof"][index] = flip_hex(node, position)
                with pytest.raises(ProofNodeHashMismatch, match="storage slot 0x0+(5|63) of"):
                    verify_account_proof(root, response)


def test_a_proof_for_another_slot_does_not_prove_this_one(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    response = get_proof(db, root, REGISTRY, [4, 17])
    first, second = response["storageProof"]
    first["proof"], second["proof"] = second["proof"], first["proof"]
    with pytest.raises(ProofError):
        verify_account_proof(root, response)


def test_a_proof_against_another_state_root(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    accounts = AccountDB(db, root)
    accounts.set_balance(EthAddress(DEPARTMENT), 1)
    accounts.persist()
    newer_root = accounts.state_root
    stale = get_proof(db, root, DEPARTMENT, [])
    with pytest.raises(ProofNodeHashMismatch) as caught:
        verify_account_proof(newer_root, stale)
    assert caught.value.depth == 0


def test_a_truncated_account_proof_is_incomplete(state: tuple[AtomicDB, bytes]) -> None:
    db, root = state
    response = get_proof(db, root, LEDGER, [])
    response["accountProof"] = response["accountProof"][:-1]
    with pytest.raises(ProofIncomplete, match=f"account 0x{LEDGER.hex()}"):
        verify_account_proof(root, response)


def test_a_non_canonical_leaf_is_malformed() -> None:
    """A state whose leaves no correct client writes: the account balance with a leading zero,
    and a storage value with a leading zero. The proofs are sound; the content is not."""
    storage = HexaryTrie({})
    storage[keccak(bytes(32))] = rlp.encode(b"\x00\x05")
    accounts = HexaryTrie(storage.db)
    accounts[keccak(LEDGER)] = rlp.encode([1, b"\x00\x05", storage.root_hash, EMPTY_CODE_HASH])
    accounts[keccak(DEPARTMENT)] = rlp.encode([0, 5, storage.root_hash, EMPTY_CODE_HASH])
    padded_balance = {
        "address": "0x" + LEDGER.hex(),
        "accountProof": encode_proof(accounts.get_proof(keccak(LEDGER))),
        "balance": "0x5",
        "codeHash": "0x" + EMPTY_CODE_HASH.hex(),
        "nonce": "0x1",
        "storageHash": "0x" + storage.root_hash.hex(),
        "storageProof": [],
    }
    with pytest.raises(ProofMalformed, match="balance has leading zero"):
        verify_account_proof(accounts.root_hash, padded_balance)
    bad_storage = get_proof(accounts.db, accounts.root_hash, DEPARTMENT, [])
    bad_storage["storageProof"] = [
        {"key": "0x0", "value": "0x5", "proof": encode_proof(storage.get_proof(keccak(bytes(32))))}
    ]
    with pytest.raises(ProofMalformed, match="storage leaf .* is not RLP of a non-zero"):
        verify_account_proof(accounts.root_hash, bad_storage)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r.pop("balance"), "balance"),
        (lambda r: r.update(nonce="7"), "nonce"),
        (lambda r: r.update(address="0x1234"), "address"),
        (lambda r: r.update(codeHash="0x" + "zz" * 32), "codeHash"),
        (lambda r: r.update(accountProof="0xf8"), "accountProof"),
        (lambda r: r["accountProof"].__setitem__(0, "0xabc"), "accountProof[0]"),
        (lambda r: r.update(storageProof={}), "storageProof"),
        (lambda r: r["storageProof"][0].pop("proof"), "storageProof[0].proof"),
        (lambda r: r["storageProof"][0].update(key="0x" + "1" * 65), "storageProof[0].key"),
        (lambda r: r["storageProof"][0].update(value=True), "storageProof[0].value"),
        (lambda r: r["storageProof"][0].update(value=hex(2**256)), "storageProof[0].value"),
    ],
)
def test_a_malformed_response_names_the_field(
    state: tuple[AtomicDB, bytes], edit: Any, field: str
) -> None:
    db, root = state
    response = get_proof(db, root, LEDGER, [0])
    edit(response)
    with pytest.raises(ResponseMalformed) as caught:
        verify_account_proof(root, response)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"response check failed for field {field!r}")


# --- golden vectors ---------------------------------------------------------------------------


def build_golden_vectors() -> dict[str, dict[str, Any]]:
    """The committed vectors: LEDGER with its two storage slots, and the absent account (with a
    storage query, whose proof against the empty storage trie is the empty list)."""
    db, root = build_state()
    generator = (
        f"tests/audit/test_state_proof.py build_golden_vectors: py-evm {version('py-evm')} "
        f"AccountDB state, trie {version('trie')} HexaryTrie.get_proof, shaped as geth's "
        "eth_getProof (EIP-1186); rewrite with `.venv/bin/python -m tests.audit.test_state_proof "
        "--write-vectors`"
    )
    ledger_slots = sorted(LEDGER_STORAGE)
    return {
        "present_account_two_slots": {
            "description": "A contract account with code and exactly two storage slots, both "
            "queried; the state also holds 18 other accounts.",
            "generator": generator,
            "stateRoot": "0x" + root.hex(),
            "response": get_proof(db, root, LEDGER, ledger_slots),
            "expected": {
                "exists": True,
                "nonce": "0x1",
                "balance": "0x0",
                "storage": {f"0x{slot:064x}": hex(LEDGER_STORAGE[slot]) for slot in ledger_slots},
            },
        },
        "absent_account": {
            "description": "An address never written in the same state: the account proof is a "
            "proof of absence (root branch, then another account's leaf whose path diverges) and "
            "the response reports the empty account; slot 0 is queried and proven 0 by an empty "
            "proof against the empty storage trie.",
            "generator": generator,
            "stateRoot": "0x" + root.hex(),
            "response": get_proof(db, root, ABSENT, [0]),
            "expected": {
                "exists": False,
                "nonce": "0x0",
                "balance": "0x0",
                "storage": {f"0x{0:064x}": "0x0"},
            },
        },
    }


def vector_text(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=2) + "\n"


def load_vectors() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(VECTOR_DIR.glob("*.json"))
    }


def test_golden_vectors_are_what_the_generator_builds() -> None:
    built = build_golden_vectors()
    assert sorted(path.name for path in VECTOR_DIR.glob("*.json")) == sorted(
        f"{name}.json" for name in built
    )
    for name, vector in built.items():
        assert (VECTOR_DIR / f"{name}.json").read_text(encoding="utf-8") == vector_text(vector), (
            f"{name}.json is stale: rewrite with "
            "`.venv/bin/python -m tests.audit.test_state_proof --write-vectors`"
        )


@pytest.mark.parametrize("name", ["present_account_two_slots", "absent_account"])
def test_golden_vector_verifies(name: str) -> None:
    vector = load_vectors()[name]
    verified = verify_account_proof(bytes.fromhex(vector["stateRoot"][2:]), vector["response"])
    expected = vector["expected"]
    assert verified.exists is expected["exists"]
    assert verified.nonce == int(expected["nonce"], 16)
    assert verified.balance == int(expected["balance"], 16)
    assert {"0x" + s.key.hex(): hex(s.value) for s in verified.storage} == expected["storage"]


@pytest.mark.parametrize(
    ("name", "tamper", "error"),
    [
        ("present_account_two_slots", lambda r: r.update(balance="0x1"), ProofValueMismatch),
        (
            "present_account_two_slots",
            lambda r: r["storageProof"][1].update(value="0x1"),
            ProofValueMismatch,
        ),
        (
            "present_account_two_slots",
            lambda r: r["storageProof"][0]["proof"].__setitem__(
                -1, flip_hex(r["storageProof"][0]["proof"][-1], 20)
            ),
            ProofNodeHashMismatch,
        ),
        (
            "present_account_two_slots",
            lambda r: r["accountProof"].__setitem__(0, flip_hex(r["accountProof"][0], 100)),
            ProofNodeHashMismatch,
        ),
        ("absent_account", lambda r: r.update(nonce="0x1"), ProofValueMismatch),
        ("absent_account", lambda r: r["accountProof"].pop(), ProofIncomplete),
        ("absent_account", lambda r: r["storageProof"][0].update(value="0x2"), ProofValueMismatch),
    ],
)
def test_tampered_golden_vector_fails(name: str, tamper: Any, error: type[ProofError]) -> None:
    vector = copy.deepcopy(load_vectors()[name])
    tamper(vector["response"])
    with pytest.raises(error):
        verify_account_proof(bytes.fromhex(vector["stateRoot"][2:]), vector["response"])


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-vectors"]:
        sys.exit("usage: python -m tests.audit.test_state_proof --write-vectors")
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, vector in build_golden_vectors().items():
        (VECTOR_DIR / f"{name}.json").write_text(vector_text(vector), encoding="utf-8")
        print(f"wrote {VECTOR_DIR / f'{name}.json'}")
