"""Proof-of-authority on py-evm's newest fork, as configuration rather than a fork of py-evm.

Each patch below is small and named:

* **seal** (Clique, EIP-225 layout): ``extraData`` = 32 bytes of vanity + a 65-byte secp256k1
  signature ``r || s || v`` (v in {0, 1}) over ``keccak256(rlp(header))`` where the header's
  ``extraData`` is the vanity alone. Every header field of the fork is covered by the signature.
  Anyone can recover the sealer with :func:`recover_sealer`.
* **zero base fee**: the EIP-1559 base fee is pinned to zero (Besu calls this "zero base fee"), so
  members send transactions with gas price zero and never need a balance.
* **membership at the transaction**: before each transaction executes, the sender must be an
  active member according to the member registry's state *at that point of the block*. A block
  carrying a non-member's transaction is invalid, for the sealer and for every replica alike.
* **one-pass ordered tries**: transaction, receipt and withdrawal roots are computed by
  ``node.ordered_trie`` (same result as py-evm's insert-one-at-a-time trie, several times faster):
  :meth:`CityLedgerVM.set_block_transactions_and_withdrawals` and
  :meth:`CityLedgerVM.validate_block` are py-evm's methods with that one call replaced.
* **validate once**: a transaction admitted by this node's pool had its signature and fields
  validated there; :func:`mark_validated` stops py-evm from validating it again while the block
  is built. Blocks imported from elsewhere are always validated in full.
* **batched storage tries**: a block's storage writes reach each contract's storage trie in one
  pass (``node.storage_trie``) rather than one insert per slot; storage reads walk the trie
  through a cache of decoded nodes (:class:`CityLedgerState`).
* **jump destinations analysed once per contract**: py-evm analyses which code positions are
  valid ``JUMPDEST`` targets (Yellow Paper section 9.4.3) afresh in every call frame; the analysis
  depends only on the code, so :class:`CityLedgerComputation` shares it per code.
* **zero-fee no-op writes skipped**: gas fees, refunds and tips are all zero here; py-evm still
  rewrites the payer's and coinbase's accounts for each delta of 0
  (:meth:`CityLedgerState.delta_balance`).
* **receipts not re-checked against their own bloom** (:meth:`CityLedgerVM.validate_receipt`).
* **no deposit contract**: a permissioned chain has no beacon-chain deposit contract; Prague's
  scan of every receipt for deposit logs is skipped (EIP-6110 requests list stays empty).

Difficulty, nonce and ommers keep their post-merge values (0, 0, empty), as the fork requires.

Every patch is a subclass or an override on the classes below, which ``node.chain.LedgerChain``
configures for its chain; nothing here rebinds a py-evm module function, so importing this module
changes nothing in py-evm for anyone else. Roots stay identical to py-evm's: the equivalence tests
in ``tests/node/test_consensus.py``, ``test_storage_trie.py`` and ``test_ordered_trie.py`` build
the same blocks with stock py-evm and compare.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
    WithdrawalAPI,
)
from eth.vm.code_stream import CodeStream
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.constants import DEPOSIT_REQUEST_TYPE
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth.validation import validate_gas_limit
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.datatypes import PrivateKey
from eth_keys.exceptions import BadSignature
from eth_typing import Address, Hash32
from eth_utils import ValidationError, encode_hex, get_extended_debug_logger

from node.ordered_trie import make_trie_root_and_nodes
from node.storage_trie import BatchedAccountDB

VANITY_BYTES = 32
SEAL_BYTES = 65


class NonMemberSender(ValidationError):
    """Raised (as py-evm's ValidationError) when a transaction's sender is not an active member."""

    def __init__(self, sender: Address) -> None:
        super().__init__(f"sender {encode_hex(sender)} is not an active member")
        self.sender = sender


@functools.lru_cache(maxsize=65_536)
def active_account_slot(account: Address, base_slot: int) -> int:
    """Storage slot of ``active[account]`` in the registry's ERC-7201 namespace (Solidity mapping
    layout: ``keccak256(pad32(key) ++ pad32(slot))``). Cached: checked for every transaction."""
    return int.from_bytes(keccak(account.rjust(32, b"\0") + base_slot.to_bytes(32, "big")), "big")


def erc7201_slot(namespace: str) -> int:
    """ERC-7201 root slot: ``keccak256(uint256(keccak256(id)) - 1) & ~0xff``."""
    inner = int.from_bytes(keccak(namespace.encode()), "big") - 1
    return int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF


#: ``cityledger.MemberRegistry.activeAccounts`` — see contracts/MemberRegistry.sol.
ACTIVE_ACCOUNTS_SLOT = erc7201_slot("cityledger.MemberRegistry.activeAccounts")


def is_active_member(state: StateAPI, registry: Address, account: Address) -> bool:
    """Read the registry's ``active[account]`` flag from ``state`` (one storage read)."""
    return state.get_storage(registry, active_account_slot(account, ACTIVE_ACCOUNTS_SLOT)) == 1


def seal_hash(header: BlockHeaderAPI) -> bytes:
    """The hash a sealer signs: the header with its extraData cut back to the vanity."""
    if len(header.extra_data) < VANITY_BYTES + SEAL_BYTES:
        raise ValidationError(
            f"extraData is {len(header.extra_data)} bytes; a sealed header carries "
            f"{VANITY_BYTES} bytes of vanity and a {SEAL_BYTES}-byte seal")
    unsealed = header.copy(extra_data=header.extra_data[:-SEAL_BYTES])
    return keccak(rlp.encode(unsealed))


def unsealed_hash(header: BlockHeaderAPI) -> bytes:
    """The hash to sign for a header whose extraData is still just the vanity."""
    return keccak(rlp.encode(header))


def seal_header(header: BlockHeaderAPI, key: PrivateKey) -> BlockHeaderAPI:
    """Sign ``header`` (extraData = vanity only) and return the sealed copy."""
    if len(header.extra_data) != VANITY_BYTES:
        raise ValueError(f"unsealed extraData must be exactly {VANITY_BYTES} bytes of vanity")
    signature = key.sign_msg_hash(unsealed_hash(header))
    return header.copy(extra_data=header.extra_data + signature.to_bytes())


def recover_sealer(header: BlockHeaderAPI) -> Address:
    """Recover the address that sealed ``header``; ValidationError if the seal is malformed."""
    digest = seal_hash(header)
    raw = header.extra_data[-SEAL_BYTES:]
    try:
        signature = keys.Signature(raw)
        return Address(signature.recover_public_key_from_msg_hash(digest).to_canonical_address())
    except (BadSignature, ValueError) as exc:
        raise ValidationError(f"seal signature is malformed: {exc}") from exc


def _validated_already() -> None:
    """Stands in for ``transaction.validate()`` on transactions the pool validated."""


def mark_validated(transaction: SignedTransactionAPI) -> None:
    """Record that ``transaction`` passed the pool's checks (``validate()``: signature, fields and
    intrinsic gas; plus the EIP-2 low-s rule, which py-evm's ``validate()`` checks only for legacy
    transactions and the pool checks for all).

    The marker lives on the decoded object only (an instance attribute shadowing the method), so
    the same transaction decoded from a block elsewhere is validated again in full.
    """
    transaction.__dict__["validate"] = _validated_already


_prague_header_from_parent: Callable[..., BlockHeaderAPI] = create_prague_header_from_parent()


def create_zero_fee_header_from_parent(
    parent_header: BlockHeaderAPI | None, **header_params: Any
) -> BlockHeaderAPI:
    """Prague header creation with the base fee pinned to zero."""
    header_params.pop("base_fee_per_gas", None)
    if parent_header is not None and "gas_limit" not in header_params:
        header_params["gas_limit"] = parent_header.gas_limit
    header = _prague_header_from_parent(parent_header, **header_params)
    return header if header.base_fee_per_gas == 0 else header.copy(base_fee_per_gas=0)


#: Jump-destination analysis per contract code: (valid positions, invalid positions). Bounded.
_JUMPDESTS: dict[bytes, tuple[set[int], set[int]]] = {}
_JUMPDESTS_LIMIT = 1_024


class CityLedgerComputation(PragueComputation):
    """Prague computation whose code stream shares its jump-destination analysis per code.

    py-evm's ``CodeStream`` fills ``valid_positions`` / ``invalid_positions`` lazily as jumps
    are checked; both depend only on the code bytes, so every frame running the same code can
    share the same two sets."""

    def __init__(self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI) -> None:
        super().__init__(state, message, transaction_context)
        code = message.code
        analysis = _JUMPDESTS.get(code)
        if analysis is None:
            if len(_JUMPDESTS) >= _JUMPDESTS_LIMIT:
                _JUMPDESTS.clear()
            analysis = _JUMPDESTS[code] = (set(), set())
        stream = cast(CodeStream, self.code)
        stream.valid_positions, stream.invalid_positions = analysis


class CityLedgerState(PragueState):
    """Prague state whose contract storage tries are updated a block at a time and read through
    a decoded-node cache (``node.storage_trie``; same roots as py-evm), running
    :class:`CityLedgerComputation`."""

    account_db_class = BatchedAccountDB
    computation_class = CityLedgerComputation
    # py-evm looks the logger up by name on every access (a property); once is enough.
    logger = get_extended_debug_logger("eth.vm.state.CityLedgerState")

    def delta_balance(self, address: Address, delta: int) -> None:
        """Zero-fee chains pay every gas fee and refund as a delta of 0; py-evm still rewrites
        (and re-encodes) the account for it. A zero delta changes no balance; the EIP-161
        "touch" of the coinbase does not depend on it (py-evm's ``collect_touched_accounts``
        always yields the coinbase), so the state root is unchanged."""
        if delta:
            super().delta_balance(address, delta)


class CityLedgerVM(PragueVM):
    """PragueVM with the patches described in this module's docstring.

    Configure one per chain with ``CityLedgerVM.configure(registry_address=...)``.
    """

    fork = "cityledger-prague"
    _state_class = CityLedgerState
    extra_data_max_bytes: ClassVar[int] = VANITY_BYTES + SEAL_BYTES
    registry_address: Address = Address(b"\0" * 20)
    #: The receipts of the last block this VM assembled (imports index them).
    built_receipts: tuple[ReceiptAPI, ...] = ()

    create_header_from_parent = staticmethod(create_zero_fee_header_from_parent)

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        validate_gas_limit(header.gas_limit, parent_header.gas_limit)
        if header.base_fee_per_gas != 0:
            raise ValidationError(
                f"base fee is pinned to zero on this chain, header has {header.base_fee_per_gas}")

    def apply_transaction(
        self, header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> tuple[ReceiptAPI, ComputationAPI]:
        if not is_active_member(self.state, self.registry_address, transaction.sender):
            raise NonMemberSender(transaction.sender)
        return super().apply_transaction(header, transaction)

    def process_deposit_request_data(self, block: BlockAPI) -> None:
        block.block_requests.append(DEPOSIT_REQUEST_TYPE)

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        """py-evm's method (``eth.vm.base.VM``) with the one-pass ordered trie. Keeps the
        receipts (:attr:`built_receipts`) for the chain's index."""
        self.built_receipts = tuple(receipts)
        tx_root, tx_nodes = make_trie_root_and_nodes(transactions)
        self.chaindb.persist_trie_data_dict(cast(dict[Hash32, bytes], tx_nodes))
        receipt_root, receipt_nodes = make_trie_root_and_nodes(receipts)
        self.chaindb.persist_trie_data_dict(cast(dict[Hash32, bytes], receipt_nodes))
        block_fields: dict[str, Any] = {"transactions": transactions}
        header_fields: dict[str, Any] = {"transaction_root": tx_root, "receipt_root": receipt_root}
        if withdrawals:
            withdrawals_root, withdrawal_nodes = make_trie_root_and_nodes(withdrawals)
            self.chaindb.persist_trie_data_dict(cast(dict[Hash32, bytes], withdrawal_nodes))
            block_fields["withdrawals"] = withdrawals
            header_fields["withdrawals_root"] = withdrawals_root
        block_fields["header"] = new_header.copy(**header_fields)
        return base_block.copy(**block_fields)

    def validate_block(self, block: BlockAPI) -> None:
        """py-evm's checks (``eth.vm.base.VM.validate_block``) with the one-pass ordered trie for
        the transaction root. Blocks here are never genesis and carry no uncles (post-merge)."""
        if not isinstance(block, self.get_block_class()):
            raise ValidationError(f"This vm ({self!r}) cannot validate a block of type {block!r}")
        parent_header = self.chaindb.get_block_header_by_hash(block.header.parent_hash)
        self.validate_header(block.header, parent_header)
        tx_root, _ = make_trie_root_and_nodes(block.transactions)
        if tx_root != block.header.transaction_root:
            raise ValidationError(
                f"Block's transaction_root ({block.header.transaction_root!r}) does not match "
                f"expected value: {tx_root!r}")
        if block.uncles:
            raise ValidationError(f"Blocks after the merge carry no uncles; found {len(block.uncles)}")
        if not self.chaindb.exists(block.header.state_root) and \
                self.state.make_state_root() != block.header.state_root:
            raise ValidationError(f"`state_root` does not match: {block.header.state_root!r}")
        if keccak(rlp.encode(block.uncles)) != block.header.uncles_hash:
            raise ValidationError("`uncles_hash` and block `uncles` do not match")
        self.validate_block_blobs(block)

    @classmethod
    def validate_receipt(cls, receipt: ReceiptAPI) -> None:
        """Skipped: py-evm checks that a receipt's bloom holds its logs' addresses and topics, but
        every receipt checked here was just made by this VM, which derives the bloom from those
        very logs (Yellow Paper section 4.3.1); a block's bloom is still compared on import."""
