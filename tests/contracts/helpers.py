"""Contracts driven in-process on the project's own chain (``node.chain.LedgerChain``).

Transactions are signed with eth_account, admitted with ``node.txpool.decode_transaction`` and
sealed with ``LedgerChain.build_block``; state is read with ``LedgerChain.call``. ABI encoding and
decoding are done offline (web3's contract object, eth_abi), so nothing here talks to a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils import keccak, to_canonical_address, to_checksum_address
from eth_utils.abi import event_abi_to_log_topic, get_abi_output_types
from web3 import Web3

from conftest import DevNet, artifact
from node.chain import BuiltBlock, LedgerChain
from node.errors import ExecutionReverted
from node.genesis import load_genesis
from node.kv import MemoryKV
from node.txpool import decode_transaction

#: Generous for every call these tests make; the dev block gas limit is 500M.
TX_GAS = 5_000_000


class Action(IntEnum):
    """``MemberRegistry.Action``, in contract order."""

    AdmitMember = 0
    SuspendMember = 1
    ReinstateMember = 2
    AddAccount = 3
    RemoveAccount = 4
    SetEncryptionKey = 5
    SetSealers = 6
    SetWitnesses = 7
    SetAdmins = 8


class MemberKind(IntEnum):
    """``MemberRegistry.MemberKind``, in contract order."""

    Department = 0
    Charity = 1
    Warehouse = 2
    Logistics = 3
    Hospital = 4
    Regulator = 5
    Auditor = 6
    Admin = 7


class Status(IntEnum):
    """``MemberRegistry.Status``."""

    NONE = 0
    Active = 1
    Suspended = 2


class MemberView(NamedTuple):
    """``MemberRegistry.MemberView`` as ``getMember`` returns it."""

    id: int
    name: str
    kind: int
    level: int
    status: int
    accounts: tuple[str, ...]
    encryption_key: bytes


class ProposalView(NamedTuple):
    """``MemberRegistry.Proposal`` as ``getProposal`` returns it."""

    proposer: str
    created_at: int
    action: int
    executed: bool
    approvals: int
    epoch: int
    payload: bytes


@dataclass(frozen=True)
class Event:
    """A decoded log: event name and its arguments by name."""

    name: str
    args: dict[str, Any]


def _checksummed(param: dict[str, Any], value: Any) -> Any:
    """eth_abi decodes addresses in lower case; tests compare checksummed addresses."""
    kind = param["type"]
    if kind.endswith("]"):
        inner = {**param, "type": kind[: kind.rindex("[")]}
        return tuple(_checksummed(inner, v) for v in value)
    if kind == "address":
        return to_checksum_address(value)
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(param["components"], value, strict=True))
    return value


class ContractAbi:
    """Offline ABI codec for one contract: calldata, return values, events and custom errors."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.abi = abi
        self.contract = Web3().eth.contract(abi=abi)
        self._events = {
            int.from_bytes(event_abi_to_log_topic(e), "big"): e  # type: ignore[arg-type]
            for e in abi if e["type"] == "event"
        }
        self._errors = {}
        for e in abi:
            if e["type"] == "error":
                signature = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
                self._errors[keccak(text=signature)[:4]] = e

    def encode(self, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(self.contract.encode_abi(fn, args=list(args))[2:])

    def decode_output(self, fn: str, output: bytes) -> Any:
        (fn_abi,) = [e for e in self.abi if e.get("type") == "function" and e["name"] == fn]
        values = abi_decode(get_abi_output_types(fn_abi), output)  # type: ignore[arg-type]
        values = tuple(_checksummed(p, v) for p, v in zip(fn_abi["outputs"], values, strict=True))
        return values[0] if len(values) == 1 else values

    def decode_error(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """A custom error's name and arguments; KeyError for revert data that is not one of ours."""
        error = self._errors[bytes(data[:4])]
        values = abi_decode([i["type"] for i in error["inputs"]], data[4:])
        return error["name"], tuple(_checksummed(p, v) for p, v in zip(error["inputs"], values, strict=True))

    def decode_logs(self, receipt: ReceiptAPI, address: bytes) -> list[Event]:
        """The receipt's logs emitted by ``address``, decoded in order."""
        out = []
        for log in receipt.logs:
            if bytes(log.address) != address:
                continue
            topic0, *indexed_topics = log.topics
            event = self._events[topic0]
            indexed = [i for i in event["inputs"] if i["indexed"]]
            plain = [i for i in event["inputs"] if not i["indexed"]]
            args: dict[str, Any] = {}
            for param, topic in zip(indexed, indexed_topics, strict=True):
                (value,) = abi_decode([param["type"]], topic.to_bytes(32, "big"))
                args[param["name"]] = _checksummed(param, value)
            values = abi_decode([p["type"] for p in plain], bytes(log.data))
            args.update({p["name"]: _checksummed(p, v) for p, v in zip(plain, values, strict=True)})
            out.append(Event(event["name"], {i["name"]: args[i["name"]] for i in event["inputs"]}))
        return out


REGISTRY = ContractAbi(artifact("MemberRegistry")["abi"])
RECORDER = ContractAbi(artifact("Recorder")["abi"])


@dataclass(frozen=True)
class Signer:
    """A key pair a test signs with."""

    private_key: str
    address: str  # checksummed, as eth_abi decodes addresses

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Signer:
        return cls(entry["private_key"], to_checksum_address(entry["address"]))

    @classmethod
    def fresh(cls, seed: str) -> Signer:
        """A deterministic key that is nobody's account until a test makes it one."""
        account = Account.from_key(keccak(text=f"cityledger test key {seed}"))
        return cls(account.key.hex(), account.address)

    @property
    def canonical(self) -> Address:
        return Address(to_canonical_address(self.address))


@dataclass
class Sent:
    """One transaction offered to one sealed block: its receipt (None if the chain refused it)."""

    built: BuiltBlock
    tx: SignedTransactionAPI
    receipt: ReceiptAPI | None
    events: list[Event] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(sealed(self.built).header.block_number)

    @property
    def status(self) -> int | None:
        """EIP-658 status (1 success, 0 revert), or None when the chain refused the transaction."""
        return None if self.receipt is None else receipt_status(self.receipt)


def sealed(built: BuiltBlock) -> BlockAPI:
    """The block ``build_block`` sealed; it seals none when every offered transaction was dropped."""
    assert built.block is not None, f"no block was sealed: {built.dropped}"
    return built.block


def receipt_status(receipt: ReceiptAPI) -> int:
    """EIP-658: after Byzantium the receipt's first field is the status byte, b"\x01" or b""."""
    return 1 if receipt.state_root == b"\x01" else 0


class Ledger:
    """A devnet chain held in memory, driven by signed transactions and sealed blocks."""

    def __init__(self, devnet: DevNet) -> None:
        # MemoryKV is the in-memory key-value store meant for unit tests; the chain code above it
        # (py-evm configuration, sealing, membership checks) is the node's own.
        self.chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
        self.devnet = devnet
        self.registry = Address(bytes(self.chain.genesis.registry.address))
        self.sealer_key = PrivateKey(bytes.fromhex(devnet.sealer_key.removeprefix("0x")))
        self._next_nonce: dict[str, int] = {}
        self.admins = [Signer.of(devnet.admin(i)) for i in range(len(devnet.keys["admins"]))]
        self.members = [Signer.of(devnet.member(i)) for i in range(len(devnet.keys["members"]))]

    # ----------------------------------------------------------------- transactions
    def sign(self, signer: Signer, to: bytes | None, data: bytes, gas: int = TX_GAS,
             nonce: int | None = None) -> SignedTransactionAPI:
        """A signed transaction, decoded and checked by the node's admission (``decode_transaction``).

        Nonces continue from the head state plus what this helper signed since the last sealed
        block, so several transactions of one sender fit in one block."""
        if nonce is None:
            nonce = self._next_nonce.get(signer.address, self.nonce(signer))
        self._next_nonce[signer.address] = nonce + 1
        tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "gasPrice": 0, "value": 0, "data": data,
                              "chainId": self.chain.chain_id}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        raw = Account.sign_transaction(tx, signer.private_key).raw_transaction
        return decode_transaction(bytes(raw), self.chain.chain_id)

    def seal(self, txs: Sequence[SignedTransactionAPI] = (),
             sealer_key: PrivateKey | None = None) -> BuiltBlock:
        self._next_nonce.clear()
        # The clock is injected: each block is one second after its parent, never wall time.
        timestamp = int(self.chain.head.timestamp) + 1
        return self.chain.build_block(list(txs), timestamp, sealer_key or self.sealer_key)

    def send(self, signer: Signer, to: bytes | None, data: bytes, abi: ContractAbi = REGISTRY) -> Sent:
        """Seal a block holding this one transaction."""
        tx = self.sign(signer, to, data)
        built = self.seal([tx])
        return self.outcome(built, tx, abi, to)

    def outcome(self, built: BuiltBlock, tx: SignedTransactionAPI, abi: ContractAbi = REGISTRY,
                to: bytes | None = None) -> Sent:
        """What became of ``tx`` in ``built`` (no block is sealed when every transaction is dropped)."""
        hashes = [] if built.block is None else [t.hash for t in built.block.transactions]
        if tx.hash not in hashes:
            return Sent(built, tx, None)
        receipt = built.receipts[hashes.index(tx.hash)]
        return Sent(built, tx, receipt, abi.decode_logs(receipt, to or self.registry))

    def nonce(self, signer: Signer) -> int:
        return int(self.chain.state_at(self.chain.head).get_nonce(signer.canonical))

    # ----------------------------------------------------------------- reads
    def header(self, number: int | None = None) -> BlockHeaderAPI:
        if number is None:
            return self.chain.head
        header = self.chain.header_by_number(number)
        assert header is not None, f"no block {number}"
        return header

    def view(self, fn: str, *args: Any, at: int | None = None, abi: ContractAbi = REGISTRY,
             to: bytes | None = None) -> Any:
        """``eth_call`` of a view on the state after block ``at`` (head by default)."""
        output = self.chain.call({"to": to or self.registry, "data": abi.encode(fn, *args)},
                                 self.header(at))
        return abi.decode_output(fn, output)

    def member(self, member_id: int, at: int | None = None) -> MemberView:
        return MemberView(*self.view("getMember", member_id, at=at))

    def proposal(self, proposal_id: int) -> ProposalView:
        return ProposalView(*self.view("getProposal", proposal_id))

    def member_id(self, signer: Signer) -> int:
        """The id genesis gave the member holding ``signer`` (ids are 1.. in document order)."""
        for index, member in enumerate(self.chain.genesis.registry.members, start=1):
            if signer.canonical in member.accounts:
                return index
        raise KeyError(signer.address)

    def revert_of(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        """The custom error that ``fn(*args)`` sent by ``signer`` reverts with at the head."""
        call: dict[str, Any] = {"to": self.registry, "data": REGISTRY.encode(fn, *args)}
        if signer is not None:
            call["from"] = signer.canonical
        try:
            self.chain.call(call, self.chain.head)
        except ExecutionReverted as exc:
            return REGISTRY.decode_error(exc.data)
        raise AssertionError(f"{fn}{args} from {signer} did not revert")

    # ----------------------------------------------------------------- governance
    def propose(self, admin: Signer, action: Action, payload: bytes) -> tuple[int, Sent]:
        sent = self.send(admin, self.registry, REGISTRY.encode("propose", int(action), payload))
        assert sent.status == 1, f"propose of {action.name} failed: {sent.built.dropped}"
        (created,) = [e for e in sent.events if e.name == "ProposalCreated"]
        return int(created.args["proposalId"]), sent

    def approve(self, admin: Signer, proposal_id: int) -> Sent:
        return self.send(admin, self.registry, REGISTRY.encode("approve", proposal_id))

    def govern(self, action: Action, payload: bytes, proposer: Signer | None = None,
               approver: Signer | None = None) -> tuple[int, list[Event]]:
        """Propose (one approval), approve (threshold 2: executes); admins 0 and 1 by default.

        Checks the generic proposal events and returns the proposal id and the action's own
        events (between ``ProposalApproved`` and ``ProposalExecuted``).
        """
        proposer, approver = proposer or self.admins[0], approver or self.admins[1]
        proposal_id, _ = self.propose(proposer, action, payload)
        approved = self.approve(approver, proposal_id)
        assert approved.status == 1, (
            f"approve of {action.name} reverted: {self.revert_of_pending(approver, proposal_id)}")
        events = approved.events
        assert events[0] == Event("ProposalApproved", {
            "proposalId": proposal_id, "approver": approver.address, "approvals": 2})
        assert events[-1] == Event("ProposalExecuted", {"proposalId": proposal_id})
        return proposal_id, events[1:-1]

    def refused(self, action: Action, payload: bytes) -> tuple[str, tuple[Any, ...]]:
        """Propose as admin 0, then let admin 1's approval hit the execution error.

        Checks that the approving transaction reverts and leaves the proposal pending with only
        the proposer's approval, and returns the custom error the approval reverts with.
        """
        proposer, approver = self.admins[0], self.admins[1]
        proposal_id, _ = self.propose(proposer, action, payload)
        error = self.revert_of(approver, "approve", proposal_id)
        sent = self.approve(approver, proposal_id)
        assert sent.status == 0 and sent.events == [], "the approval should have reverted"
        proposal = self.proposal(proposal_id)
        assert (proposal.executed, proposal.approvals) == (False, 1)
        assert self.view("hasApproved", proposal_id, approver.address) is False
        return error

    def revert_of_pending(self, admin: Signer, proposal_id: int) -> Any:
        try:
            return self.revert_of(admin, "approve", proposal_id)
        except AssertionError as exc:
            return str(exc)


def payload(types: Sequence[str], *values: Any) -> bytes:
    """A proposal payload: ``abi.encode`` of exactly the action's types (see the contract NatSpec)."""
    return abi_encode(list(types), list(values))


def contract_address(creator: bytes, nonce: int) -> bytes:
    """Address of a contract created by ``creator`` at ``nonce`` (Yellow Paper eq. 85)."""
    return keccak(rlp.encode([creator, nonce]))[12:]


def deploy_recorder(ledger: Ledger, deployer: Signer) -> bytes:
    nonce = ledger.nonce(deployer)
    sent = ledger.send(deployer, None, bytes.fromhex(artifact("Recorder")["bytecode"][2:]))
    assert sent.status == 1, "Recorder deployment failed"
    address = Address(contract_address(deployer.canonical, nonce))
    assert ledger.chain.state_at(ledger.chain.head).get_code(address), "no code at the Recorder"
    return address
