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
  ``node.ordered_trie`` (same result as py-evm's insert-one-at-a-time trie, several times faster).
* **validate once**: a transaction admitted by this node's pool had its signature and fields
  validated there; :func:`mark_validated` stops py-evm from validating it again while the block
  is built. Blocks imported from elsewhere are always validated in full.
* **batched storage tries**: a block's storage writes reach each contract's storage trie in one
  pass (``node.storage_trie``) rather than one insert per slot.
* **no deposit contract**: a permissioned chain has no beacon-chain deposit contract; Prague's
  scan of every receipt for deposit logs is skipped (EIP-6110 requests list stays empty).

Difficulty, nonce and ommers keep their post-merge values (0, 0, empty), as the fork requires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.constants import DEPOSIT_REQUEST_TYPE
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth.validation import validate_gas_limit
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.datatypes import PrivateKey
from eth_keys.exceptions import BadSignature
from eth_typing import Address
from eth_utils import ValidationError, encode_hex

from node.storage_trie import BatchedAccountDB

VANITY_BYTES = 32
SEAL_BYTES = 65


class NonMemberSender(ValidationError):
    """Raised (as py-evm's ValidationError) when a transaction's sender is not an active member."""

    def __init__(self, sender: Address) -> None:
        super().__init__(f"sender {encode_hex(sender)} is not an active member")
        self.sender = sender


def active_account_slot(account: Address, base_slot: int) -> int:
    """Storage slot of ``active[account]`` in the registry's ERC-7201 namespace (Solidity mapping
    layout: ``keccak256(pad32(key) ++ pad32(slot))``)."""
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


def install_fast_ordered_trie() -> None:
    """Use :mod:`node.ordered_trie` wherever py-evm's VM builds or checks block tries."""
    import eth.vm.base

    from node import ordered_trie

    eth.vm.base.make_trie_root_and_nodes = ordered_trie.make_trie_root_and_nodes  # type: ignore[assignment]


install_fast_ordered_trie()

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


class CityLedgerState(PragueState):
    """Prague state whose contract storage tries are updated a block at a time
    (``node.storage_trie``; same roots as py-evm's slot-at-a-time updates)."""

    account_db_class = BatchedAccountDB


class CityLedgerVM(PragueVM):
    """PragueVM with the patches described in this module's docstring.

    Configure one per chain with ``CityLedgerVM.configure(registry_address=...)``.
    """

    fork = "cityledger-prague"
    _state_class = CityLedgerState
    extra_data_max_bytes: ClassVar[int] = VANITY_BYTES + SEAL_BYTES
    registry_address: Address = Address(b"\0" * 20)

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
