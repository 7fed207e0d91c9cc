"""The chain: py-evm configured for CityLedger, over a store committed once per block.

``LedgerChain`` is the only object that touches py-evm's chain database. It is not thread-safe:
each instance is used from one thread (the sealer's loop, or the service's chain thread, see
``node.service``). Several instances may share one store: exactly one writes (the sealer or the
replica's importer); the others only read, which LMDB serves from the last committed block.

A block is built incrementally (:class:`BlockBuilder`): transactions are executed as they are
admitted, and the block is finalised, sealed and committed later, together with its lookup index
(``node.index``) in the same atomic commit.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import Chain
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import BlockNotFound, HeaderNotFound, TransactionNotFound
from eth.vm.chain_context import ChainContext
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey
from eth_typing import Address, BlockNumber, Hash32
from eth_utils import ValidationError, encode_hex
from trie import HexaryTrie

from node.consensus import (
    VANITY_BYTES,
    CityLedgerVM,
    NonMemberSender,
    is_active_member,
    recover_sealer,
    seal_header,
)
from node.checkpoints import TREE_SIZE, MerkleLog, SignedCheckpoint, checkpoint_writes, origin, sign_checkpoint, stored_checkpoint
from node.errors import BlockRejected, ExecutionReverted, GenesisError, RegistryCallFailed, StorageError
from node.genesis import GENESIS_DEPLOYER, Genesis
from node.index import (
    SCHEMA_KEY,
    SCHEMA_VERSION,
    IndexedReceipt,
    IndexedTransaction,
    LogEntry,
    block_index_writes,
    block_key,
    decode_block_record,
    decode_receipt_fields,
    decode_tx_record,
    encode_block_raw,
    tx_key,
)
from node.kv import BlockWriteBuffer, KeyValueStore
from node.ordered_trie import ordered_trie_root_and_nodes

log = logging.getLogger("cityledger.chain")

_SEALERS_SELECTOR = keccak(b"sealers()")[:4]
_GENESIS_KEY = b"cityledger:genesis-hash"
_ERROR_SELECTOR = keccak(b"Error(string)")[:4]


#: Decoded blocks kept for reads (headers, transaction hashes, logs).
BLOCK_CACHE_SIZE = 256
HEADER_CACHE_SIZE = 4_096


@dataclass(frozen=True)
class BlockView:
    """A canonical block as the index holds it: no transaction is decoded to build it."""

    header: BlockHeaderAPI
    transaction_hashes: tuple[bytes, ...]
    logs: tuple[LogEntry, ...]
    #: Byte length of the block's RLP.
    size: int


@dataclass
class BuiltBlock:
    """A sealed block and what happened to the transactions offered for it."""

    #: None when every offered transaction was dropped (no empty block is sealed for them).
    block: BlockAPI | None
    receipts: tuple[ReceiptAPI, ...]
    #: Offered but not included, with the reason (they leave the pool).
    dropped: list[tuple[SignedTransactionAPI, str]] = field(default_factory=list)
    #: Offered but left for a later block (the block was full).
    deferred: list[SignedTransactionAPI] = field(default_factory=list)


def decode_revert_reason(data: bytes) -> str | None:
    """Solidity ``Error(string)`` revert data to its message; None for other revert data."""
    if data[:4] == _ERROR_SELECTOR:
        try:
            (reason,) = abi_decode(["string"], data[4:])
            return str(reason)
        except Exception:  # malformed revert data is reported raw
            return None
    return None


class LedgerChain:
    """A CityLedger chain stored in ``store`` and defined by ``genesis``."""

    def __init__(self, store: KeyValueStore, genesis: Genesis, *, writable: bool = True) -> None:
        self.genesis = genesis
        self.writable = writable
        self.vm_class = CityLedgerVM.configure(
            __name__="CityLedgerVM", registry_address=genesis.registry.address)
        self.chain_class = Chain.configure(
            __name__="CityLedgerChain", vm_configuration=((0, self.vm_class),),
            chain_id=genesis.chain_id)
        self.chain_context = ChainContext(genesis.chain_id)
        self._store = store
        self.buffer = BlockWriteBuffer(store)
        self.db = AtomicDB(self.buffer)
        self.chaindb = ChainDB(self.db)
        self._sealer_cache: OrderedDict[bytes, tuple[Address, ...]] = OrderedDict()
        self._blocks: OrderedDict[bytes, BlockView] = OrderedDict()
        self._headers: OrderedDict[bytes, BlockHeaderAPI] = OrderedDict()
        #: The block-hash transparency log (``node.checkpoints``), read from the committed store.
        self.log = MerkleLog(store.get)
        expected = build_genesis_header(genesis, self.vm_class)
        stored = store.get(_GENESIS_KEY)
        if stored is None:
            if not writable:
                raise StorageError("the store holds no chain yet (its writer initialises it)")
            header = build_genesis_state(self.db, genesis, self.vm_class)
            assert header.hash == expected.hash
            self.chaindb.persist_header(header)
            self.db[_GENESIS_KEY] = header.hash
            self.db[block_key(header.hash)] = _EMPTY_BLOCK_RECORD
            self.db[SCHEMA_KEY] = bytes([SCHEMA_VERSION])
            for key, value in self.log.append(header.hash).items():
                self.db[key] = value
            self.buffer.flush()
            log.info("initialised chain %d, genesis %s", genesis.chain_id, encode_hex(header.hash))
        elif stored != expected.hash:
            raise GenesisError(
                f"the data directory holds chain with genesis {encode_hex(stored)}, but the genesis "
                f"file describes {encode_hex(expected.hash)}")
        self.genesis_header = expected
        #: The checkpoint origin line: ``cityledger/<chain id>/0x<genesis hash>``.
        self.origin = origin(genesis.chain_id, bytes(expected.hash))
        self._check_schema()
        self._check_log()

    def _check_schema(self) -> None:
        """Data directories written before the index existed carry no schema key: the writer
        builds the index for their blocks once, at start (a few seconds per thousand blocks),
        rather than refusing and making the operator re-sync a chain it already verified."""
        raw = self._store.get(SCHEMA_KEY)
        version = raw[0] if raw else 0
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StorageError(f"the data directory uses index schema {version}, newer than this "
                               f"node's {SCHEMA_VERSION}; run a newer node")
        if not self.writable:
            raise StorageError("the data directory's index is not built yet (its writer builds it)")
        head = self.head.block_number
        log.warning("data directory predates the lookup index: indexing %d blocks", head + 1)
        for number in range(head + 1):
            header = self.chaindb.get_canonical_block_header_by_number(BlockNumber(number))
            block = self.vm_class.get_block_class().from_header(header=header, chaindb=self.chaindb)
            receipts = block.get_receipts(self.chaindb)
            # Recovered here once, for blocks whose senders were never stored.
            senders = [tx.sender for tx in block.transactions]
            for key, value in block_index_writes(block, receipts, senders).items():
                self.db[key] = value
            if number % 64 == 63:
                self.buffer.flush()
        self.db[SCHEMA_KEY] = bytes([SCHEMA_VERSION])
        self.buffer.flush()
        log.info("lookup index built for %d blocks", head + 1)

    def _check_log(self) -> None:
        """Data directories written before the block-hash log existed hold fewer leaves than
        blocks: the writer appends the missing block hashes once, at start (no checkpoint is
        signed for the past; the next one comes with the next due block)."""
        missing = self.head.block_number + 1 - self.log.size
        if missing <= 0:
            return
        if not self.writable:
            raise StorageError("the data directory's block-hash log is not built yet (its writer builds it)")
        log.warning("data directory predates the block-hash log: adding %d leaves", missing)
        for number in range(self.log.size, self.head.block_number + 1):
            block_hash = self.chaindb.get_canonical_block_hash(BlockNumber(number))
            self._store.commit(self.log.append(block_hash))

    def log_writes(self, block_hash: bytes, number: int, sealer_key: PrivateKey | None) -> dict[bytes, bytes]:
        """The log writes for a new block (its leaf and the subtrees it completes) and, when the
        tree size is a multiple of the genesis ``checkpointInterval`` and a sealer key is given,
        the sealer's signed checkpoint; committed with the block."""
        writes = self.log.append(block_hash)
        size = number + 1
        if int.from_bytes(writes[TREE_SIZE], "big") != size:
            raise StorageError(f"the block-hash log has {self.log.size} leaves before block {number}")
        if sealer_key is not None and size % self.genesis.checkpoint_interval == 0:
            root = self.log.root(size, writes)
            writes.update(checkpoint_writes(sign_checkpoint(self.origin, size, root, sealer_key)))
        return writes

    def checkpoint(self, size: int | None = None) -> SignedCheckpoint | None:
        """The signed checkpoint of tree ``size`` (the newest when None), if the sealer made one."""
        return stored_checkpoint(self._store.get, size)

    @property
    def store(self) -> KeyValueStore:
        """The committed store under the write buffer (reads here never see unflushed writes)."""
        return self._store

    def close(self) -> None:
        """Drop any uncommitted writes and close the store."""
        self.buffer.discard()
        self._store.close()

    # ------------------------------------------------------------------ reads
    @property
    def chain_id(self) -> int:
        return self.genesis.chain_id

    @property
    def head(self) -> BlockHeaderAPI:
        return self.chaindb.get_canonical_head()

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        try:
            block_hash = self.chaindb.get_canonical_block_hash(BlockNumber(number))
        except (HeaderNotFound, BlockNotFound):
            return None
        return self._header(block_hash)

    def _header(self, block_hash: bytes) -> BlockHeaderAPI | None:
        header = self._headers.get(block_hash)
        if header is None:
            try:
                header = self.chaindb.get_block_header_by_hash(Hash32(block_hash))
            except (HeaderNotFound, BlockNotFound, ValidationError):
                return None
            self._headers[block_hash] = header
            if len(self._headers) > HEADER_CACHE_SIZE:
                self._headers.popitem(last=False)
        return header

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        """The canonical header with this hash (None for unknown or non-canonical hashes)."""
        header = self._header(block_hash)
        if header is None:
            return None
        try:
            canonical = self.chaindb.get_canonical_block_hash(header.block_number)
        except (HeaderNotFound, BlockNotFound):
            return None
        return header if canonical == header.hash else None

    def block(self, header: BlockHeaderAPI) -> BlockAPI:
        """py-evm's block object, rebuilt from the transaction trie (slow; replicas and tests)."""
        return self.vm_class.get_block_class().from_header(header=header, chaindb=self.chaindb)

    def receipts(self, block: BlockAPI) -> tuple[ReceiptAPI, ...]:
        """py-evm's receipt objects, from the receipt trie (slow; tests and the index rebuild)."""
        return tuple(block.get_receipts(self.chaindb))

    def block_view(self, header: BlockHeaderAPI) -> BlockView:
        """The block's transaction hashes and logs from the index (cached for recent blocks)."""
        view = self._blocks.get(header.hash)
        if view is not None:
            self._blocks.move_to_end(header.hash)
            return view
        encoded = self._store.get(block_key(header.hash))
        if encoded is None:
            raise StorageError(f"block {header.block_number} has no index record")
        tx_hashes, raw_logs, size = decode_block_record(encoded)
        logs = tuple(
            LogEntry(Address(address), topics, data, header.block_number, header.hash, header.timestamp,
                     tx_index, tx_hashes[tx_index], log_index)
            for log_index, (tx_index, address, topics, data) in enumerate(raw_logs))
        view = BlockView(header, tuple(tx_hashes), logs, size)
        self._blocks[header.hash] = view
        if len(self._blocks) > BLOCK_CACHE_SIZE:
            self._blocks.popitem(last=False)
        return view

    def transaction(self, tx_hash: bytes) -> IndexedTransaction | None:
        """A canonical transaction by hash, from the index (None when unknown)."""
        found = self._tx_record(tx_hash)
        if found is None:
            return None
        record, header = found
        return IndexedTransaction(record.raw_tx, record.sender, tx_hash, header.hash, header.block_number,
                                  record.index, header.base_fee_per_gas or 0)

    def transaction_at(self, header: BlockHeaderAPI, index: int) -> IndexedTransaction | None:
        hashes = self.block_view(header).transaction_hashes
        return self.transaction(hashes[index]) if 0 <= index < len(hashes) else None

    def receipt(self, tx_hash: bytes) -> IndexedReceipt | None:
        """A canonical transaction's receipt by hash, from the index (None when unknown)."""
        found = self._tx_record(tx_hash)
        if found is None:
            return None
        record, header = found
        status, cumulative, bloom, raw_logs = decode_receipt_fields(record.raw_receipt)
        logs = tuple(
            LogEntry(Address(address), topics, data, header.block_number, header.hash, header.timestamp,
                     record.index, tx_hash, record.first_log + i)
            for i, (address, topics, data) in enumerate(raw_logs))
        tx = IndexedTransaction(record.raw_tx, record.sender, tx_hash, header.hash, header.block_number,
                                record.index, header.base_fee_per_gas or 0)
        return IndexedReceipt(tx, record.raw_receipt, status, cumulative, record.gas_used, bloom, logs)

    def _tx_record(self, tx_hash: bytes) -> tuple[Any, BlockHeaderAPI] | None:
        encoded = self._store.get(tx_key(tx_hash))
        if encoded is None:
            return None
        record = decode_tx_record(encoded)
        header = self.header_by_hash(record.block_hash)
        return None if header is None else (record, header)

    def raw_receipts(self, header: BlockHeaderAPI) -> list[bytes]:
        out = []
        for tx_hash in self.block_view(header).transaction_hashes:
            encoded = self._store.get(tx_key(tx_hash))
            assert encoded is not None, "a block's index is committed with the block"
            out.append(decode_tx_record(encoded).raw_receipt)
        return out

    def raw_transactions(self, header: BlockHeaderAPI) -> list[bytes]:
        out = []
        for tx_hash in self.block_view(header).transaction_hashes:
            encoded = self._store.get(tx_key(tx_hash))
            assert encoded is not None, "a block's index is committed with the block"
            out.append(decode_tx_record(encoded).raw_tx)
        return out

    def raw_block(self, header: BlockHeaderAPI) -> bytes:
        return encode_block_raw(bytes(rlp.encode(header)), self.raw_transactions(header))

    def decode_block(self, raw: bytes) -> BlockAPI:
        block: BlockAPI = rlp.decode(raw, sedes=self.vm_class.get_block_class())
        return block

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        found = self._tx_record(tx_hash)
        return None if found is None else (found[1].block_number, found[0].index)

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        """A throwaway state view after ``header``; never persisted."""
        return self.vm_class.build_state(self.db, header, self.chain_context)

    def is_active_member(self, account: Address, header: BlockHeaderAPI | None = None) -> bool:
        state = self.state_at(header or self.head)
        return is_active_member(state, self.genesis.registry.address, account)

    def sealers_at(self, header: BlockHeaderAPI) -> tuple[Address, ...]:
        """The sealer set recorded in the registry in the state after ``header``."""
        cached = self._sealer_cache.get(header.state_root)
        if cached is not None:
            return cached
        output = self._static_call(header, self.genesis.registry.address, _SEALERS_SELECTOR)
        (addresses,) = abi_decode(["address[]"], output)
        sealers = tuple(Address(bytes.fromhex(a[2:])) for a in addresses)
        self._sealer_cache[header.state_root] = sealers
        if len(self._sealer_cache) > 64:
            self._sealer_cache.popitem(last=False)
        return sealers

    def _static_call(self, header: BlockHeaderAPI, to: Address, data: bytes) -> bytes:
        state = self.state_at(header)
        message = Message(gas=10_000_000, to=to, sender=ZERO_ADDRESS, value=0, data=data,
                          code=state.get_code(to), is_static=True)
        context = state.get_transaction_context_class()(gas_price=0, origin=ZERO_ADDRESS)
        computation = state.computation_class.apply_computation(state, message, context)
        if computation.is_error:
            raise RegistryCallFailed(to, computation.error.__class__.__name__, str(computation.error))
        return bytes(computation.output)

    # ----------------------------------------------------------- execution
    def _spoof(self, header: BlockHeaderAPI, call: dict[str, Any], state: StateAPI) -> SpoofTransaction:
        sender = call.get("from") or ZERO_ADDRESS
        unsigned = self.vm_class.create_unsigned_transaction(
            nonce=state.get_nonce(sender),
            gas_price=0,
            gas=call.get("gas") or header.gas_limit,
            to=call.get("to") or CREATE_CONTRACT_ADDRESS,
            value=call.get("value", 0),
            data=call.get("data", b""),
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _call_state(self, header: BlockHeaderAPI) -> StateAPI:
        """The state after ``header`` in ``header``'s own block context (number, timestamp), as
        go-ethereum runs ``eth_call``: answers are reproducible, never tied to the wall clock.
        Never persisted."""
        vm = self.chain_class(self.db).get_vm(header)
        previous = (header.hash, *(vm.previous_hashes or ()))
        return self.vm_class.build_state(self.db, header, self.chain_context, previous)

    def call(self, call: dict[str, Any], header: BlockHeaderAPI) -> bytes:
        """``eth_call``: execute on the state after ``header`` without a signature or fee."""
        state = self._call_state(header)
        tx = self._spoof(header, call, state)
        # SpoofTransaction proxies every SignedTransactionAPI attribute (py-evm's own pattern).
        computation = state.costless_execute_transaction(cast(SignedTransactionAPI, tx))
        if computation.is_error:
            raise _execution_error(computation)
        return bytes(computation.output)

    def estimate_gas(self, call: dict[str, Any], header: BlockHeaderAPI) -> int:
        """``eth_estimateGas`` by binary search, as py-evm estimates."""
        from eth.estimators.gas import binary_gas_search_intrinsic_tolerance

        state = self._call_state(header)
        tx = self._spoof(header, call, state)
        snapshot = state.snapshot()
        probe = state.costless_execute_transaction(cast(SignedTransactionAPI, tx))
        state.revert(snapshot)
        if probe.is_error:
            raise _execution_error(probe)
        return int(binary_gas_search_intrinsic_tolerance(state, cast(SignedTransactionAPI, tx)))

    def get_proof(self, account: Address, slots: Sequence[int], header: BlockHeaderAPI) -> dict[str, Any]:
        """EIP-1186 account and storage proofs against ``header.state_root``."""
        state_trie = HexaryTrie(self.db, header.state_root)
        account_key = keccak(account)
        account_proof = state_trie.get_proof(account_key)
        state = self.state_at(header)
        storage_root = _storage_root(state_trie, account_key)
        storage_trie = HexaryTrie(self.db, storage_root)
        storage = []
        for slot in slots:
            key = keccak(slot.to_bytes(32, "big"))
            storage.append({
                "key": slot,
                "value": state.get_storage(account, slot),
                "proof": _proof_nodes(storage_trie.get_proof(key)),
            })
        return {
            "address": account,
            "accountProof": _proof_nodes(account_proof),
            "balance": state.get_balance(account),
            "codeHash": state.get_code_hash(account),
            "nonce": state.get_nonce(account),
            "storageHash": storage_root,
            "storageProof": storage,
        }

    # ------------------------------------------------------------- writes
    def open_block(self, timestamp: int, sealer_key: PrivateKey, vanity: bytes = b"") -> BlockBuilder:
        """Start the next block on the head; transactions are added to it one by one."""
        parent = self.head
        sealer = Address(sealer_key.public_key.to_canonical_address())
        if sealer not in self.sealers_at(parent):
            raise BlockRejected(parent.block_number + 1, "sealer",
                                f"{encode_hex(sealer)} is not in the sealer set at block "
                                f"{parent.block_number}")
        return BlockBuilder(self, parent, timestamp, sealer_key, vanity)

    def open_unsealed_block(self, timestamp: int, coinbase: Address, extra_data: bytes) -> BlockBuilder:
        """Start the next block on the head without a seal (the CometBFT mode, ``node.abci``):
        the engine's commit certifies it, ``extra_data`` is the CometBFT block hash."""
        return BlockBuilder(self, self.head, timestamp, None, extra_data, coinbase=coinbase)

    def build_block(
        self,
        transactions: Sequence[SignedTransactionAPI],
        timestamp: int,
        sealer_key: PrivateKey,
        vanity: bytes = b"",
    ) -> BuiltBlock:
        """Build one block from ``transactions`` in order, seal it, persist it and commit.

        A transaction py-evm refuses (nonce gap, non-member, out of gas budget) is dropped and the
        block rebuilt without it, so a refused transaction can never leave half-applied state.
        """
        builder = self.open_block(timestamp, sealer_key, vanity)
        dropped: list[tuple[SignedTransactionAPI, str]] = []
        deferred: list[SignedTransactionAPI] = []
        for tx in transactions:
            if deferred:
                deferred.append(tx)
                continue
            outcome = builder.add(tx)
            if outcome == FULL:
                deferred.append(tx)
            elif outcome != INCLUDED:
                dropped.append((tx, outcome))
        if not builder.included:
            return BuiltBlock(None, (), dropped, deferred)
        sealed = builder.seal()
        return BuiltBlock(sealed.block, sealed.receipts, dropped, deferred)

    def import_block(self, block: BlockAPI) -> None:
        """Verify and append a block produced elsewhere (a replica following its sealer).

        Checks, in order, each reported by name in :class:`BlockRejected`: ``parent`` (extends our
        head), ``seal`` (signed by a sealer in the set valid at the parent), ``header`` (fork rules:
        number, timestamp, gas limit, zero base fee, post-merge fields), ``sender membership`` (every
        sender an active member at its transaction), then re-execution: ``transaction root``,
        ``receipt root``, ``state root``, ``gas used``, ``logs bloom`` and every other header field
        must equal what this node computes.
        """
        number = block.header.block_number
        parent = self.head
        if block.header.parent_hash != parent.hash or number != parent.block_number + 1:
            raise BlockRejected(number, "parent",
                                f"does not extend head {parent.block_number} {encode_hex(parent.hash)}")
        try:
            signer = recover_sealer(block.header)
        except ValidationError as exc:
            raise BlockRejected(number, "seal", str(exc)) from exc
        sealers = self.sealers_at(parent)
        if signer not in sealers:
            raise BlockRejected(number, "seal",
                                f"sealed by {encode_hex(signer)}, not a sealer at block "
                                f"{parent.block_number} ({', '.join(encode_hex(s) for s in sealers)})")
        try:
            self.vm_class.validate_header(block.header, parent)
        except ValidationError as exc:
            raise BlockRejected(number, "header", str(exc)) from exc
        try:
            base = self.vm_class.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
            vm = self.chain_class(self.db).get_vm(base)
            result = vm.import_block(block)
            computed = result.block
            mismatch = _first_header_mismatch(computed.header, block.header)
            if mismatch is not None:
                raise BlockRejected(number, *mismatch)
            self.chaindb.persist_block(block)
            # Senders were recovered (once) while the block was validated; they are stored now.
            receipts = cast(CityLedgerVM, vm).built_receipts
            for key, value in block_index_writes(block, receipts, [tx.sender for tx in block.transactions]).items():
                self.db[key] = value
            for key, value in self.log_writes(bytes(block.header.hash), number, None).items():
                self.db[key] = value
        except NonMemberSender as exc:
            self.buffer.discard()
            raise BlockRejected(number, "sender membership", str(exc)) from exc
        except ValidationError as exc:
            self.buffer.discard()
            raise BlockRejected(number, "execution", str(exc)) from exc
        except BaseException:
            self.buffer.discard()
            raise
        self.buffer.flush()


@dataclass
class _RunningHeader:
    """The header fields py-evm reads while applying one transaction of a block being built."""

    gas_limit: int
    base_fee_per_gas: int
    gas_used: int = 0
    blob_gas_used: int = 0


#: Outcomes of :meth:`BlockBuilder.add` other than a refusal's reason.
INCLUDED = "included"
FULL = "full"
_EMPTY_BLOCK_RECORD = bytes(rlp.encode([[], [], b""]))


@dataclass(frozen=True)
class SealedBlock:
    """A block sealed and committed, with what its transactions produced."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    senders: tuple[Address, ...]


class BlockBuilder:
    """The next block, built one transaction at a time and sealed when the sealer decides.

    Each transaction runs on the block's VM as it is added (py-evm's ``apply_transaction``, with
    the chain's consensus checks: membership of the sender at that point of the block, nonce,
    gas). A refused transaction is reported and the block is rebuilt from its parent with the
    transactions included so far, so a refusal can never leave half-applied state behind.
    Nothing reaches the store until :meth:`seal`.
    """

    def __init__(self, chain: LedgerChain, parent: BlockHeaderAPI, timestamp: int,
                 sealer_key: PrivateKey | None, vanity: bytes, *, coinbase: Address | None = None) -> None:
        """``sealer_key`` None builds an unsealed block (the CometBFT mode: consensus certifies
        the block, not a seal): ``vanity`` is then the whole extraData (32 bytes, the CometBFT
        block hash) and ``coinbase`` the proposer's registered address."""
        self.chain = chain
        self.parent = parent
        self.sealer_key = sealer_key
        if sealer_key is not None:
            coinbase = Address(sealer_key.public_key.to_canonical_address())
            extra_data = vanity.ljust(VANITY_BYTES, b"\0")[:VANITY_BYTES]
        else:
            extra_data = vanity
        self.header = chain.vm_class.create_header_from_parent(
            parent,
            coinbase=coinbase or ZERO_ADDRESS,
            timestamp=max(timestamp, parent.timestamp + 1),
            gas_limit=parent.gas_limit,
            extra_data=extra_data,
        )
        self.included: list[SignedTransactionAPI] = []
        self.receipts: list[ReceiptAPI] = []
        self._hashes: dict[bytes, SignedTransactionAPI] = {}
        self._start()

    def _start(self) -> None:
        self.chain.buffer.discard()
        self.vm = cast(CityLedgerVM, self.chain.chain_class(self.chain.db).get_vm(self.header))
        self.vm.block_preprocessing(self.vm.get_block())
        assert self.header.base_fee_per_gas is not None  # Prague header, base fee pinned to zero
        # py-evm threads a copied header through every transaction (two deep copies each); the
        # transaction checks and receipts only read gas used, gas limit and base fee, so a small
        # running tally stands in and the header is written once, at sealing.
        self.tally = _RunningHeader(self.header.gas_limit, self.header.base_fee_per_gas)
        self.bloom = 0

    @property
    def state(self) -> StateAPI:
        """The state after the transactions added so far (the "pending" state)."""
        return self.vm.state

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._hashes

    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        """A transaction already executed into this (unsealed) block."""
        return self._hashes.get(tx_hash)

    def add(self, tx: SignedTransactionAPI) -> str:
        """Execute ``tx`` into the block: :data:`INCLUDED`, :data:`FULL` (no gas left for it;
        nothing changed) or the reason it was refused (the block is unchanged)."""
        if self.tally.gas_used + tx.gas > self.tally.gas_limit:
            return FULL
        try:
            receipt, _computation = self.vm.apply_transaction(self.tally, tx)  # type: ignore[arg-type]
        except NonMemberSender as exc:
            self._rebuild()
            return f"sender is not an active member: {exc}"
        except ValidationError as exc:
            self._rebuild()
            return str(exc)
        self.tally.gas_used = receipt.gas_used
        self.bloom |= receipt.bloom
        self.receipts.append(receipt)
        self.included.append(tx)
        self._hashes[bytes(tx.hash)] = tx
        return INCLUDED

    def _rebuild(self) -> None:
        included = self.included
        self.included, self.receipts, self._hashes = [], [], {}
        self._start()
        for tx in included:
            if self.add(tx) != INCLUDED:  # pragma: no cover - the same transactions ran before
                raise RuntimeError("a transaction included before was refused on rebuild")

    def seal(self) -> SealedBlock:
        """Finalise the state, seal the header, persist the block and its index; one commit."""
        sealed = self.finish()
        self.chain.buffer.flush()
        return sealed

    def finish(self, extra_writes: dict[bytes, bytes] | None = None) -> SealedBlock:
        """Finalise the state, seal the header (when a sealer key is given) and write the block,
        its index and ``extra_writes`` into the chain's write buffer, without committing: the
        caller commits with ``chain.buffer.flush()`` (the CometBFT mode does at ABCI ``Commit``)
        or drops it all with ``chain.buffer.discard()``."""
        chain, vm, header = self.chain, self.vm, self.header
        try:
            # Roots, requests hash and state root are computed on a block without its transaction
            # list, which py-evm would deep-copy at every step; the full block is assembled once.
            # py-evm's final validate_block (roots recomputed) is skipped for a block built here:
            # replicas re-execute and check everything on import.
            raw_txs = [bytes(tx.encode()) for tx in self.included]
            raw_receipts = [bytes(r.encode()) for r in self.receipts]
            tx_root, tx_nodes = ordered_trie_root_and_nodes(raw_txs)
            receipt_root, receipt_nodes = ordered_trie_root_and_nodes(raw_receipts)
            chain.chaindb.persist_trie_data_dict(cast(dict[Hash32, bytes], tx_nodes))
            chain.chaindb.persist_trie_data_dict(cast(dict[Hash32, bytes], receipt_nodes))
            current = header.copy(gas_used=self.tally.gas_used, bloom=self.bloom, transaction_root=tx_root,
                                  receipt_root=receipt_root)
            chain.vm_class.validate_header(current, self.parent)
            processed = vm.block_postprocessing(vm.get_block().copy(header=current))
            finalized = vm.finalize_block(processed).block
            # Sealed header first, then the block: ``block.copy(header=...)`` would deep-copy
            # every transaction of the block once more.
            final_header = (finalized.header if self.sealer_key is None
                            else seal_header(finalized.header, self.sealer_key))
            block = chain.vm_class.get_block_class()(
                header=final_header, transactions=self.included, uncles=[], withdrawals=[])
            chain.chaindb.persist_block(block)
            senders = tuple(Address(tx.sender) for tx in self.included)
            for key, value in block_index_writes(block, self.receipts, senders, raw_txs, raw_receipts).items():
                chain.db[key] = value
            for key, value in chain.log_writes(bytes(block.header.hash), block.header.block_number, self.sealer_key).items():
                chain.db[key] = value
            for key, value in (extra_writes or {}).items():
                chain.db[key] = value
        except BaseException:
            chain.buffer.discard()
            raise
        return SealedBlock(block, tuple(self.receipts), senders)


_HEADER_CHECKS = (
    ("transaction_root", "transaction root"),
    ("receipt_root", "receipt root"),
    ("state_root", "state root"),
    ("gas_used", "gas used"),
    ("bloom", "logs bloom"),
    ("requests_hash", "requests hash"),
    ("withdrawals_root", "withdrawals root"),
    ("blob_gas_used", "blob gas used"),
)


def _first_header_mismatch(computed: BlockHeaderAPI, claimed: BlockHeaderAPI) -> tuple[str, str] | None:
    for attr, check in _HEADER_CHECKS:
        mine, theirs = getattr(computed, attr), getattr(claimed, attr)
        if mine != theirs:
            show = encode_hex(mine) if isinstance(mine, bytes) else str(mine)
            shown = encode_hex(theirs) if isinstance(theirs, bytes) else str(theirs)
            return check, f"block claims {shown}, re-execution gives {show}"
    if computed.hash != claimed.hash:
        return "header", "re-executed header differs from the block's header"
    return None


def _proof_nodes(nodes: Sequence[Any]) -> list[bytes]:
    """EIP-1186 proof list: the root node, then each node referenced by hash. Nodes shorter than
    32 bytes are embedded in their parent (Yellow Paper appendix D) and are not listed again."""
    encoded = [bytes(rlp.encode(node)) for node in nodes]
    return [node for i, node in enumerate(encoded) if i == 0 or len(node) >= 32]


def _storage_root(state_trie: HexaryTrie, account_key: bytes) -> bytes:
    encoded = state_trie.get(account_key)
    if not encoded:
        return BLANK_ROOT_HASH
    _nonce, _balance, storage_root, _code_hash = rlp.decode(encoded)
    return bytes(storage_root)


def _execution_error(computation: Any) -> Exception:
    from eth.exceptions import Revert

    error = computation.error
    if isinstance(error, Revert):
        data = bytes(computation.output)
        return ExecutionReverted(data=data, reason=decode_revert_reason(data))
    return ExecutionReverted(data=b"", reason=str(error) or type(error).__name__)


def _genesis_header_params(genesis: Genesis, state_root: bytes) -> dict[str, Any]:
    return {
        "state_root": state_root,
        "timestamp": genesis.timestamp,
        "gas_limit": genesis.gas_limit,
        "extra_data": genesis.extra_data,
        "difficulty": 0,
        "coinbase": ZERO_ADDRESS,
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
        "base_fee_per_gas": 0,
    }


def build_genesis_state(db: AtomicDB, genesis: Genesis, vm_class: type[CityLedgerVM]) -> BlockHeaderAPI:
    """Write the genesis state into ``db`` and return the genesis header (not yet persisted).

    Plain allocations are applied first; then the registry's creation code, then each further
    contract's, runs once as a CREATE message from :data:`GENESIS_DEPLOYER`, its result installed
    at the address the document names. Deterministic: the same document always gives the same
    state root.
    """
    pre = vm_class.create_genesis_header(**_genesis_header_params(genesis, BLANK_ROOT_HASH))
    state = vm_class.build_state(db, pre, ChainContext(genesis.chain_id))
    for address, acc in genesis.alloc.items():
        state.set_balance(address, acc.balance)
        state.set_nonce(address, acc.nonce)
        state.set_code(address, acc.code)
        for slot, value in acc.storage.items():
            state.set_storage(address, slot, value)
    _create_at(state, genesis, "MemberRegistry", genesis.registry.address, genesis.registry.init_code())
    for contract in genesis.contracts:
        _create_at(state, genesis, contract.name, contract.address, contract.init_code())
    state.persist()
    return vm_class.create_genesis_header(**_genesis_header_params(genesis, state.state_root))


def _create_at(state: StateAPI, genesis: Genesis, name: str, address: Address, init_code: bytes) -> None:
    """Run ``init_code`` as a CREATE message from the genesis deployer, installing at ``address``."""
    message = Message(
        gas=genesis.gas_limit, to=CREATE_CONTRACT_ADDRESS, sender=GENESIS_DEPLOYER, value=0,
        data=b"", code=init_code, create_address=address,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=GENESIS_DEPLOYER)
    computation = state.computation_class.apply_create_message(state, message, context)
    if computation.is_error:
        output = bytes(computation.output)
        reason = decode_revert_reason(output)
        raise GenesisError(
            f"{name} constructor failed at genesis: {computation.error!r}"
            + (f" ({reason})" if reason else f" (revert data {encode_hex(output)})" if output else ""))


def build_genesis_header(genesis: Genesis, vm_class: type[CityLedgerVM]) -> BlockHeaderAPI:
    """The genesis header, computed in a scratch in-memory database."""
    return build_genesis_state(AtomicDB(), genesis, vm_class)
