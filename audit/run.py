"""``cityledger audit run``: audit a whole chain over JSON-RPC, trusting nothing the node says.

For every block, in order (checks named as the report names them):

* ``header`` — the header hashes to the block's hash, links to its parent, numbers follow;
* ``seal`` — on a CityLedger chain, the header is sealed (EIP-225 layout) by a sealer in force at
  its parent, the set derived from the genesis document and the ``SealersChanged`` events; a chain
  without seals (anvil) is said to be one, and every other check applies;
* ``commit`` — in place of ``seal`` on a CometBFT network (``--cometbft-genesis``): the block's
  CometBFT commit (``cityledger_getCommit``) carries > 2/3 of the genesis validators' Ed25519
  precommits on a header whose app hash is this block's hash (``audit.commit``); the newest block,
  whose certifying header may not be committed yet, is said to be pending;
* ``chain data`` — the transactions hash to their hashes and recover their senders, and together
  with the receipts give the header's transaction and receipt roots and logs bloom (``audit.trie``,
  ``audit.chain``), so every later check reads data the header commits to;
* ``re-execution`` — the block re-executed by an independent EVM (``audit.executor``: go-ethereum's
  ``evm t8n``, py-evm out of process as the fallback) from the audit's own chained state gives the
  header's state root, receipt and transaction roots, gas used and bloom, and rejects nothing; a
  disagreement is reported with both values and the executor that judged the block;
* the product's rules and anomalies from the events (``audit.rules``), and ``conservation (state)``:
  each lot a block's custody events touch is read from that block's state with an EIP-1186 proof
  checked against the header's state root (every known lot when the state root disagreed with
  re-execution, and at the head);
* ``genesis`` — the genesis state derived from the genesis document gives block 0's state root;
* ``checkpoint`` — every checkpoint the node signed is by a sealer in force and commits to the
  RFC 6962 root of the block hashes the audit verified; with ``--gateway``, the witnesses'
  cosignatures the gateway stores are checked too;
* ``payload`` — every payload an event names is fetched (``--ipfs`` or ``--store``) and re-hashed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_hash.auto import keccak

from audit import tlog
from audit.chain import ChainDataError, Header, Receipt, Transaction, bloom_of, decode_receipt, decode_transaction
from audit.commit import CommitError, Validator, parse_validators, verify_commit
from audit.errors import AuditError
from audit.events import EventCodec, EventDecodeError
from audit.executor import Execution, T8nExecutor, executor_command, genesis_env
from audit.genesis import ARTIFACTS, ChainSpec, TrustInvalid, load_trust_file, node_alloc, parse_genesis
from audit.payloads import PayloadCheckFailed, PayloadReader
from audit.rpc import RpcClient, RpcError
from audit.rules import Finding, RuleEngine, Thresholds
from audit.source import ChainSource, FetchedBlock
from audit.state_proof import verify_account_proof
from audit.trie import ordered_trie

REPORT_FORMAT = "cityledger-audit-report/1"


@dataclass
class RunOptions:
    """What ``audit run`` was asked to do."""

    rpc: str
    out: Path
    gateway: str | None = None
    ipfs: str | None = None
    store: Path | None = None
    trust: Path | None = None
    executor: str = "auto"
    evm: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    artifacts: Path = ARTIFACTS
    progress: bool = True
    batch: int = 32
    #: A CometBFT network's genesis.json: blocks are checked by their commits, not seals.
    cometbft_genesis: Path | None = None


@dataclass
class BlockRecord:
    number: int
    timestamp: int
    transactions: int
    gas_used: int
    sealer: str | None
    executor: str | None = None
    agreed: bool | None = None


@dataclass
class AuditResult:
    """Everything the report shows."""

    doc: dict[str, Any]
    findings: list[Finding]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "violation"]

    @property
    def ok(self) -> bool:
        return not self.violations


class _Progress:
    """A rich progress bar on long runs (``--quiet`` turns it off)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar: Any = None
        if enabled and total > 0:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("auditing blocks"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("blocks", total=total)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class Auditor:
    """One audit run (module docstring)."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.rpc = RpcClient(options.rpc)
        self.findings: list[Finding] = []
        self.blocks: list[BlockRecord] = []
        self.checks: dict[str, int] = {}
        self.notes: list[str] = []
        self.anvil_state = False
        self._state_checks: list[tuple[Header, list[int], str]] = []
        self.validators: list[Validator] | None = None
        self._head = 0

    # ------------------------------------------------------------------ findings
    def _finding(self, severity: str, rule: str, message: str, block: int | None = None,
                 evidence: dict[str, Any] | None = None) -> None:
        self.findings.append(Finding(severity, rule, message, block, None, evidence or {}))

    def _count(self, check: str, n: int = 1) -> None:
        self.checks[check] = self.checks.get(check, 0) + n

    # ------------------------------------------------------------------ setup
    def _spec(self) -> ChainSpec:
        if self.options.trust is not None:
            return load_trust_file(self.options.trust)
        try:
            doc = self.rpc.call("cityledger_genesis")
        except RpcError as exc:
            raise TrustInvalid(self.options.rpc, "the node serves no genesis document (not a CityLedger node?): "
                                                 "pass --trust addressbook.json") from exc
        self.notes.append("The genesis document was read from the node (cityledger_genesis) and authenticated by "
                          "re-deriving block 0's state root from it.")
        return parse_genesis(doc, "cityledger_genesis")

    def run(self) -> AuditResult:
        started = time.perf_counter()
        options = self.options
        chain_id = int(self.rpc.call("eth_chainId"), 16)
        spec = self._spec()
        if spec.chain_id != chain_id:
            raise TrustInvalid(str(options.trust), f"describes chain {spec.chain_id}, the node serves chain {chain_id}")
        enums = json.loads((options.artifacts / "manifest.json").read_text())["enums"]
        self.spec = spec
        source = ChainSource(self.rpc)
        head = source.head()
        genesis = source.header(0)
        self._genesis_hash = genesis.hash
        if spec.genesis_hash is not None and genesis.hash != spec.genesis_hash:
            raise TrustInvalid(str(options.trust), f"pins genesis 0x{spec.genesis_hash.hex()}, the node's block 0 is "
                                                   f"0x{genesis.hash.hex()}")
        self.anvil_state = not spec.poa and str(self.rpc.call("web3_clientVersion")).lower().startswith("anvil")
        self._head = head
        if options.cometbft_genesis is not None:
            try:
                self.validators = parse_validators(json.loads(options.cometbft_genesis.read_text())["validators"])
            except (OSError, ValueError, KeyError, TypeError, CommitError) as exc:
                raise TrustInvalid(str(options.cometbft_genesis), f"not a CometBFT genesis with validators: {exc}") from exc
            self.notes.append(f"This chain is run by {len(self.validators)} CometBFT validators (the set of the given "
                              "CometBFT genesis): each block is checked by its commit in place of a seal, and the "
                              "network signs no checkpoints.")
        elif not spec.poa:
            self.notes.append("This chain carries no seals (its headers have no proof-of-authority signature, as on "
                              "anvil): the seal and checkpoint checks do not apply; every other check does.")
        command, name = executor_command(options.executor, options.evm)
        if "py-evm" in name:
            self.notes.append("No go-ethereum evm binary was found: blocks were re-executed by py-evm in a separate "
                              "process (the same EVM as the node's; run scripts/build-evm for an independent one).")
        workdir = options.out / ".work"
        shutil.rmtree(workdir, ignore_errors=True)
        executor = T8nExecutor(command, name, chain_id, workdir)
        self.engine = RuleEngine(spec, enums, options.thresholds)
        self.codec = EventCodec(spec.addresses, options.artifacts)
        self._genesis_state(executor, spec, genesis)
        log = tlog.CompactRange()
        log.append(genesis.hash)
        roots: dict[int, bytes] = {1: log.root()}
        previous = genesis
        progress = _Progress(options.progress, head)
        headers: dict[int, Header] = {0: genesis}
        mismatched: list[Header] = []
        try:
            for block in source.blocks(1, head, options.batch):
                header = block.header
                headers[header.number] = header
                txs = self._block(block, previous, executor)
                previous = header
                log.append(header.hash)
                roots[log.size] = log.root()
                for execution in executor.ready():
                    if not self._compare(execution, headers[execution.number]):
                        mismatched.append(headers[execution.number])
                self.blocks.append(BlockRecord(header.number, header.timestamp, len(txs), header.num("gasUsed"),
                                               self.blocks_sealer))
                progress.advance()
            for execution in executor.ready(wait=True):
                if not self._compare(execution, headers[execution.number]):
                    mismatched.append(headers[execution.number])
        finally:
            progress.stop()
        for header in mismatched:
            self._state_checks.append((header, list(self.engine.lots), "the block whose state root disagreed with re-execution"))
        if head > 0 and previous not in mismatched:
            self._state_checks.append((previous, list(self.engine.lots), "the head"))
        self._lots_from_state(self._state_checks)
        if self.checks.get("state root (not comparable on anvil)"):
            self.notes.append("anvil's state roots are not Ethereum's (its tries keep zero-valued storage slots, which the "
                              "Yellow Paper removes, and the empty coinbase account, which EIP-161 removes): on "
                              f"{self.checks['state root (not comparable on anvil)']} block(s) they differ from the "
                              "executor's for that reason alone, so state roots and state proofs are not judged here; "
                              "transactions and receipts roots, gas used and logs bloom are.")
        self.engine.finish(previous.timestamp)
        if spec.poa and self.validators is None:
            self._checkpoints(roots, head)
        self._payloads()
        if options.gateway:
            self._gateway(spec, genesis)
        self.findings = self.engine.findings + self.findings
        elapsed = time.perf_counter() - started
        doc = self._document(spec, genesis, previous, head, executor.name, elapsed)
        shutil.rmtree(workdir, ignore_errors=True)
        self.rpc.close()
        return AuditResult(doc, self.findings)

    # ------------------------------------------------------------------ genesis
    def _genesis_state(self, executor: T8nExecutor, spec: ChainSpec, genesis: Header) -> None:
        self._count("genesis")
        if spec.document is not None:
            env = genesis_env(spec.chain_id, genesis.num("gasLimit"), genesis.timestamp)
            deployments = spec.deployments(self.options.artifacts)
            alloc = executor.derive_genesis(deployments, spec.plain_alloc(), env)
            derived = executor.state_root_of(alloc, env)
            claimed = genesis.field("stateRoot")
            if derived != claimed:  # a constructor may call one deployed before it: one contract per run
                alloc = executor.derive_genesis(deployments, spec.plain_alloc(), env, together=False)
                derived = executor.state_root_of(alloc, env)
            if derived != claimed:
                self._finding("violation", "genesis", f"the genesis document derives state root 0x{derived.hex()}, "
                              f"block 0 claims 0x{claimed.hex()}", 0, {"derived": "0x" + derived.hex(), "claimed": "0x" + claimed.hex()})
        else:
            alloc = node_alloc(self.rpc)
            self.notes.append(f"The genesis state ({len(alloc)} accounts: the node's accounts and predeploys read at "
                              "block 0) is checked by re-executing block 1 from it; this chain's block 0 carries no "
                              "usable state root.")
        executor.start(alloc, genesis)

    # ------------------------------------------------------------------ one block
    blocks_sealer: str | None = None

    def _commit(self, header: Header) -> None:
        """The ``commit`` check of one block (module docstring)."""
        assert self.validators is not None
        number = header.number
        self._count("commit")
        try:
            certificate = self.rpc.call("cityledger_getCommit", [hex(number)])
        except RpcError as exc:
            self._finding("violation", "commit", f"block {number} has no CometBFT commit: {exc}", number)
            return
        if certificate is None:
            if number == self._head:
                self.notes.append(f"Block {number}, the newest, is not certified yet (its certifying CometBFT header "
                                  "was not committed when the audit read it).")
            else:
                self._finding("violation", "commit", f"block {number} has no CometBFT commit", number)
            return
        try:
            verdict = verify_commit(certificate, header.hash, self.validators)
        except CommitError as exc:
            self._finding("violation", "commit", f"block {number}: {exc}", number, {"header": "0x" + header.raw.hex()})
        except (KeyError, TypeError, ValueError) as exc:
            self._finding("violation", "commit", f"block {number}: malformed commit ({exc})", number)
        else:
            self.blocks_sealer = f"{verdict.signed_power}/{verdict.total_power} voting power"

    def _block(self, block: FetchedBlock, previous: Header, executor: T8nExecutor) -> list[Transaction]:
        header, number = block.header, block.header.number
        self._count("header")
        if header.parent_hash != previous.hash or number != previous.number + 1:
            self._finding("violation", "header", f"block {number} does not extend block {previous.number} "
                          f"(parent 0x{header.parent_hash.hex()}, expected 0x{previous.hash.hex()})", number)
        self.blocks_sealer = None
        if self.validators is not None:
            self._commit(header)
        elif self.spec.poa:
            self._count("seal")
            sealers = self.engine.sealers
            try:
                signer = header.sealer()
                self.blocks_sealer = "0x" + signer.hex()
                if signer not in sealers:
                    self._finding("violation", "seal", f"block {number} is sealed by 0x{signer.hex()}, not by a sealer "
                                  f"in force at block {number - 1} ({', '.join('0x' + s.hex() for s in sealers)})",
                                  number, {"header": "0x" + header.raw.hex(), "signer": "0x" + signer.hex()})
            except ChainDataError as exc:
                self._finding("violation", "seal", exc.reason, number, {"header": "0x" + header.raw.hex()})
        executor.submit(header, list(block.transactions))
        txs: list[Transaction] = []
        for i, raw in enumerate(block.transactions):
            try:
                txs.append(decode_transaction(raw, f"transaction {i} of block {number}"))
            except ChainDataError as exc:
                self._finding("violation", "chain data", str(exc), number)
                return []
        receipts: list[Receipt] = []
        try:
            receipts = [decode_receipt(r, f"receipt {i} of block {number}") for i, r in enumerate(block.receipts)]
        except ChainDataError as exc:
            self._finding("violation", "chain data", str(exc), number)
            return txs
        self._count("chain data")
        tx_trie = ordered_trie(list(block.transactions))
        receipt_trie = ordered_trie(list(block.receipts))
        for what, trie, field_name in (("transactions", tx_trie, "transactionsRoot"), ("receipts", receipt_trie, "receiptsRoot")):
            if trie.root != header.field(field_name):
                self._finding("violation", "chain data", f"the {what} the node served for block {number} give root "
                              f"0x{trie.root.hex()}, the header commits to 0x{header.field(field_name).hex()}", number)
                return txs
        logs = [log for r in receipts for log in r.logs]
        if bloom_of(logs) != header.field("logsBloom"):
            self._finding("violation", "chain data", f"block {number}'s logs bloom is not the bloom of its receipts' logs", number)
        gas = receipts[-1].cumulative_gas if receipts else 0
        if gas != header.num("gasUsed"):
            self._finding("violation", "chain data", f"block {number}'s receipts used {gas} gas, the header says "
                          f"{header.num('gasUsed')}", number)
        events: list[list[Any]] = []
        for i, receipt in enumerate(receipts):
            row: list[Any] = []
            for position, log in enumerate(receipt.logs):
                try:
                    row.append(self.codec.decode(log))
                except EventDecodeError as exc:
                    self._finding("violation", "chain data", f"log {position} of transaction {i} in block {number}: {exc}", number)
                    row.append(None)
            events.append(row)

        def proof(tx_index: int, log_index: int) -> dict[str, Any]:
            key = rlp.encode(tx_index)
            return {"type": "receipt", "chainId": self.spec.chain_id, "blockNumber": number,
                    "blockHash": "0x" + header.hash.hex(), "header": "0x" + header.raw.hex(), "txIndex": tx_index,
                    "txHash": "0x" + txs[tx_index].hash.hex(),
                    "receiptProof": ["0x" + n.hex() for n in receipt_trie.proof(key)],
                    "txProof": ["0x" + n.hex() for n in tx_trie.proof(key)], "logIndex": log_index}

        self.engine.block(header, txs, receipts, events, proof)
        touched = sorted({int(e.args["lotId"]) for row in events for e in row if e is not None
                          and e.contract == "SupplyCustody" and "lotId" in e.args}
                         | {int(e.args["childLotId"]) for row in events for e in row if e is not None
                            and e.name == "LotSplit"}
                         | {int(e.args["parentLotId"]) for row in events for e in row if e is not None
                            and e.name == "LotSplit"})
        if touched:
            self._state_checks.append((header, touched, "the block's custody events"))
        return txs

    def _compare(self, execution: Execution, header: Header) -> bool:
        """The differential check of one block; True when the executor agrees with the header."""
        self._count("re-execution")
        record = next((b for b in reversed(self.blocks) if b.number == execution.number), None)
        problems: list[tuple[str, str, str]] = []
        if execution.state_root != header.field("stateRoot") and self.anvil_state:
            # anvil's state roots are not Ethereum's: its tries keep zero-valued storage slots (the
            # Yellow Paper deletes them) and the empty coinbase account (EIP-161 deletes it). Its
            # receipts, gas, bloom and transactions are still compared; its state roots cannot be.
            self._count("state root (not comparable on anvil)")
            execution = replace(execution, state_root=header.field("stateRoot"))
        for what, mine, claimed in (
                ("state root", execution.state_root, header.field("stateRoot")),
                ("receipts root", execution.receipts_root, header.field("receiptsRoot")),
                ("transactions root", execution.transactions_root, header.field("transactionsRoot")),
                ("logs bloom", execution.logs_bloom, header.field("logsBloom"))):
            if mine != claimed:
                problems.append((what, "0x" + claimed.hex(), "0x" + mine.hex()))
        if execution.gas_used != header.num("gasUsed"):
            problems.append(("gas used", str(header.num("gasUsed")), str(execution.gas_used)))
        if execution.requests_hash is not None and len(header.fields) > 20 and execution.requests_hash != header.field("requestsHash"):
            problems.append(("requests hash", "0x" + header.field("requestsHash").hex(), "0x" + execution.requests_hash.hex()))
        for index, error in execution.rejected:
            problems.append((f"transaction {index}", "included", f"rejected: {error}"))
        agreed = not problems
        if record is not None:
            record.executor, record.agreed = execution.executor, agreed
        for what_, claimed_, computed_ in problems:
            self._finding("violation", "re-execution", f"block {execution.number}: the header claims {what_} {claimed_}, "
                          f"{execution.executor} computes {computed_}", execution.number,
                          {"check": what_, "claimed": claimed_, "computed": computed_, "executor": execution.executor,
                           "header": "0x" + header.raw.hex()})
        return agreed

    # ------------------------------------------------------------------ state
    def _lots_from_state(self, requests: list[tuple[Header, list[int], str]]) -> None:
        """Conservation read from the claimed state of each block (EIP-1186 proofs against its
        state root, fetched in JSON-RPC batches): ``original = held + inTransit + consumed +
        losses + childOriginals`` for the lots asked about."""
        custody = self.spec.addresses.get("SupplyCustody")
        if custody is None or not requests or self.anvil_state:
            return
        layout = json.loads((self.options.artifacts / "SupplyCustody.json").read_text())["storageLayout"]
        base_slot = next(int(s["slot"]) for s in layout["storage"] if s["label"] == "_lots")
        names = ("original", "held", "inTransit", "consumed", "losses", "childOriginals")
        calls: list[tuple[Header, list[int], str, dict[int, int]]] = []
        for header, lots, why in requests:
            for start in range(0, len(lots), 100):
                chunk = lots[start:start + 100]
                bases = {lot: int.from_bytes(keccak(lot.to_bytes(32, "big") + base_slot.to_bytes(32, "big")), "big") for lot in chunk}
                calls.append((header, chunk, why, bases))
        for first in range(0, len(calls), 16):
            group = calls[first:first + 16]
            try:
                answers = self.rpc.batch([("eth_getProof", ["0x" + custody.hex(), [hex(b + i) for lot in chunk for i in range(len(names))
                                                                                   for b in (bases[lot],)], hex(header.number)])
                                          for header, chunk, _why, bases in group])
            except RpcError as exc:
                self._finding("warning", "conservation (state)", f"the custody state could not be read with proofs: {exc}")
                return
            for (header, chunk, why, bases), response in zip(group, answers):
                try:
                    account = verify_account_proof(header.field("stateRoot"), response)
                except AuditError as exc:
                    self._finding("warning", "conservation (state)", f"the custody state at block {header.number} could not "
                                  f"be read with a proof: {exc}", header.number)
                    continue
                for lot in chunk:
                    self._count("conservation (state)")
                    values = {name: account.slot_value(bases[lot] + i) for i, name in enumerate(names)}
                    if values["original"] != sum(values[n] for n in names[1:]):
                        self._finding("violation", "conservation (state)", f"lot {lot} breaks conservation in the state of "
                                      f"block {header.number} ({why}): original {values['original']} ≠ "
                                      + " + ".join(f"{n} {values[n]}" for n in names[1:]), header.number,
                                      {"lot": lot, "values": values, "stateProof": response, "header": "0x" + header.raw.hex()})

    # ------------------------------------------------------------------ checkpoints, payloads, gateway
    def _checkpoints(self, roots: dict[int, bytes], head: int) -> None:
        """Every signed checkpoint the node serves commits to the audited chain."""
        try:
            latest = self.rpc.call("cityledger_latestCheckpoint")
        except RpcError:
            self.notes.append("The node serves no checkpoints (cityledger_latestCheckpoint).")
            return
        if latest is None:
            return
        interval = self.spec.checkpoint_interval
        sizes = [s for s in range(interval, min(int(latest["size"]), head + 1) + 1, interval) if s >= 2]
        changes = self.engine.sealer_changes
        for start in range(0, len(sizes), 500):
            chunk = sizes[start:start + 500]
            answers = self.rpc.batch([("cityledger_checkpoint", [hex(s)]) for s in chunk])
            for size, answer in zip(chunk, answers):
                if answer is None:
                    continue
                self._count("checkpoint")
                sealers = _sealers_at(self.spec, changes, size - 1)
                try:
                    note = tlog.parse_note(answer["note"])
                    checkpoint = tlog.parse_checkpoint(note.text)
                    tlog.verify_sealer_signature(note, sealers)
                    if checkpoint.chain != (self.spec.chain_id, self.genesis_hash):
                        raise tlog.NoteError("checkpoint", f"its origin {checkpoint.origin} names another chain")
                    if checkpoint.size != size or checkpoint.root != roots.get(size):
                        raise tlog.NoteError("checkpoint", f"it commits to root {checkpoint.root.hex()} for {checkpoint.size} "
                                                           f"blocks; the audited chain's root at {size} is "
                                                           f"{(roots.get(size) or b'').hex()}")
                except tlog.NoteError as exc:
                    self._finding("violation", "checkpoint", f"checkpoint {size}: {exc.reason}", size - 1,
                                  {"note": answer.get("note")})

    def _payloads(self) -> None:
        reader = PayloadReader(self.options.ipfs, self.options.store)
        payloads = self.engine.payloads
        if not payloads:
            return
        if not reader.configured:
            self._finding("warning", "payload", f"{len(payloads)} payload(s) named by events were not fetched "
                          "(no --ipfs or --store given)")
            return
        for item in payloads:
            self._count("payload")
            try:
                content = reader.read(item["cid"])
            except PayloadCheckFailed as exc:
                severity = "violation" if exc.kind == "corrupt" else "warning"
                self._finding(severity, "payload", f"{item['what']} {item['cid']} (block {item['block']}): {exc.reason}",
                              item["block"], item["evidence"])
                continue
            if item["sha256"] is not None:
                actual = "0x" + hashlib.sha256(content).hexdigest()
                if actual != item["sha256"]:
                    self._finding("violation", "payload", f"{item['what']} {item['cid']} (block {item['block']}) hashes to "
                                  f"sha256 {actual}, the chain records {item['sha256']}", item["block"], item["evidence"])

    def _gateway(self, spec: ChainSpec, genesis: Header) -> None:
        """The gateway's newest checkpoint and its witnesses' cosignatures, checked here."""
        import httpx  # only with --gateway: the import is not free

        try:
            answer = httpx.get(f"{self.options.gateway}/v1/checkpoints/latest", timeout=30)
        except httpx.HTTPError as exc:
            self._finding("warning", "cosignature", f"the gateway is unreachable: {exc}")
            return
        if answer.status_code != 200:
            self.notes.append(f"The gateway serves no checkpoint ({answer.status_code}).")
            return
        doc = answer.json()
        self._count("cosignature")
        try:
            note = tlog.parse_note(doc["note"])
            bindings = [tlog.KeyBinding.from_json(b) for b in doc.get("witnesses", [])]
            sealer_lines = {(line.name, line.key_id) for line in note.signatures
                            if line.key_id in {tlog.sealer_key_id(tlog.parse_checkpoint(note.text).origin, s)
                                               for s in _all_sealers(spec, self.engine.sealer_changes)}}
            result = tlog.check_cosignatures(note, [], bindings, self.engine.witnesses,
                                             lambda line: (line.name, line.key_id) in sealer_lines)
        except (tlog.NoteError, KeyError, TypeError) as exc:
            self._finding("violation", "cosignature", f"the gateway's checkpoint: {exc}")
            return
        for name, reason in result.failed:
            self._finding("violation", "cosignature", f"cosignature by {name} on checkpoint {doc.get('size')}: {reason}")
        self.notes.append(f"The gateway's newest checkpoint (size {doc.get('size')}) carries "
                          f"{len(result.counted)} valid witness cosignature(s): "
                          + (", ".join(f"{n} ({who})" for n, who in result.counted) or "none"))

    @property
    def genesis_hash(self) -> bytes:
        return self._genesis_hash

    # ------------------------------------------------------------------ the report
    def _document(self, spec: ChainSpec, genesis: Header, head: Header, head_number: int, executor: str,
                  elapsed: float) -> dict[str, Any]:
        counts = {s: sum(1 for f in self.findings if f.severity == s) for s in ("violation", "anomaly", "loss", "warning")}
        checks = dict(self.checks)
        checks.update({k: v for k, v in self.engine.checked.items()})
        tx_count = sum(b.transactions for b in self.blocks)
        members = {m.id: m.name for m in self.engine.members.values()}
        return {
            "format": REPORT_FORMAT,
            "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ok": counts["violation"] == 0,
            "chain": {"chainId": spec.chain_id, "rpc": self.options.rpc, "consensus": "cometbft" if self.validators is not None else "cityledger-poa" if spec.poa else "none",
                      "genesisHash": "0x" + genesis.hash.hex(), "head": head_number, "headHash": "0x" + head.hash.hex(),
                      "headTime": head.timestamp, "blocks": head_number + 1, "transactions": tx_count},
            "executor": {"name": executor, "blocksJudged": sum(1 for b in self.blocks if b.executor),
                         "blocksAgreed": sum(1 for b in self.blocks if b.agreed)},
            "summary": {"violations": counts["violation"], "anomalies": counts["anomaly"], "losses": counts["loss"],
                        "warnings": counts["warning"], "checks": checks},
            "notes": self.notes,
            "timing": {"seconds": round(elapsed, 3), "blocksPerSecond": round(len(self.blocks) / elapsed, 2) if elapsed else None,
                       "transactionsPerSecond": round(tx_count / elapsed, 2) if elapsed else None},
            "findings": [_finding_json(i, f) for i, f in enumerate(self.findings)],
            "blocks": [{"number": b.number, "timestamp": b.timestamp, "transactions": b.transactions, "gasUsed": b.gas_used,
                        "sealer": b.sealer, "executor": b.executor, "agreed": b.agreed} for b in self.blocks],
            "charts": {
                "stock": self.engine.stock,
                "flows": dict(self.engine.flows),
                "losses": [{"lot": lot.id, "original": lot.original, "losses": lot.losses, "holder": members.get(lot.holder, str(lot.holder))}
                           for lot in self.engine.lots.values()],
                "accesses": {str(k): [{"time": t, "count": c} for t, c in v] for k, v in self.engine.accesses.items()},
                "datasets": {str(k): v["title"] for k, v in self.engine.datasets.items()},
            },
        }


def _finding_json(index: int, finding: Finding) -> dict[str, Any]:
    return {"id": f"F{index + 1:04d}", "severity": finding.severity, "rule": finding.rule, "message": finding.message,
            "block": finding.block, "txHash": finding.tx_hash or finding.evidence.get("txHash"), "evidence": finding.evidence}


def _sealers_at(spec: ChainSpec, changes: list[tuple[int, list[bytes]]], number: int) -> list[bytes]:
    """The sealer set in force for block ``number``: genesis, then each change from the block after it."""
    current = list(spec.sealers)
    for changed_at, sealers in changes:
        if changed_at < number:
            current = sealers
    return current


def _all_sealers(spec: ChainSpec, changes: list[tuple[int, list[bytes]]]) -> set[bytes]:
    return set(spec.sealers) | {s for _, sealers in changes for s in sealers}


def run_audit(options: RunOptions) -> AuditResult:
    """Audit the chain at ``options.rpc`` and write ``report.json`` and ``report.html``."""
    from audit.report import write_report

    options.out.mkdir(parents=True, exist_ok=True)
    auditor = Auditor(options)
    result = auditor.run()
    write_report(options.out, result.doc)
    return result

