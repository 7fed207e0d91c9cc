"""The ABCI application process (``python -m node.abci.main``, started by ``node run --consensus
cometbft``): the chain's only writer, serving CometBFT on the ABCI socket and telling the
JSON-RPC process about each committed block over the same socket-pair protocol the PoA sealer
uses (``node.sealer``: ``("ready", head)``, ``("sealed", SealedInfo)``, and replies to
``status`` requests).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from node.errors import NodeError

log = logging.getLogger("cityledger.abci")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CityLedger ABCI application (started by `node run`).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--genesis", type=Path, required=True)
    parser.add_argument("--abci", required=True, help="unix://PATH or tcp://HOST:PORT to listen on")
    parser.add_argument("--test-byzantine-txs", type=Path, default=None)
    parser.add_argument("--test-kill-at", choices=["finalize", "commit", "committed"], default=None)
    args = parser.parse_args(argv)

    from node.sealer import _die_with_parent, decode_messages, encode_message, writer_lock, SealedInfo

    _die_with_parent(args.parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    from node.abci.app import Committed, LedgerApp
    from node.abci.server import AbciServer
    from node.chain import LedgerChain
    from node.genesis import load_genesis
    from node.kv import LmdbKV

    sock = socket.socket(fileno=args.fd)
    sock.setblocking(True)
    send_lock = threading.Lock()

    def send(message: Any) -> None:
        with send_lock:
            sock.sendall(encode_message(message))

    byzantine: list[bytes] = []
    if args.test_byzantine_txs is not None:
        byzantine = [bytes.fromhex(line.strip().removeprefix("0x"))
                     for line in args.test_byzantine_txs.read_text().splitlines() if line.strip()]
        log.warning("TEST ONLY: this node proposes %d injected transactions and accepts every proposal",
                    len(byzantine))

    def on_commit(committed: Committed) -> None:
        if committed.number is not None:
            try:
                send(("sealed", SealedInfo(committed.number, committed.app_hash, committed.transactions,
                                           0.0, 0, 0)))
            except OSError:
                pass  # the JSON-RPC process is gone; this process dies with it

    try:
        with writer_lock(args.data_dir):
            chain = LedgerChain(LmdbKV(args.data_dir / "chaindata"), load_genesis(args.genesis))
            app = LedgerApp(chain, byzantine_txs=byzantine, on_commit=on_commit, kill_at=args.test_kill_at)
            server = AbciServer(app, args.abci)
            server.start()
            height, app_hash = app.last_committed()
            log.info("ABCI application on %s: height %d, block %d", args.abci, height, chain.head.block_number)
            send(("ready", chain.head.block_number))
            buffer = bytearray()
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                buffer.extend(chunk)
                for message in decode_messages(buffer):
                    kind, request_id, *_rest = message
                    if kind == "status":
                        with server.lock:
                            height, app_hash = app.last_committed()
                        send(("reply", request_id, True, {"pending": 0, "height": height}))
                    else:
                        send(("reply", request_id, False, NodeError(f"unknown request {kind!r}")))
            server.close()
            with server.lock:
                chain.close()
    except NodeError as exc:
        send(("failed", str(exc)))
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    # Objects sent to the JSON-RPC process must pickle as ``node.sealer.*``: run the imported
    # module's main, not this ``__main__`` copy.
    from node.abci.main import main as app_main

    sys.exit(app_main())
