"""The client's parts that need no gateway: the token cache, key loading, the parsers, batch leaves
and the positional tree (against eth_abi and the contracts README's example), the batch CSV's
row checks, and the command line's help and start-up cost."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

from conftest import ROOT
from gateway.client.api import TokenCache
from gateway.client.batch import leaf_hash, positional_root, read_rows
from gateway.client.errors import BadInput, KeyUnavailable
from gateway.client.keys import dev_entry, from_dev_keys, from_keystore
from gateway.client.member import enum_value, parse_when, subjects_commitment
from gateway.client.verify import batch_root_from_path


def test_token_cache_is_per_gateway_and_account_private_and_expires(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "c")
    now = time.time()
    path = cache.store("http://gw:8080/", "0xAbC", "tok-1", int(now) + 600, {"id": 4})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cache.load("http://gw:8080", "0xabc")["token"] == "tok-1"  # type: ignore[index]
    assert cache.load("http://other:8080", "0xabc") is None and cache.load("http://gw:8080", "0xdef") is None
    assert cache.load("http://gw:8080", "0xabc", now=now + 590) is None  # inside the renewal margin
    cache.drop("http://gw:8080", "0xabc")
    assert cache.load("http://gw:8080", "0xabc") is None


def test_keys_from_a_keystore_and_the_dev_keys_file(tmp_path: Path) -> None:
    account = Account.create()
    keystore = tmp_path / "k.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "pw", kdf="pbkdf2", iterations=1000)))
    keys = from_keystore(keystore, "pw")
    assert keys.address == account.address and "private" not in repr(keys) and account.key.hex() not in repr(keys)
    with pytest.raises(KeyUnavailable, match="cannot unlock"):
        from_keystore(keystore, "wrong")
    with pytest.raises(KeyUnavailable, match="cannot read"):
        from_keystore(tmp_path / "missing.json", "pw")

    doc = {"members": [{"id": 4, "name": "Municipal Health Commission", "address": "0x01"},
                       {"id": 9, "name": "First People's Hospital", "address": "0x02"},
                       {"id": 15, "name": "市第二人民医院 Second People's Hospital", "address": "0x03"}],
           "admins": [{"id": 1, "name": "Municipal Big Data Bureau (consortium admin)", "address": "0x04"}]}
    assert dev_entry(doc, "health")["id"] == 4 and dev_entry(doc, "15")["id"] == 15
    assert dev_entry(doc, "第二人民医院")["id"] == 15 and dev_entry(doc, "big data")["id"] == 1
    with pytest.raises(KeyUnavailable, match="matches several members"):
        dev_entry(doc, "Hospital")
    with pytest.raises(KeyUnavailable, match="no member matches"):
        dev_entry(doc, "Tax Bureau")

    from node.genesis_init import dev_genesis  # a real dev keys file: signing and encryption keys

    _, dev_keys = dev_genesis(ROOT / "contracts" / "artifacts", seed=b"client unit test")
    (tmp_path / "dev-keys.json").write_text(json.dumps(dev_keys))
    health = from_dev_keys(tmp_path / "dev-keys.json", "Municipal Health Commission")
    entry = dev_entry(dev_keys, "Municipal Health Commission")
    assert health.address == entry["address"] and health.encryption is not None
    assert "0x" + health.encryption.public_key.hex() == entry["encryption_public_key"]


def test_parsers() -> None:
    assert parse_when("1700000000") == 1_700_000_000
    assert parse_when("2027-01-31") == 1_801_353_600
    assert parse_when("2027-01-31T08:00:00+08:00") == 1_801_353_600
    assert parse_when("+2d", now=1000.0) == 1000 + 2 * 86400 and parse_when("+90m", now=0.0) == 5400
    with pytest.raises(BadInput):
        parse_when("next tuesday")
    assert enum_value("Credit.Category", "penalty") == 1 and enum_value("Credit.Category", "abnormal-operation") == 3
    assert enum_value("DataSharing.Classification", "Personal") == 3 and enum_value("Credit.Category", 5) == 5
    with pytest.raises(BadInput, match="one of License"):
        enum_value("Credit.Category", "Parking")
    salt = bytes(range(32))
    assert subjects_commitment([" a ", "", "b"], salt) == "0x" + keccak(salt + b"a\nb").hex()


def test_batch_leaves_and_the_positional_tree_follow_the_contracts_readme() -> None:
    args = (7, 1, 3, True, b"91350100M000100Y43", 2, 1_704_067_200, 0, 500_000, keccak(b"summary"), keccak(b"cid"),
            bytes(32), bytes(32))
    encoded = abi_encode(["uint256", "uint8", "uint256", "bool", "bytes18", "uint8", "uint64", "uint64", "uint256",
                          "bytes32", "bytes32", "bytes32", "bytes32"], list(args))
    assert len(encoded) == 416
    assert leaf_hash(*args) == keccak(keccak(encoded))
    a, b, c = keccak(b"a"), keccak(b"b"), keccak(b"c")
    # contracts/README.md: root = H(H(a ‖ b) ‖ H(c ‖ 0x00…00)); the proof of index 2 is [0x00…00, H(a ‖ b)].
    root = keccak(keccak(a + b) + keccak(c + bytes(32)))
    assert positional_root([a, b, c]) == root and positional_root([a]) == a
    assert batch_root_from_path(c, 2, [bytes(32), keccak(a + b)]) == root
    assert batch_root_from_path(c, 1, [bytes(32), keccak(a + b)]) != root
    with pytest.raises(BadInput):
        positional_root([])


def test_batch_rows_are_checked_and_rejections_named_by_line(tmp_path: Path) -> None:
    csv = tmp_path / "batch.csv"
    csv.write_text("uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"
                   "91350100M000100Y43,2,2026-01-01,,100,\"fine, paid\",,public\n"
                   "91350100M000100Y44,2,2026-01-01,,100,x,,public\n"
                   "91350100M000100Y43,2,2026-01-01,2025-01-01,100,x,,public\n"
                   "91350100M000100Y43,256,1700000000,,1,x,,public\n"
                   "91350100M000100Y43,1,1700000000,,1,x,,secret\n"
                   "91350100M000100Y43,1,1700000000,,1\n")
    read = read_rows(csv)
    assert [(r.line, r.summary, r.effective) for r in read.rows] == [(2, "fine, paid", 1_767_225_600)]
    assert [r["line"] for r in read.rejected] == [3, 4, 5, 6, 7]
    reasons = " | ".join(r["reason"] for r in read.rejected)
    for words in ("check character", "not after the effective date", "severity", "neither public nor restricted",
                  "the header has 8"):
        assert words in reasons
    (tmp_path / "headless.csv").write_text("uscc,amount\n")
    with pytest.raises(BadInput, match="missing column"):
        read_rows(tmp_path / "headless.csv")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        out.append((prefix + name, command))
        if isinstance(command, click.Group):
            out += _commands(command, prefix + name + " ")
    return out


def test_every_command_and_option_is_documented() -> None:
    from cityledger_up import demo, up
    from gateway.client.cli import app

    wanted = {"sign-in", "datasets", "datasets register", "datasets accesses", "requests", "request", "approve",
              "reject", "deliver", "fetch", "revoke", "lot register", "lot transfer", "lot accept", "lot refuse",
              "lot consume", "lot show", "lot stock", "credit issue", "credit correct", "credit revoke", "credit batch",
              "credit show", "trace", "verify-proof", "governance approve", "governance suspend"}
    commands = dict(_commands(app))
    assert wanted <= set(commands)
    for name, command in [("client", app), ("up", up), ("demo", demo), *commands.items(), *_commands(demo)]:
        assert command.help, f"{name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help text"
    leaves = [c for n, c in commands.items() if not isinstance(c, click.Group)]
    assert all(any("--json" in p.opts for p in c.params) for c in leaves), "every client command takes --json"


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    probe = ("import sys; from cityledger_cli import main\n"
             "for args in (['--help'], ['client', '--help'], ['client', 'trace', '--help'], ['up', '--help'],"
             " ['demo', 'show', '--help']):\n"
             "    try: main(args)\n"
             "    except SystemExit: pass\n"
             "heavy = {'web3', 'fastapi', 'eth_account', 'httpx', 'sqlmodel', 'eth_abi', 'rich', 'pyrage'}"
             " & {m.split('.')[0] for m in sys.modules}; print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_demo_show_reads_one_value(tmp_path: Path) -> None:
    (tmp_path / "demo.json").write_text(json.dumps({"grants": [{"id": 7}], "keys": "/k.json", "uscc": ["A", "B"]}))

    def show(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cityledger_cli", "demo", "show", *args, "--data-dir", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert show("grants.0.id").stdout == "7\n" and show("keys").stdout == "/k.json\n"
    assert json.loads(show("uscc").stdout) == ["A", "B"]
    missing = show("grants.3")
    assert missing.returncode == 2 and "no 'grants.3'" in missing.stderr
    (tmp_path / "demo.json").unlink()
    absent = show()
    assert absent.returncode == 1 and "cityledger up --demo" in absent.stderr
