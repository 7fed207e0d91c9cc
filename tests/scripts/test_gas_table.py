"""scripts/gas_table.py: the gas table in contracts/README.md is what a fresh run gives, and an
operation that reverts yields an error, never a number."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import ROOT, DevNet


def _gas_table() -> ModuleType:
    """The script as a module (it drives the contracts through scripts/contract_driver.py)."""
    spec = importlib.util.spec_from_file_location("gas_table", ROOT / "scripts" / "gas_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through it
    spec.loader.exec_module(module)
    return module


def test_the_committed_gas_table_matches_a_fresh_run() -> None:
    # A contract change that moves gas fails here until `scripts/gas-table` is run and committed.
    result = subprocess.run([sys.executable, "scripts/gas_table.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_reverted_operation_is_an_error_not_a_figure(devnet: DevNet) -> None:
    gas_table = _gas_table()
    ledger = gas_table.Ledger(devnet)
    author = ledger.members[0]
    recorder = gas_table.deploy_recorder(ledger, author)
    abi = gas_table.RECORDER
    sent = ledger.send(author, recorder, abi.encode("fail", "no"), abi=abi)
    assert sent.status == 0
    with pytest.raises(gas_table.GasTableError, match=r"status 0.*RecorderFailed\('no',\)"):
        gas_table.gas_of(ledger, sent, abi, "Recorder.fail")


def test_the_table_block_is_read_between_the_markers() -> None:
    gas_table = _gas_table()
    text = f"intro\n{gas_table.START}\n| a | b | 1 |\n{gas_table.END}\nafter\n"
    assert gas_table.block_of(text) == "| a | b | 1 |\n"
    assert gas_table.block_of("no markers\n") is None
    assert gas_table.block_of(f"{gas_table.END}\n{gas_table.START}\n") is None
