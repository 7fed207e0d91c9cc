"""node.abci in process: the ABCI++ application's rules and the socket framing, without CometBFT.

The application runs over a real chain on disk (LMDB); requests are the generated protobuf
messages CometBFT sends. tests/node/test_cometbft.py runs the same code under real cometbft
processes.
"""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from conftest import DevNet
from node.abci.app import CODES, LedgerApp
from node.abci.pb.tendermint.abci import types_pb2 as abci
from node.abci.server import AbciServer, encode_uvarint, frame, read_uvarint
from node.chain import LedgerChain
from node.genesis import load_genesis
from node.kv import LmdbKV

PROPOSER = bytes.fromhex("11" * 20)


def _open(devnet: DevNet) -> LedgerChain:
    return LedgerChain(LmdbKV(devnet.data_dir / "chaindata"), load_genesis(devnet.genesis_path))


@pytest.fixture
def app(devnet: DevNet) -> Any:
    chain = _open(devnet)
    ledger = LedgerApp(chain)
    state = {"genesisHash": "0x" + bytes(chain.genesis_header.hash).hex(),
             "proposers": {PROPOSER.hex().upper(): devnet.admin(0)["address"]}}
    answer = ledger.handle("init_chain", abci.RequestInitChain(app_state_bytes=json.dumps(state).encode()))
    assert answer.app_hash == bytes(chain.genesis_header.hash)
    yield ledger
    chain.close()


def _txs(devnet: DevNet, member: int, nonces: list[int]) -> list[bytes]:
    account = Account.from_key(devnet.member(member)["private_key"])
    return [bytes(account.sign_transaction({"chainId": devnet.chain_id, "nonce": n, "to": account.address, "value": 0,
                                            "gas": 21_000, "gasPrice": 0}).raw_transaction) for n in nonces]


def _finalize(app: LedgerApp, txs: list[bytes], height: int, seconds: int, block_hash: bytes) -> Any:
    request = abci.RequestFinalizeBlock(txs=txs, hash=block_hash, height=height, proposer_address=PROPOSER)
    request.time.seconds = seconds
    return app.handle("finalize_block", request)


def test_check_tx_applies_the_pool_rules_with_gaps_tolerated(app: LedgerApp, devnet: DevNet) -> None:
    ok = app.handle("check_tx", abci.RequestCheckTx(tx=_txs(devnet, 0, [0])[0]))
    assert ok.code == 0 and ok.gas_wanted == 21_000
    gapped = app.handle("check_tx", abci.RequestCheckTx(tx=_txs(devnet, 0, [7])[0]))
    assert gapped.code == 0
    stranger = Account.create()
    raw = stranger.sign_transaction({"chainId": devnet.chain_id, "nonce": 0, "to": stranger.address, "value": 0,
                                     "gas": 21_000, "gasPrice": 0}).raw_transaction
    refused = app.handle("check_tx", abci.RequestCheckTx(tx=bytes(raw)))
    assert refused.code == CODES["not_member"] and "not an active member" in refused.log
    assert app.handle("check_tx", abci.RequestCheckTx(tx=b"\x01garbage")).code == CODES["malformed"]
    wrong_chain = Account.from_key(devnet.member(0)["private_key"]).sign_transaction(
        {"chainId": devnet.chain_id + 1, "nonce": 0, "to": stranger.address, "value": 0, "gas": 21_000,
         "gasPrice": 0}).raw_transaction
    assert app.handle("check_tx", abci.RequestCheckTx(tx=bytes(wrong_chain))).code == CODES["chain_id"]


def test_prepare_orders_by_sender_and_nonce_and_drops_gaps(app: LedgerApp, devnet: DevNet) -> None:
    a0, a1, a2, a5 = _txs(devnet, 0, [0, 1, 2, 5])
    b0, b1 = _txs(devnet, 1, [0, 1])
    answer = app.handle("prepare_proposal", abci.RequestPrepareProposal(
        txs=[a2, b1, a0, a5, b0, a1], max_tx_bytes=1 << 20, height=1))
    assert list(answer.txs) == [a0, a1, a2, b0, b1]
    small = app.handle("prepare_proposal", abci.RequestPrepareProposal(
        txs=[a0, a1, a2], max_tx_bytes=2 * (len(a0) + 8), height=1))
    assert list(small.txs) == [a0, a1]


def test_prepare_caps_the_block_at_the_gas_limit(app: LedgerApp, devnet: DevNet) -> None:
    account = Account.from_key(devnet.member(3)["private_key"])
    limit = app.chain.head.gas_limit
    heavy = [bytes(account.sign_transaction({"chainId": devnet.chain_id, "nonce": n, "to": account.address, "value": 0,
                                             "gas": limit // 3 + 1, "gasPrice": 0}).raw_transaction) for n in range(3)]
    light = _txs(devnet, 4, [0])
    answer = app.handle("prepare_proposal", abci.RequestPrepareProposal(txs=heavy + light, max_tx_bytes=1 << 20, height=1))
    # Two heavy ones fit, the third would pass the limit (and so ends its sender's run); others go on.
    assert list(answer.txs) == heavy[:2] + light


def test_process_refuses_out_of_order_and_non_members(app: LedgerApp, devnet: DevNet) -> None:
    a0, a1 = _txs(devnet, 0, [0, 1])
    accept, reject = abci.ResponseProcessProposal.ACCEPT, abci.ResponseProcessProposal.REJECT
    good = app.handle("process_proposal", abci.RequestProcessProposal(txs=[a0, a1], hash=b"\1" * 32, height=1))
    assert good.status == accept
    swapped = app.handle("process_proposal", abci.RequestProcessProposal(txs=[a1, a0], hash=b"\2" * 32, height=1))
    assert swapped.status == reject
    stranger = Account.create()
    raw = bytes(stranger.sign_transaction({"chainId": devnet.chain_id, "nonce": 0, "to": stranger.address,
                                           "value": 0, "gas": 21_000, "gasPrice": 0}).raw_transaction)
    outsider = app.handle("process_proposal", abci.RequestProcessProposal(txs=[a0, raw], hash=b"\3" * 32, height=1))
    assert outsider.status == reject
    assert app.handle("process_proposal", abci.RequestProcessProposal(txs=[], hash=b"\4" * 32, height=1)).status \
        == accept


def test_finalize_and_commit_make_a_real_block_and_info_follows_the_store(app: LedgerApp, devnet: DevNet) -> None:
    chain = app.chain
    genesis = chain.head
    cmt_hash = bytes.fromhex("ab" * 32)
    answer = _finalize(app, _txs(devnet, 0, [0, 1]), 1, genesis.timestamp - 100, cmt_hash)
    assert [r.code for r in answer.tx_results] == [0, 0]
    # Executed, not committed: Info still reports the genesis state.
    assert app.handle("info", abci.RequestInfo()).last_block_height == 0
    app.handle("commit", abci.RequestCommit())
    info = app.handle("info", abci.RequestInfo())
    block = chain.head
    assert info.last_block_height == 1 and info.last_block_app_hash == bytes(block.hash) == answer.app_hash
    assert block.block_number == 1 and block.parent_hash == genesis.hash
    assert block.extra_data == cmt_hash
    assert block.coinbase == bytes.fromhex(devnet.admin(0)["address"][2:])
    assert block.timestamp == genesis.timestamp + 1, "max(CometBFT time, parent + 1)"
    # An empty CometBFT block leaves the app hash (and the Ethereum chain) as it was.
    empty = _finalize(app, [], 2, block.timestamp + 50, b"\5" * 32)
    app.handle("commit", abci.RequestCommit())
    assert empty.app_hash == bytes(block.hash) and chain.head.block_number == 1
    assert app.handle("info", abci.RequestInfo()).last_block_height == 2


def test_a_block_finalized_but_not_committed_is_gone_after_a_crash(devnet: DevNet, app: LedgerApp) -> None:
    first = _finalize(app, _txs(devnet, 0, [0]), 1, 0, b"\6" * 32)
    app.handle("commit", abci.RequestCommit())
    _finalize(app, _txs(devnet, 0, [1]), 2, 0, b"\7" * 32)
    app.chain.close()  # the process dies: the write buffer is lost, LMDB keeps what was committed
    reopened = LedgerApp(_open(devnet))
    info = reopened.handle("info", abci.RequestInfo())
    assert info.last_block_height == 1 and info.last_block_app_hash == first.app_hash
    assert reopened.chain.head.block_number == 1
    # CometBFT's handshake replays height 2: the same block again.
    replayed = _finalize(reopened, _txs(devnet, 0, [1]), 2, 0, b"\7" * 32)
    reopened.handle("commit", abci.RequestCommit())
    assert reopened.handle("info", abci.RequestInfo()).last_block_app_hash == replayed.app_hash
    assert reopened.proposers, "the CometBFT app_state survives a restart"
    reopened.chain.close()
    app.chain = reopened.chain  # the fixture closes it again harmlessly


def _go_uvarint(value: int) -> bytes:
    """Go's ``binary.PutUvarint`` (what CometBFT's ``protoio`` writes), for comparison."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_uvarint_framing_and_a_socket_round_trip(tmp_path: Path) -> None:
    for value in (0, 1, 127, 128, 300, 1 << 40):
        encoded = encode_uvarint(value)
        assert read_uvarint(io.BytesIO(encoded).read) == value
        assert encoded == _go_uvarint(value)

    class Echoing:
        def handle(self, kind: str, request: Any) -> Any:
            assert kind == "info"
            return abci.ResponseInfo(data="ok", last_block_height=request.block_version)

    server = AbciServer(Echoing(), f"unix://{tmp_path}/abci.sock")
    server.start()
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(tmp_path / "abci.sock"))
            client.sendall(frame(abci.Request(echo=abci.RequestEcho(message="hi")))
                           + frame(abci.Request(info=abci.RequestInfo(block_version=11)))
                           + frame(abci.Request(flush=abci.RequestFlush())))
            reader = client.makefile("rb")
            answers = []
            for _ in range(3):
                size = read_uvarint(reader.read)
                assert size is not None
                answers.append(abci.Response.FromString(reader.read(size)))
        assert answers[0].echo.message == "hi"
        assert answers[1].info.data == "ok" and answers[1].info.last_block_height == 11
        assert answers[2].WhichOneof("value") == "flush"
    finally:
        server.close()
