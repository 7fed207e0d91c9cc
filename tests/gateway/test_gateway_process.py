"""The gateway as a real process: killed mid-indexing it resumes without a gap or a duplicate,
and an index rebuilt from genesis equals the live one — on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, DevNet, NodeProcess
from gateway_flows import credit_flow, custody_flow, share_flow
from gateway_harness import actor, consensus_args, dump_index, gateway_process, on_cometbft


def _many_blocks(chain: NodeProcess, devnet: DevNet, addressbook: Path, n: int) -> None:
    """``n`` blocks with custody events (one transaction each, sealed every 50 ms)."""
    red_cross = actor(chain, devnet, addressbook, "Red Cross")
    for i in range(n):
        red_cross.send("SupplyCustody", "registerLot", b"gloves".ljust(32, b"\0"), 10 + i, b"pair".ljust(32, b"\0"),
                       (i + 1).to_bytes(32, "big"), "", f"bafkdoc{i}", 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two empty databases of one kind: the live index and the rebuilt one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'live.sqlite'}", f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    first = str(request.getfixturevalue("postgres_url"))
    import psycopg

    second = first + "_rebuilt"
    with psycopg.connect(first.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{second.rsplit("/", 1)[1]}"')
    return first, second


def test_killed_mid_indexing_resumes_and_equals_a_rebuild(chain: NodeProcess, addressbook: Path, tmp_path: Path,
                                                         devnet: DevNet, database: tuple[str, str]) -> None:
    share_flow(chain, devnet, addressbook)
    custody_flow(chain, devnet, addressbook)
    credit_flow(chain, devnet, addressbook)
    _many_blocks(chain, devnet, addressbook, 40)
    head = int(chain.rpc("eth_blockNumber"), 16)
    live, rebuilt = database

    gateway = gateway_process(chain.url, tmp_path / "gw", addressbook, "--db", live, "--index-batch", "1",
                              *consensus_args(chain)).start()
    try:
        # Kill it while it is part way through the chain, then let a new process finish.
        while gateway.status()["indexedHeight"] < head // 3:
            pass
        gateway.kill()
        partial = dump_index(live)
        assert 0 < len(partial["indexed_block"]) < head + 1
        gateway = gateway_process(chain.url, tmp_path / "gw", addressbook, "--db", live, *consensus_args(chain)).start()
        gateway.wait_indexed(head)
        status = gateway.status()
        assert status["indexerError"] is None and status["lag"] == 0
    finally:
        gateway.stop()
    after = dump_index(live)
    numbers = sorted(row[0] for row in after["indexed_block"])
    start = json.loads(addressbook.read_text())["deployment"]["block"]  # 0 on CityLedger, later on anvil
    assert numbers == list(range(start, start + len(numbers))) and numbers[-1] >= head  # no gap, no duplicate

    reindex = [sys.executable, "-m", "cityledger_cli", "gateway", "reindex", "--yes", "--rpc", chain.url, "--data-dir",
               str(tmp_path / "gw2"), "--addressbook", str(addressbook), "--db", rebuilt]
    if on_cometbft(chain):  # a validator's blocks are never read as sealed ones: refused before any drop
        refused = subprocess.run(reindex, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "--cometbft-genesis" in refused.stderr, refused.stderr
    result = subprocess.run(reindex + consensus_args(chain), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    again = dump_index(rebuilt)
    height = max(row[0] for row in again["indexed_block"])
    trimmed = {t: rows for t, rows in after.items()}
    trimmed["indexed_block"] = [r for r in after["indexed_block"] if r[0] <= height]
    state = {k: v for k, v in ((r[0], r[1]) for r in again["indexer_state"])}
    assert int(state["cursor"]) == height
    for table in again:
        if table == "indexer_state":
            continue
        assert again[table] == trimmed[table], table
