"""Four CityLedger validators on CometBFT (``scripts/testnet``), as real processes on loopback.

One network (four ``node run --consensus cometbft`` processes, each with its ABCI application and
its ``cometbft``) serves the module; tests that kill validators restart them before they end.
Every wait polls with a deadline. The checks are the issue's acceptance points: identical blocks on
every node, commits with >= 3 of 4 signatures and app hash = block hash (checked by
``audit.commit``, which shares no code with the node), liveness with one validator killed, a halt
and no divergence with two, recovery with the queued transactions, a refused Byzantine proposer,
and a kill -9 loop that loses and duplicates nothing. The network itself is
``tests/cometbft_harness.py``; the gateway and its evidence bundles over one validator are
``tests/gateway/test_evidence_cometbft.py`` (and every gateway test's ``cometbft`` chain).
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from audit.commit import parse_validators, verify_commit
from cometbft_harness import Network, assert_identical, block, head, receipts_on, running_network, wait_for
from conftest import ROOT

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(tmp_path_factory.mktemp("testnet")) as network:
        yield network


def test_four_validators_agree_and_every_block_is_certified(net: Network) -> None:
    a = net.send(net.nodes[0], net.sign(0, 25))
    b = net.send(net.nodes[2], net.sign(1, 6))
    wait_for(lambda: receipts_on(net.nodes, a + b), 60, "31 transactions on all four nodes")
    top = assert_identical(net.nodes)
    assert top >= 1
    trusted = parse_validators(net.cometbft_genesis["validators"])
    coinbases = {spec.coinbase.lower() for spec in net.specs}
    parent_time = int(block(net.nodes[0], 0)["timestamp"], 16)
    for number in range(1, top + 1):
        eth_block = block(net.nodes[number % 4], number)
        assert len(bytes.fromhex(eth_block["extraData"][2:])) == 32, "extraData is the CometBFT block hash"
        assert eth_block["miner"].lower() in coinbases
        assert int(eth_block["timestamp"], 16) > parent_time
        parent_time = int(eth_block["timestamp"], 16)
        cert = wait_for(lambda: net.nodes[number % 4].rpc("cityledger_getCommit", [hex(number)]), 30,
                        f"the commit of block {number}")
        verdict = verify_commit(cert, bytes.fromhex(eth_block["hash"][2:]), trusted)
        assert verdict.signed_power >= 30 and verdict.total_power == 40, "at least 3 of 4 signatures"
        # extraData names the CometBFT block that made this one: the certifying header's parent.
        assert cert["signedHeader"]["header"]["last_block_id"]["hash"].lower() == eth_block["extraData"][2:]
    receipt = net.nodes[1].rpc("eth_getTransactionReceipt", [a[0]])
    assert receipt["status"] == "0x1"
    # The audit's own walk over node 1: every block's header hashed and its commit checked.
    import subprocess
    import sys

    audit = subprocess.run(
        [sys.executable, "-m", "cityledger_cli", "audit", "commits", "--rpc", net.nodes[1].url, "--cometbft-genesis",
         str(Path(net.specs[1].home) / "config" / "genesis.json"), "--to", str(top), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    outcomes = json.loads(audit.stdout)
    assert [o["number"] for o in outcomes] == list(range(1, top + 1))
    assert all(o["status"] == "certified" and o["signedPower"] >= 30 for o in outcomes), outcomes
    # The whole audit (re-execution by an independent EVM, the product's rules) with commits in
    # place of seals.
    report = net.root / "audit-report"
    full = subprocess.run(
        [sys.executable, "-m", "cityledger_cli", "audit", "run", "--rpc", net.nodes[1].url, "--out", str(report),
         "--quiet", "--cometbft-genesis", str(Path(net.specs[1].home) / "config" / "genesis.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stdout + full.stderr
    doc = json.loads((report / "report.json").read_text())
    assert doc["summary"]["violations"] == 0
    checks = doc["summary"]["checks"]
    assert checks["commit"] >= top and "seal" not in checks and doc["chain"]["consensus"] == "cometbft", checks


def test_refusals_are_json_rpc_errors(net: Network) -> None:
    stranger = Account.create()
    raw = stranger.sign_transaction({"chainId": net.chain_id(), "nonce": 0, "to": stranger.address, "value": 0,
                                     "gas": 21_000, "gasPrice": 0}).raw_transaction
    import httpx

    answer = httpx.post(net.nodes[0].url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                                "params": ["0x" + raw.hex()]}, timeout=30).json()
    assert answer["error"]["code"] == -32003 and answer["error"]["data"]["reason"] == "not_member"
    answer = httpx.post(net.nodes[0].url, json={"jsonrpc": "2.0", "id": 1, "method": "cityledger_getCommit",
                                                "params": ["0xffffff"]}, timeout=30).json()
    assert answer["error"]["code"] == -32001
    # Behind a nonce gap the same rules refuse: a stranger, a nonce past the gap limit.
    ahead = stranger.sign_transaction({"chainId": net.chain_id(), "nonce": 5, "to": stranger.address, "value": 0,
                                       "gas": 21_000, "gasPrice": 0}).raw_transaction
    answer = httpx.post(net.nodes[1].url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                                "params": ["0x" + ahead.hex()]}, timeout=30).json()
    assert answer["error"]["data"]["reason"] == "not_member", answer
    member = Account.from_key(net.keys["members"][2]["private_key"])
    too_far = member.sign_transaction({"chainId": net.chain_id(), "nonce": 10_000, "to": member.address, "value": 0,
                                       "gas": 21_000, "gasPrice": 0}).raw_transaction
    answer = httpx.post(net.nodes[1].url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                                "params": ["0x" + too_far.hex()]}, timeout=30).json()
    assert answer["error"]["data"]["reason"] == "nonce_too_high", answer
    # A nonce gap is tolerated: the later nonce is accepted and held by the validator it was sent
    # to, outside CometBFT's mempool (where it would make CometBFT propose empty blocks at every
    # height until the gap closed), and relayed once the gap is filled, here through another node.
    first, second = net.sign(2, 2)
    later = net.send(net.nodes[1], [second])
    assert net.nodes[1].rpc("eth_getTransactionReceipt", [later[0]]) is None
    mempool = httpx.get(f"http://127.0.0.1:{net.specs[1].rpc_port}/unconfirmed_txs", params={"limit": "100"},
                        timeout=30).json()["result"]["txs"]
    assert base64.b64encode(second).decode() not in mempool
    net.send(net.nodes[3], [first])
    wait_for(lambda: receipts_on(net.nodes, later), 60, "the gap-filled pair")
    # Filled through the same validator, the held one follows its filler in the same relay round.
    first, second = net.sign(2, 2)
    later = net.send(net.nodes[1], [second])
    net.send(net.nodes[1], [first])
    wait_for(lambda: receipts_on(net.nodes, later), 60, "the pair filled through one validator")


def test_one_validator_killed_the_others_seal_and_it_catches_up(net: Network) -> None:
    net.nodes[3].kill()
    hashes = net.send(net.nodes[0], net.sign(3, 5))
    wait_for(lambda: receipts_on(net.nodes[:3], hashes), 60, "sealing with three of four validators")
    net.nodes[3].start(timeout=120)
    target = head(net.nodes[0])
    wait_for(lambda: head(net.nodes[3]) >= target, 60, "the restarted validator to catch up")
    assert_identical(net.nodes, target)


def test_two_killed_halts_without_divergence_and_one_back_resumes_with_the_queue(net: Network) -> None:
    net.nodes[2].kill()
    net.nodes[3].kill()
    before = head(net.nodes[0])
    queued = net.send(net.nodes[0], net.sign(4, 4)) + net.send(net.nodes[1], net.sign(5, 2))
    # Observe for a bounded spell that nothing is sealed without a quorum (2 of 4 < 2/3).
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        assert head(net.nodes[0]) == before and head(net.nodes[1]) == before
        time.sleep(0.2)  # sampling interval of the observation, not synchronisation
    assert_identical(net.nodes[:2], before)
    net.nodes[2].start(timeout=120)
    wait_for(lambda: receipts_on(net.nodes[:3], queued), 90, "the queued transactions after the quorum is back")
    net.nodes[3].start(timeout=120)
    target = head(net.nodes[0])
    wait_for(lambda: head(net.nodes[3]) >= target, 60, "the last validator to catch up")
    assert_identical(net.nodes, target)


def test_byzantine_proposer_is_refused(net: Network) -> None:
    stranger = Account.create()
    non_member = bytes(stranger.sign_transaction({"chainId": net.chain_id(), "nonce": 0, "to": stranger.address,
                                                  "value": 0, "gas": 21_000, "gasPrice": 0}).raw_transaction)
    low, high = net.sign(6, 2)  # the member's next two nonces, proposed out of order
    injected = net.root / "byzantine.txt"
    injected.write_text("\n".join(raw.hex() for raw in (non_member, high, low)) + "\n")
    net.restart(3, ["--test-byzantine-txs", str(injected)])
    try:
        honest_logs = [net.root / f"node{i}.log" for i in range(3)]
        offset = {p: p.stat().st_size for p in honest_logs}

        def refused() -> bool:
            return any("rejected the proposal" in p.read_text(errors="replace")[offset[p]:] for p in honest_logs)

        sent: list[str] = []
        deadline = time.monotonic() + 120
        while not refused():
            assert time.monotonic() < deadline, "the Byzantine validator never got to propose"
            sent += net.send(net.nodes[0], net.sign(7, 2))
            wait_for(lambda: receipts_on(net.nodes[:3], sent), 60, "honest blocks")
        sent += net.send(net.nodes[1], net.sign(7, 2))
        wait_for(lambda: receipts_on(net.nodes, sent), 60, "the chain to go on after the refusal")
        from eth_utils import keccak

        for raw in (non_member, high, low):
            tx_hash = "0x" + keccak(raw).hex()
            for node in net.nodes:
                assert node.rpc("eth_getTransactionByHash", [tx_hash]) is None
        assert_identical(net.nodes)
    finally:
        net.restart(3)


def test_kill9_loop_during_finalize_and_commit_loses_and_duplicates_no_block(net: Network) -> None:
    """SIGKILL one validator inside FinalizeBlock (block executed, nothing committed), inside
    Commit before the LMDB commit, and right after it (before CometBFT saves its own state) — the
    test-only ``--test-kill-at`` makes the application kill its node at exactly that point — then
    at random moments while blocks flow; restart it each time. In the end every transaction is in
    exactly one block, and all four nodes hold the same chain."""
    sent: list[str] = []
    victim_index = 1
    victim = net.nodes[victim_index]
    for point in ("finalize", "commit", "committed", "finalize", "committed"):
        net.restart(victim_index, ["--test-kill-at", point])
        sent += net.send(net.nodes[0], net.sign(8, 5))
        wait_for(lambda: victim.proc is not None and victim.proc.poll() is not None, 60,
                 f"the validator to kill itself at {point}")
        assert f"killing the node with SIGKILL at {point}" in victim.log()
        net.restart(victim_index)
        target = head(net.nodes[0])
        wait_for(lambda: head(victim) >= target, 60, f"the validator killed at {point} to catch up")
    rng = random.Random(13)
    for _round in range(3):
        sent += net.send(net.nodes[0], net.sign(8, 10)) + net.send(net.nodes[2], net.sign(9, 10))
        start_head = head(victim)
        wait_for(lambda: head(victim) > start_head or rng.random() < 0.05, 30, "the victim to start committing")
        victim.kill()
        victim.start(timeout=120)
    wait_for(lambda: receipts_on(net.nodes, sent), 90, "every transaction of the loop")
    target = head(net.nodes[0])
    wait_for(lambda: head(victim) >= target, 60, "the victim to catch up")
    top = assert_identical(net.nodes, target)
    included: list[str] = []
    for number in range(1, top + 1):
        included += block(victim, number)["transactions"]
    assert len(included) == len(set(included)), "a transaction is in two blocks"
    assert set(sent) <= set(included)
    # CometBFT's handshake met both crash states: the application one block behind its block store
    # (killed in FinalizeBlock or before its LMDB commit: the block is executed again), and the
    # application level with the store while CometBFT's own state is one behind (killed after the
    # commit: CometBFT replays its saved FinalizeBlock answer without executing again).
    import re

    replays = [tuple(int(x) for x in m) for m in re.findall(
        r"ABCI Replay Blocks .*appHeight=(\d+) storeHeight=(\d+) stateHeight=(\d+)",
        (Path(net.specs[victim_index].home) / "cometbft.log").read_text())]
    assert any(app < store for app, store, _state in replays), replays
    assert any(app == store and state < store for app, store, state in replays), replays
