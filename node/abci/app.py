"""The ABCI++ application: CometBFT orders transactions, py-evm executes them into real Ethereum
blocks stored in LMDB exactly as the proof-of-authority sealer stores its own.

* **One Ethereum block per non-empty CometBFT block**, built on the previous Ethereum block (so
  parentHash, state root, receipts and logs bloom are those of a real chain, not rebuilt at RPC
  time): ``extraData`` = the CometBFT block hash (32 bytes), ``timestamp`` = max(CometBFT block
  time in seconds, parent + 1), ``coinbase`` = the proposer's registered address (from the
  CometBFT genesis' ``app_state``; zero when the proposer has none). No seal: the CometBFT commit
  certifies the block.
* **App hash = the hash of the latest Ethereum block**, so the header of the next CometBFT block,
  signed by > 2/3 of the validators, certifies state, transactions and receipts roots together.
  An empty CometBFT block leaves it unchanged.
* **Persistence at Commit**: ``FinalizeBlock`` executes into the chain's write buffer; ``Commit``
  writes the block, its index, the CometBFT height ↔ Ethereum number index and the last
  (height, app hash) in one LMDB transaction. A ``kill -9`` before it loses the buffer only:
  ``Info`` then reports the previous height and CometBFT's handshake replays the block, which
  executes to the same hash (execution is deterministic); after it, ``Info`` reports the new one.
* **Mempool rules** (``CheckTx``): the PoA pool's admission rules — stateless checks and the
  signature (``node.txpool.decode_transaction``), gas within the block limit, the sender an active
  member, the nonce not used yet and at most ``MAX_NONCE_GAP`` ahead (gaps tolerated: CometBFT's
  mempool keeps arrival order, ``PrepareProposal`` sorts by sender and nonce), funds.
* ``PrepareProposal`` orders by sender and nonce (each sender's contiguous run from its state
  nonce), drops what cannot run, and caps the block at the gas limit and CometBFT's byte limit.
  ``ProcessProposal`` executes the proposal and rejects it if any transaction is undecodable,
  badly signed, from a non-member, out of nonce order or over the gas limit; the executed block is
  kept for ``FinalizeBlock`` of the same block hash.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth.abc import SignedTransactionAPI
from eth_typing import Address
from eth_utils import encode_hex

from node.abci.pb.tendermint.abci import types_pb2 as abci
from node.chain import FULL, INCLUDED, BlockBuilder, LedgerChain
from node.consensus import is_active_member
from node.errors import NodeError, TransactionRejected
from node.txpool import MAX_NONCE_GAP, decode_transaction

log = logging.getLogger("cityledger.abci.app")

#: ``rlp([height, app hash])`` of the last CometBFT block committed (what ``Info`` reports).
LAST_KEY = b"cl:cmt:last"
#: ``cl:cmt:h:<height, 8 bytes>`` → Ethereum block number; ``cl:cmt:n:<number>`` → height.
HEIGHT_PREFIX = b"cl:cmt:h:"
NUMBER_PREFIX = b"cl:cmt:n:"
#: The CometBFT genesis' ``app_state`` (JSON), stored at ``InitChain``.
APP_STATE_KEY = b"cl:cmt:app-state"

#: ``CheckTx`` codes: 0 accepts; each refusal reason of the pool has its own code, and the
#: JSON-RPC side turns code and log back into the same ``TransactionRejected``.
CODES = {
    "malformed": 1, "oversized": 2, "type": 3, "unprotected": 4, "chain_id": 5, "intrinsic_gas": 6,
    "signature": 7, "gas_limit": 8, "not_member": 9, "nonce_too_low": 10, "nonce_too_high": 11,
    "funds": 12, "replacement": 13,
}
REASONS = {code: reason for reason, code in CODES.items()}
CODESPACE = "cityledger"
#: Decoded, signature-checked transactions kept by their raw bytes (see :meth:`LedgerApp.decode`).
DECODED_CACHE = 20_000
#: Bytes CometBFT adds around each transaction when it sizes a block (protobuf field tag and
#: length prefix), counted against ``max_tx_bytes``.
TX_OVERHEAD = 8


def height_key(height: int) -> bytes:
    return HEIGHT_PREFIX + height.to_bytes(8, "big")


def number_key(number: int) -> bytes:
    return NUMBER_PREFIX + number.to_bytes(8, "big")


class ProposalInvalid(NodeError):
    """Raised when a proposed block holds a transaction that may not be in a block."""


@dataclass
class Execution:
    """A CometBFT block executed into the chain's write buffer, not yet committed."""

    block_hash: bytes
    parent_hash: bytes
    builder: BlockBuilder | None
    #: Per transaction of the CometBFT block: "" when included, else why not.
    outcomes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Committed:
    """What ``Commit`` wrote: the CometBFT height and, for a non-empty block, the Ethereum one."""

    height: int
    app_hash: bytes
    number: int | None
    transactions: int


class LedgerApp:
    """The application behind :class:`node.abci.server.AbciServer` (one thread at a time)."""

    def __init__(self, chain: LedgerChain, *, byzantine_txs: Sequence[bytes] = (),
                 on_commit: Callable[[Committed], None] | None = None, kill_at: str | None = None) -> None:
        self.chain = chain
        #: Test only (``--test-kill-at``): at this point of the first non-empty block, SIGKILL the
        #: node (the JSON-RPC process, hence CometBFT) and this process: ``finalize`` (executed,
        #: nothing committed), ``commit`` (before the LMDB commit), ``committed`` (after it, before
        #: CometBFT hears the answer and saves its own state).
        self.kill_at = kill_at
        #: Test only (``--test-byzantine-txs``): prepended to every proposal this node makes,
        #: and this node accepts every proposal unchecked.
        self.byzantine_txs = list(byzantine_txs)
        self.on_commit = on_commit
        self._execution: Execution | None = None
        self._finalized: tuple[int, bytes, Execution | None] | None = None
        self._check_state: tuple[bytes, Any] | None = None
        self._decoded: OrderedDict[bytes, SignedTransactionAPI] = OrderedDict()
        raw = chain.store.get(APP_STATE_KEY)
        self.proposers: dict[bytes, Address] = self._proposers(raw) if raw else {}

    def _crash_point(self, point: str, execution: Execution | None) -> None:
        if self.kill_at != point or execution is None or execution.builder is None:
            return
        log.warning("TEST ONLY: killing the node with SIGKILL at %s", point)
        os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    # ------------------------------------------------------------------ dispatch
    def handle(self, kind: str, request: Any) -> Any:
        method = getattr(self, "_" + kind, None)
        if method is not None:
            return method(request)
        name = "Response" + "".join(part.title() for part in kind.split("_"))
        return getattr(abci, name)()

    # ------------------------------------------------------------------ info / genesis
    def last_committed(self) -> tuple[int, bytes]:
        """(height, app hash) of the last committed CometBFT block, read from the store itself
        (never the write buffer): what survives a ``kill -9``."""
        raw = self.chain.store.get(LAST_KEY)
        if raw is None:
            return 0, b""
        height, app_hash = rlp.decode(raw)
        return int.from_bytes(height, "big"), bytes(app_hash)

    def _info(self, request: Any) -> Any:
        height, app_hash = self.last_committed()
        return abci.ResponseInfo(data="cityledger", version="0.1.0", app_version=0,
                                 last_block_height=height, last_block_app_hash=app_hash)

    @staticmethod
    def _proposers(raw: bytes) -> dict[bytes, Address]:
        doc = json.loads(raw)
        return {bytes.fromhex(k): Address(bytes.fromhex(v.removeprefix("0x")))
                for k, v in doc.get("proposers", {}).items()}

    def _init_chain(self, request: Any) -> Any:
        """The CometBFT genesis names our genesis hash and maps validator addresses to the
        Ethereum addresses that become each proposer's coinbase."""
        doc = json.loads(request.app_state_bytes or b"{}")
        genesis_hash = bytes(self.chain.genesis_header.hash)
        claimed = doc.get("genesisHash")
        if claimed is not None and bytes.fromhex(claimed.removeprefix("0x")) != genesis_hash:
            raise NodeError(f"the CometBFT genesis is for Ethereum genesis {claimed}, this chain's is "
                            f"{encode_hex(genesis_hash)}")
        self.chain.store.commit({APP_STATE_KEY: bytes(request.app_state_bytes or b"{}")})
        self.proposers = self._proposers(request.app_state_bytes or b"{}")
        return abci.ResponseInitChain(app_hash=genesis_hash)

    # ------------------------------------------------------------------ mempool
    def _committed_state(self) -> Any:
        head = self.chain.head
        if self._check_state is None or self._check_state[0] != head.hash:
            self._check_state = (bytes(head.hash), self.chain.state_at(head))
        return self._check_state[1]

    def decode(self, raw: bytes) -> SignedTransactionAPI:
        """``decode_transaction`` (stateless checks and the one signature recovery), remembered by
        the raw bytes: the same transaction comes back in CheckTx, every recheck after a block,
        every PrepareProposal and ProcessProposal, and FinalizeBlock; its bytes decide the result,
        so it is decoded and its sender recovered once. Refusals are not remembered."""
        tx = self._decoded.get(raw)
        if tx is not None:
            self._decoded.move_to_end(raw)
            return tx
        tx = decode_transaction(raw, self.chain.chain_id)
        self._decoded[raw] = tx
        if len(self._decoded) > DECODED_CACHE:
            self._decoded.popitem(last=False)
        return tx

    def admit(self, raw: bytes) -> SignedTransactionAPI:
        """The pool's admission rules against the committed head; raises TransactionRejected."""
        tx = self.decode(raw)
        state = self._committed_state()
        gas_limit = self.chain.head.gas_limit
        if tx.gas > gas_limit:
            raise TransactionRejected(
                "gas_limit", f"exceeds block gas limit: gas {tx.gas}, block gas limit {gas_limit}")
        if not is_active_member(state, self.chain.genesis.registry.address, tx.sender):
            raise TransactionRejected("not_member", f"sender {encode_hex(tx.sender)} is not an active member")
        nonce = state.get_nonce(tx.sender)
        if tx.nonce < nonce:
            raise TransactionRejected("nonce_too_low", f"nonce too low: next nonce {nonce}, tx nonce {tx.nonce}")
        if tx.nonce > nonce + MAX_NONCE_GAP:
            raise TransactionRejected(
                "nonce_too_high",
                f"nonce too high: next nonce {nonce}, tx nonce {tx.nonce} (gap limit {MAX_NONCE_GAP})")
        max_fee = getattr(tx, "max_fee_per_gas", None)
        cost = tx.gas * (tx.gas_price if max_fee is None else max_fee) + tx.value
        balance = state.get_balance(tx.sender)
        if cost > balance:
            raise TransactionRejected(
                "funds", f"insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")
        return tx

    def _check_tx(self, request: Any) -> Any:
        try:
            tx = self.admit(bytes(request.tx))
        except TransactionRejected as exc:
            return abci.ResponseCheckTx(code=CODES.get(exc.reason, 1), log=exc.message, codespace=CODESPACE)
        return abci.ResponseCheckTx(code=0, gas_wanted=tx.gas)

    # ------------------------------------------------------------------ proposals
    def _prepare_proposal(self, request: Any) -> Any:
        """Each sender's transactions in nonce order, the contiguous run from its state nonce;
        senders in order of first arrival; capped at the gas limit and ``max_tx_bytes``."""
        state = self._committed_state()
        registry = self.chain.genesis.registry.address
        by_sender: dict[bytes, dict[int, tuple[bytes, SignedTransactionAPI]]] = {}
        for raw in request.txs:
            try:
                tx = self.decode(bytes(raw))
            except TransactionRejected:
                continue
            by_sender.setdefault(bytes(tx.sender), {}).setdefault(tx.nonce, (bytes(raw), tx))
        chosen: list[bytes] = [bytes(t) for t in self.byzantine_txs]
        if chosen:
            log.warning("TEST ONLY: proposing %d injected transactions at height %d", len(chosen), request.height)
        gas_left = self.chain.head.gas_limit
        bytes_left = request.max_tx_bytes - sum(len(t) + TX_OVERHEAD for t in chosen)
        for sender, txs in by_sender.items():
            if not is_active_member(state, registry, Address(sender)):
                continue
            nonce = state.get_nonce(Address(sender))
            while nonce in txs:
                raw, tx = txs[nonce]
                if tx.gas > gas_left or len(raw) + TX_OVERHEAD > bytes_left:
                    break
                chosen.append(raw)
                gas_left -= tx.gas
                bytes_left -= len(raw) + TX_OVERHEAD
                nonce += 1
        return abci.ResponsePrepareProposal(txs=chosen)

    def _process_proposal(self, request: Any) -> Any:
        if self.byzantine_txs:
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)
        try:
            self._execute(list(request.txs), bytes(request.hash), request.time.seconds,
                          bytes(request.proposer_address), strict=True)
        except ProposalInvalid as exc:
            log.warning("rejected the proposal for height %d (%s): %s", request.height,
                        bytes(request.hash).hex(), exc)
            self._execution = None
            self.chain.buffer.discard()
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def _verify_vote_extension(self, request: Any) -> Any:
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    def _execute(self, txs: list[bytes], block_hash: bytes, seconds: int, proposer: bytes, *,
                 strict: bool) -> Execution:
        """Execute a CometBFT block's transactions into a new Ethereum block (in the buffer).
        ``strict`` (ProcessProposal): any transaction that may not run raises ProposalInvalid.
        Otherwise (a decided block) such a transaction is left out, the same way on every node."""
        self.chain.buffer.discard()  # whatever an earlier proposal of this height left
        head = self.chain.head
        execution = Execution(block_hash, bytes(head.hash), None)
        self._execution = execution
        if not txs:
            return execution
        builder = self.chain.open_unsealed_block(
            seconds, self.proposers.get(proposer, Address(b"\0" * 20)), block_hash)
        execution.builder = builder
        for raw in txs:
            try:
                tx = self.decode(bytes(raw))
            except TransactionRejected as exc:
                outcome = exc.message
            else:
                outcome = builder.add(tx)
                if outcome == FULL:
                    outcome = f"block gas limit reached: gas {tx.gas}"
            if outcome == INCLUDED:
                execution.outcomes.append("")
                continue
            if strict:
                raise ProposalInvalid(outcome)
            execution.outcomes.append(outcome)
        return execution

    # ------------------------------------------------------------------ blocks
    def _finalize_block(self, request: Any) -> Any:
        block_hash = bytes(request.hash)
        execution = self._execution
        if (execution is None or execution.block_hash != block_hash
                or execution.parent_hash != bytes(self.chain.head.hash)):
            execution = self._execute(list(request.txs), block_hash, request.time.seconds,
                                      bytes(request.proposer_address), strict=False)
        builder = execution.builder
        writes: dict[bytes, bytes] = {}
        if builder is not None and builder.included:
            number = builder.header.block_number
            writes = {height_key(request.height): number.to_bytes(8, "big"),
                      number_key(number): request.height.to_bytes(8, "big")}
            sealed = builder.finish(writes)
            app_hash = bytes(sealed.block.header.hash)
        else:
            self.chain.buffer.discard()
            app_hash = bytes(self.chain.head.hash)
            execution.builder = None
        self.chain.buffer[LAST_KEY] = rlp.encode([request.height, app_hash])
        self._finalized = (request.height, app_hash, execution)
        self._execution = None
        self._crash_point("finalize", execution)
        results = [abci.ExecTxResult(code=0, log="") if not outcome
                   else abci.ExecTxResult(code=1, log=outcome, codespace=CODESPACE)
                   for outcome in execution.outcomes]
        return abci.ResponseFinalizeBlock(tx_results=results, app_hash=app_hash)

    def _commit(self, request: Any) -> Any:
        if self._finalized is None:
            raise NodeError("Commit without FinalizeBlock")
        height, app_hash, execution = self._finalized
        self._crash_point("commit", execution)
        self.chain.buffer.flush()
        self._crash_point("committed", execution)
        self._finalized = None
        builder = execution.builder if execution is not None else None
        committed = Committed(height, app_hash,
                              builder.header.block_number if builder is not None else None,
                              len(builder.included) if builder is not None else 0)
        if committed.number is not None:
            log.info("committed height %d: block %d hash=%s txs=%d", height, committed.number,
                     encode_hex(app_hash), committed.transactions)
        if self.on_commit is not None:
            self.on_commit(committed)
        return abci.ResponseCommit(retain_height=0)
