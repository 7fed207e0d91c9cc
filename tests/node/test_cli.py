"""`cityledger node init|run` from the command line: production init from keystore files writes no
key, and a node unlocks its sealer keystore."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eth_account import Account

from conftest import ROOT, NodeProcess, free_port
from cityledger_cli import run


def main(args: list[str]) -> int:
    return run("node", args)


def _keystore(path: Path, password: str) -> Account:
    account = Account.create()
    path.write_text(json.dumps(Account.encrypt(account.key, password, kdf="pbkdf2", iterations=1000)))
    return account


def test_consortium_init_and_run_with_sealer_keystore(tmp_path: Path) -> None:
    sealer = _keystore(tmp_path / "sealer.json", "s3cret")
    admin = _keystore(tmp_path / "admin.json", "adm")
    clerk = Account.create()
    (tmp_path / "sealer.pw").write_text("s3cret\n")
    (tmp_path / "consortium.json").write_text(json.dumps({
        "chainId": 4242, "threshold": 1,
        "admins": [{"keystore": "admin.json"}],
        "sealers": [{"keystore": "sealer.json"}],
        "members": [
            # Sealers are accounts of admin-kind members: the office holds the sealer key beside
            # its admin key (only the latter is in the admin set).
            {"name": "Admin Office", "kind": "admin", "level": "city",
             "accounts": [{"keystore": "admin.json"}, {"keystore": "sealer.json"}]},
            {"name": "Red Cross", "kind": "charity", "level": "city", "accounts": [clerk.address]},
        ],
    }))
    data = tmp_path / "node"
    assert main(["init", "--data-dir", str(data), "--consortium", str(tmp_path / "consortium.json")]) == 0
    text = (data / "genesis.json").read_text()
    genesis = json.loads(text)
    assert genesis["development"] is False and genesis["chainId"] == 4242
    assert genesis["registry"]["sealers"] == [sealer.address]
    assert genesis["registry"]["members"][1]["accounts"] == [clerk.address]
    assert not (data / "dev-keys.json").exists()
    for key in (sealer.key, admin.key, clerk.key):
        assert key.hex().removeprefix("0x") not in text
    # A second init refuses to overwrite.
    assert main(["init", "--data-dir", str(data), "--consortium", str(tmp_path / "consortium.json")]) == 2

    port = free_port()
    node = NodeProcess(["node", "run", "--data-dir", str(data), "--http", f"127.0.0.1:{port}", "--block-time", "0.1",
                        "--sealer-keystore", str(tmp_path / "sealer.json"), "--password-file", str(tmp_path / "sealer.pw")],
                       port, None, tmp_path / "node.log").start()
    try:
        signed = Account.sign_transaction({"to": clerk.address, "data": b"", "gas": 21_000, "gasPrice": 0, "value": 0,
                                           "nonce": 0, "chainId": 4242}, clerk.key)
        tx_hash = node.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
        while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
            pass
        assert receipt["status"] == "0x1"
        assert node.rpc("cityledger_status")["sealer"].lower() == sealer.address.lower()
        assert "sealed block 1" in node.log()
    finally:
        node.stop()


def test_run_with_wrong_password_fails_clearly(tmp_path: Path) -> None:
    _keystore(tmp_path / "sealer.json", "right")
    (tmp_path / "wrong.pw").write_text("wrong")
    data = tmp_path / "node"
    assert main(["init", "--data-dir", str(data), "--dev"]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "cityledger_cli", "node", "run", "--data-dir", str(data), "--http", f"127.0.0.1:{free_port()}",
         "--sealer-keystore", str(tmp_path / "sealer.json"), "--password-file", str(tmp_path / "wrong.pw")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot unlock" in result.stderr


def test_dev_init_writes_marked_keys(tmp_path: Path) -> None:
    assert main(["init", "--data-dir", str(tmp_path), "--dev"]) == 0
    keys = json.loads((tmp_path / "dev-keys.json").read_text())
    assert "DEVELOPMENT ONLY" in keys["warning"]
    assert {"sealer", "admins", "members"} <= set(keys)
    for entry in [keys["sealer"], *keys["admins"], *keys["members"]]:
        assert {"name", "kind", "address", "private_key"} <= set(entry)
        assert Account.from_key(entry["private_key"]).address == entry["address"]
    assert (tmp_path / "dev-keys.json").stat().st_mode & 0o077 == 0


def test_help_lists_every_group_and_documents_every_option() -> None:
    out = subprocess.run([sys.executable, "-m", "cityledger_cli", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "node" in out.stdout
    import click

    from node.cli import app

    assert isinstance(app, click.Group)
    for name, command in app.commands.items():
        assert command.help, f"node {name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"node {name} {param.opts} has no help text"


def test_usage_errors_exit_2_with_a_message() -> None:
    assert main(["init", "--data-dir", "/nonexistent-x"]) == 2  # neither --dev nor --consortium
    assert main(["run"]) == 2  # --data-dir missing
    assert main(["run", "--data-dir", "/tmp/x", "--http", "nonsense"]) == 2


def test_run_serves_prometheus_metrics(tmp_path: Path) -> None:
    import httpx

    data = tmp_path / "node"
    assert main(["init", "--data-dir", str(data), "--dev"]) == 0
    keys = json.loads((data / "dev-keys.json").read_text())
    port, metrics_port = free_port(), free_port()
    node = NodeProcess(["node", "run", "--data-dir", str(data), "--http", f"127.0.0.1:{port}", "--block-time", "0.1",
                        "--metrics", f"127.0.0.1:{metrics_port}"], port, None, tmp_path / "node.log").start()
    try:
        member = keys["members"][0]
        signed = Account.sign_transaction({"to": member["address"], "gas": 21_000, "gasPrice": 0, "value": 0,
                                           "nonce": 0, "chainId": keys["chainId"]}, member["private_key"])
        tx_hash = node.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
        while node.rpc("eth_getTransactionReceipt", [tx_hash]) is None:
            pass
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
        text = scrape.text
        assert "cityledger_head_block 1.0" in text
        assert "cityledger_sealed_transactions_total 1.0" in text
        assert 'cityledger_rpc_requests_total{code="0",method="eth_sendRawTransaction"} 1.0' in text
        for name in ("cityledger_pool_transactions", "cityledger_seal_seconds_bucket", "cityledger_rpc_seconds_bucket",
                     "cityledger_replica_lag_blocks", "cityledger_import_seconds_bucket"):
            assert name in text, name
    finally:
        node.stop()
