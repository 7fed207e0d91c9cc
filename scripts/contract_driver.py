"""Drive CityLedger's contracts in-process on the project's own chain (``node.chain.LedgerChain``).

Transactions are signed with eth_account, admitted with ``node.txpool.decode_transaction`` and
sealed with ``LedgerChain.build_block``; state is read with ``LedgerChain.call``. ABI encoding and
decoding are done offline (web3's contract object, eth_abi), so nothing here talks to a server.

Two users: the contract tests (``tests/contracts``, through ``tests/contracts/helpers.py``) and
``scripts/gas_table.py``. It imports nothing from ``tests/``. The contracts' enums are built from
the compiler's manifest (``scripts/compile.mjs`` reads them from the Solidity AST), never copied.

Also here, as the single Python reference the tests check the contracts against: the Credit batch
tree (positional Merkle tree, OpenZeppelin-style double-hashed leaves) and the restricted-entry
commitment, both as ``contracts/Credit.sol`` documents them. The gateway and the audit will write
their own.
"""

from __future__ import annotations

import os

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

import json  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from enum import IntEnum  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402

import rlp  # noqa: E402
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI  # noqa: E402
from eth.vm.message import Message  # noqa: E402
from eth_abi import decode as abi_decode  # noqa: E402
from eth_abi import encode as abi_encode  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_account.messages import encode_typed_data  # noqa: E402
from eth_keys.datatypes import PrivateKey  # noqa: E402
from eth_typing import Address  # noqa: E402
from eth_utils import keccak, to_canonical_address, to_checksum_address  # noqa: E402
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, get_abi_output_types  # noqa: E402
from web3 import Web3  # noqa: E402

from node.chain import BuiltBlock, LedgerChain  # noqa: E402
from node.errors import ExecutionReverted  # noqa: E402
from node.genesis import load_genesis  # noqa: E402
from node.kv import MemoryKV  # noqa: E402
from node.txpool import decode_transaction  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "contracts" / "artifacts"

#: Generous for every call the drivers make; the dev block gas limit is 500M.
TX_GAS = 5_000_000
ZERO32 = b"\0" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


# ------------------------------------------------------------------------------------ artifacts
def artifact(name: str) -> dict[str, Any]:
    """``contracts/artifacts/<name>.json``: ABI, bytecode, storage layout."""
    return json.loads((ARTIFACTS / f"{name}.json").read_text())  # type: ignore[no-any-return]


@cache
def manifest() -> dict[str, Any]:
    return json.loads((ARTIFACTS / "manifest.json").read_text())  # type: ignore[no-any-return]


def contract_enum(qualified_name: str) -> type[IntEnum]:
    """The contract enum ``"Contract.Enum"`` as a Python ``IntEnum`` with the same names and values,
    built from the member names ``scripts/compile.mjs`` wrote into the manifest. Solidity's ``None``
    (a reserved word in Python) is spelled ``NONE``."""
    names = manifest()["enums"][qualified_name]
    members = [("NONE" if n == "None" else n, value) for value, n in enumerate(names)]
    return IntEnum(qualified_name.split(".")[-1], members)  # type: ignore[return-value]


MemberKind = contract_enum("MemberRegistry.MemberKind")
Level = contract_enum("MemberRegistry.Level")
Status = contract_enum("MemberRegistry.Status")
Action = contract_enum("MemberRegistry.Action")
Classification = contract_enum("DataSharing.Classification")
RequestStatus = contract_enum("DataSharing.RequestStatus")
GrantState = contract_enum("DataSharing.GrantState")
SharingAction = contract_enum("DataSharing.Action")
TransferStatus = contract_enum("SupplyCustody.TransferStatus")
EventKind = contract_enum("SupplyCustody.EventKind")
CorrectionKind = contract_enum("SupplyCustody.CorrectionKind")
Category = contract_enum("Credit.Category")
EntryAction = contract_enum("Credit.EntryAction")
CreditAction = contract_enum("Credit.Action")


# ------------------------------------------------------------------------------------ devnets
@dataclass
class DevNet:
    """A development chain's files: ``data_dir/genesis.json`` and ``data_dir/dev-keys.json``."""

    data_dir: Path
    keys: dict[str, Any]

    @property
    def genesis_path(self) -> Path:
        return self.data_dir / "genesis.json"

    @property
    def chain_id(self) -> int:
        return int(self.keys["chainId"])

    def member(self, index: int = 0) -> dict[str, Any]:
        return self.keys["members"][index]  # type: ignore[no-any-return]

    def admin(self, index: int = 0) -> dict[str, Any]:
        return self.keys["admins"][index]  # type: ignore[no-any-return]

    @property
    def sealer_key(self) -> str:
        return str(self.keys["sealer"]["private_key"])


def make_devnet(data_dir: Path, *, seed: bytes | None = None, timestamp: int | None = None) -> DevNet:
    """Write a development genesis and its keys (``cityledger node init --dev``) into ``data_dir``."""
    from node.genesis_init import dev_genesis

    data_dir.mkdir(parents=True, exist_ok=True)
    genesis, dev_keys = dev_genesis(ARTIFACTS, timestamp=timestamp, seed=seed)
    genesis.dump(data_dir / "genesis.json")
    (data_dir / "dev-keys.json").write_text(json.dumps(dev_keys, indent=2))
    return DevNet(data_dir, dev_keys)


# ------------------------------------------------------------------------------------ ABI codec
@dataclass(frozen=True)
class Event:
    """A decoded log: event name and its arguments by name."""

    name: str
    args: dict[str, Any]


def _checksummed(param: dict[str, Any], value: Any) -> Any:
    """eth_abi decodes addresses in lower case; the drivers compare checksummed addresses."""
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
    """Offline ABI codec for one contract: calldata, return values, events and custom errors
    (struct arguments included)."""

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
                signature = f"{e['name']}({','.join(collapse_if_tuple(i) for i in e['inputs'])})"
                self._errors[keccak(text=signature)[:4]] = e

    def encode(self, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(self.contract.encode_abi(fn, args=list(args))[2:])

    def decode_output(self, fn: str, output: bytes, arity: int | None = None) -> Any:
        """Return values of ``fn``; ``arity`` (input count) picks one of overloaded functions."""
        (fn_abi,) = [e for e in self.abi if e.get("type") == "function" and e["name"] == fn
                     and (arity is None or len(e["inputs"]) == arity)]
        values = abi_decode(get_abi_output_types(fn_abi), output)  # type: ignore[arg-type]
        values = tuple(_checksummed(p, v) for p, v in zip(fn_abi["outputs"], values, strict=True))
        return values[0] if len(values) == 1 else values

    def decode_error(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """A custom error's name and arguments; KeyError for revert data that is not one of ours."""
        error = self._errors[bytes(data[:4])]
        values = abi_decode([collapse_if_tuple(i) for i in error["inputs"]], data[4:])
        return error["name"], tuple(_checksummed(p, v) for p, v in zip(error["inputs"], values, strict=True))

    def decode_log(self, topics: Sequence[int], data: bytes) -> Event:
        topic0, *indexed_topics = topics
        event = self._events[topic0]
        indexed = [i for i in event["inputs"] if i["indexed"]]
        plain = [i for i in event["inputs"] if not i["indexed"]]
        args: dict[str, Any] = {}
        for param, topic in zip(indexed, indexed_topics, strict=True):
            (value,) = abi_decode([param["type"]], topic.to_bytes(32, "big"))
            args[param["name"]] = _checksummed(param, value)
        values = abi_decode([collapse_if_tuple(p) for p in plain], bytes(data))
        args.update({p["name"]: _checksummed(p, v) for p, v in zip(plain, values, strict=True)})
        return Event(event["name"], {i["name"]: args[i["name"]] for i in event["inputs"]})

    def decode_logs(self, receipt: ReceiptAPI, address: bytes) -> list[Event]:
        """The receipt's logs emitted by ``address``, decoded in order."""
        return [self.decode_log(log.topics, log.data) for log in receipt.logs if bytes(log.address) == address]


REGISTRY = ContractAbi(artifact("MemberRegistry")["abi"])
DATA = ContractAbi(artifact("DataSharing")["abi"])
CUSTODY = ContractAbi(artifact("SupplyCustody")["abi"])
CREDIT = ContractAbi(artifact("Credit")["abi"])
RECORDER = ContractAbi(artifact("Recorder")["abi"])


def payload(types: Sequence[str], *values: Any) -> bytes:
    """A proposal payload: ``abi.encode`` of exactly the action's types (see each contract's NatSpec)."""
    return abi_encode(list(types), list(values))


def contract_address(creator: bytes, nonce: int) -> bytes:
    """Address of a contract created by ``creator`` at ``nonce`` (Yellow Paper eq. 85)."""
    return keccak(rlp.encode([creator, nonce]))[12:]


# ------------------------------------------------------------------------------------ chain
@dataclass(frozen=True)
class Signer:
    """A key pair to sign with."""

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
    def timestamp(self) -> int:
        return int(sealed(self.built).header.timestamp)

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
        # MemoryKV is the in-memory key-value store meant for tests; the chain code above it
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

    def seal(self, txs: Sequence[SignedTransactionAPI] = (), sealer_key: PrivateKey | None = None,
             at: int | None = None) -> BuiltBlock:
        """Seal a block of ``txs`` with block time ``at`` (default: one second after the head).

        The clock is injected: block time is the caller's to set, never wall time."""
        self._next_nonce.clear()
        timestamp = int(self.chain.head.timestamp) + 1 if at is None else at
        assert timestamp > self.chain.head.timestamp, "block time must move forward"
        return self.chain.build_block(list(txs), timestamp, sealer_key or self.sealer_key)

    def send(self, signer: Signer, to: bytes | None, data: bytes, abi: ContractAbi = REGISTRY,
             at: int | None = None) -> Sent:
        """Seal a block holding this one transaction."""
        tx = self.sign(signer, to, data)
        built = self.seal([tx], at=at)
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

    def deploy(self, deployer: Signer, name: str, types: Sequence[str] = (), values: Sequence[Any] = ()) -> Address:
        """Deploy artifact ``name`` with constructor arguments; returns its address."""
        nonce = self.nonce(deployer)
        init = bytes.fromhex(artifact(name)["bytecode"][2:]) + abi_encode(list(types), list(values))
        sent = self.send(deployer, None, init)
        assert sent.status == 1, f"{name} deployment failed"
        address = Address(contract_address(deployer.canonical, nonce))
        assert self.chain.state_at(self.chain.head).get_code(address), f"no code at {name}"
        return address

    # ----------------------------------------------------------------- reads
    def header(self, number: int | None = None) -> BlockHeaderAPI:
        if number is None:
            return self.chain.head
        header = self.chain.header_by_number(number)
        assert header is not None, f"no block {number}"
        return header

    def now(self) -> int:
        return int(self.chain.head.timestamp)

    def execute(self, origin: Address | None, to: bytes, data: bytes, at: int | None = None) -> bytes:
        """Run a message against the state after block ``at`` (head by default), in that block's
        context (number, timestamp): what a transaction at the end of that block would see.
        Raises ExecutionReverted with the revert data."""
        header = self.header(at)
        state = self.chain.state_at(header)
        sender = origin or Address(b"\0" * 20)
        message = Message(gas=TX_GAS, to=Address(to), sender=sender, value=0, data=data,
                          code=state.get_code(Address(to)))
        context = state.get_transaction_context_class()(gas_price=0, origin=sender)
        computation = state.computation_class.apply_computation(state, message, context)
        if computation.is_error:
            raise ExecutionReverted(bytes(computation.output))
        return bytes(computation.output)

    def view(self, fn: str, *args: Any, at: int | None = None, abi: ContractAbi = REGISTRY,
             to: bytes | None = None) -> Any:
        """``eth_call`` of a view on the state after block ``at`` (head by default)."""
        output = self.chain.call({"to": to or self.registry, "data": abi.encode(fn, *args)},
                                 self.header(at))
        return abi.decode_output(fn, output)

    def member(self, member_id: int, at: int | None = None) -> MemberView:
        return MemberView(*self.view("getMember", member_id, at=at))

    def proposal(self, proposal_id: int, to: bytes | None = None, abi: ContractAbi = REGISTRY) -> ProposalView:
        return ProposalView(*self.view("getProposal", proposal_id, to=to, abi=abi))

    def member_id(self, signer: Signer) -> int:
        """The id genesis gave the member holding ``signer`` (ids are 1.. in document order)."""
        for index, member in enumerate(self.chain.genesis.registry.members, start=1):
            if signer.canonical in member.accounts:
                return index
        raise KeyError(signer.address)

    def revert_of(self, signer: Signer | None, fn: str, *args: Any, to: bytes | None = None,
                  abi: ContractAbi = REGISTRY) -> tuple[str, tuple[Any, ...]]:
        """The custom error that ``fn(*args)`` sent by ``signer`` reverts with at the head."""
        call: dict[str, Any] = {"to": to or self.registry, "data": abi.encode(fn, *args)}
        if signer is not None:
            call["from"] = signer.canonical
        try:
            self.chain.call(call, self.chain.head)
        except ExecutionReverted as exc:
            return abi.decode_error(exc.data)
        raise AssertionError(f"{fn}{args} from {signer} did not revert")

    # ----------------------------------------------------------------- M-of-N governance
    # The same AdminApprovals base serves the registry, DataSharing and Credit: ``to``/``abi`` pick
    # the contract (the registry by default).
    def propose(self, admin: Signer, action: int, body: bytes, to: bytes | None = None,
                abi: ContractAbi = REGISTRY) -> tuple[int, Sent]:
        sent = self.send(admin, to or self.registry, abi.encode("propose", int(action), body), abi=abi)
        if sent.status != 1:
            error = self.revert_of(admin, "propose", int(action), body, to=to, abi=abi)
            raise AssertionError(f"propose of action {action} failed: {error}")
        (created,) = [e for e in sent.events if e.name == "ProposalCreated"]
        return int(created.args["proposalId"]), sent

    def approve(self, admin: Signer, proposal_id: int, to: bytes | None = None,
                abi: ContractAbi = REGISTRY) -> Sent:
        return self.send(admin, to or self.registry, abi.encode("approveProposal", proposal_id), abi=abi)

    def govern(self, action: int, body: bytes, proposer: Signer | None = None,
               approver: Signer | None = None, to: bytes | None = None,
               abi: ContractAbi = REGISTRY) -> tuple[int, list[Event]]:
        """Propose (one approval), approve (threshold 2: executes); admins 0 and 1 by default.

        Checks the generic proposal events and returns the proposal id and the action's own
        events (between ``ProposalApproved`` and ``ProposalExecuted``).
        """
        proposer, approver = proposer or self.admins[0], approver or self.admins[1]
        proposal_id, _ = self.propose(proposer, action, body, to=to, abi=abi)
        approved = self.approve(approver, proposal_id, to=to, abi=abi)
        if approved.status != 1:
            error = self.revert_of(approver, "approveProposal", proposal_id, to=to, abi=abi)
            raise AssertionError(f"approval of action {action} reverted: {error}")
        events = approved.events
        assert events[0] == Event("ProposalApproved", {
            "proposalId": proposal_id, "approverMemberId": self.member_id(approver),
            "approver": approver.address, "approvals": 2, "threshold": 2})
        assert events[-1] == Event("ProposalExecuted", {"proposalId": proposal_id, "action": int(action)})
        return proposal_id, events[1:-1]

    def refused(self, action: int, body: bytes, to: bytes | None = None,
                abi: ContractAbi = REGISTRY) -> tuple[str, tuple[Any, ...]]:
        """Propose as admin 0, then let admin 1's approval hit the execution error.

        Checks that the approving transaction reverts and leaves the proposal pending with only
        the proposer's approval, and returns the custom error the approval reverts with.
        """
        proposer, approver = self.admins[0], self.admins[1]
        proposal_id, _ = self.propose(proposer, action, body, to=to, abi=abi)
        error = self.revert_of(approver, "approveProposal", proposal_id, to=to, abi=abi)
        sent = self.approve(approver, proposal_id, to=to, abi=abi)
        assert sent.status == 0 and sent.events == [], "the approval should have reverted"
        proposal = self.proposal(proposal_id, to=to, abi=abi)
        assert (proposal.executed, proposal.approvals) == (False, 1)
        assert self.view("hasApproved", proposal_id, self.member_id(approver), to=to, abi=abi) is False
        return error


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
    """``AdminApprovals.Proposal`` as ``getProposal`` returns it."""

    proposer: str
    created_at: int
    action: int
    executed: bool
    approvals: int
    epoch: int
    proposer_member_id: int
    payload: bytes


ADMIT = ("string", "uint8", "uint8", "address[]", "bytes32")
MEMBER_AND_ACCOUNT = ("uint256", "address")


def deploy_recorder(ledger: Ledger, deployer: Signer) -> Address:
    return ledger.deploy(deployer, "Recorder")


# ==================================================================================== DataSharing
FIELDS = ("name", "age", "district", "test_result", "test_date")
SCHEMA_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
PAYLOAD_CID = "bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq"
EIP712_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "ShareRequest": [
        {"name": "datasetId", "type": "uint256"},
        {"name": "requester", "type": "address"},
        {"name": "purpose", "type": "string"},
        {"name": "legalBasis", "type": "string"},
        {"name": "fields", "type": "string[]"},
        {"name": "subjectCommitment", "type": "bytes32"},
        {"name": "validFrom", "type": "uint64"},
        {"name": "validUntil", "type": "uint64"},
        {"name": "maxAccesses", "type": "uint32"},
        {"name": "nonce", "type": "uint256"},
    ],
}


class DatasetView(NamedTuple):
    id: int
    owner_member_id: int
    classification: int
    supervisor_member_id: int
    title: str
    schema_cid: str


class RequestView(NamedTuple):
    id: int
    request: tuple[Any, ...]
    requester_member_id: int
    relayer: str
    submitted_at: int
    digest: bytes
    signature: bytes
    status: int


class GrantView(NamedTuple):
    id: int
    dataset_id: int
    status: int
    state: int
    owner_member_id: int
    requester_member_id: int
    supervisor_member_id: int
    fields: tuple[str, ...]
    valid_from: int
    valid_until: int
    max_accesses: int
    access_count: int
    cid: str
    ciphertext_hash: bytes
    plaintext_commitment: bytes
    delivered_at: int


@dataclass(frozen=True)
class ShareRequest:
    """The EIP-712 ``ShareRequest`` message, in the contract's field order."""

    dataset_id: int
    requester: str
    purpose: str
    legal_basis: str
    fields: tuple[str, ...]
    subject_commitment: bytes
    valid_from: int
    valid_until: int
    max_accesses: int
    nonce: int

    def message(self) -> dict[str, Any]:
        return {
            "datasetId": self.dataset_id, "requester": self.requester, "purpose": self.purpose,
            "legalBasis": self.legal_basis, "fields": list(self.fields),
            "subjectCommitment": self.subject_commitment, "validFrom": self.valid_from,
            "validUntil": self.valid_until, "maxAccesses": self.max_accesses, "nonce": self.nonce,
        }

    def abi(self) -> tuple[Any, ...]:
        return (self.dataset_id, self.requester, self.purpose, self.legal_basis, list(self.fields),
                self.subject_commitment, self.valid_from, self.valid_until, self.max_accesses,
                self.nonce)

    def decoded(self) -> tuple[Any, ...]:
        """The request as a view or an event decodes it (``fields`` as a tuple)."""
        return (*self.abi()[:4], tuple(self.fields), *self.abi()[5:])


def subject_commitment(salt: bytes, subjects: list[str]) -> bytes:
    """A salted commitment to the subject list; only this hash goes on chain."""
    return keccak(salt + "\n".join(sorted(subjects)).encode())


class Sharing:
    """A deployed DataSharing on an in-memory devnet, with the caller in charge of block time."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.address = ledger.deploy(ledger.admins[0], "DataSharing", ["address"], [ledger.registry])
        self.start = ledger.now()
        m = ledger.members
        self.health, self.transport, self.red_cross, self.warehouse = m[0], m[1], m[2], m[3]
        self.logistics, self.hospital, self.regulator, self.auditor = m[4], m[5], m[6], m[7]

    # ------------------------------------------------------------------ transactions
    def send(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> Sent:
        """Seal one block holding ``fn(*args)`` from ``signer`` at block time ``at`` (default:
        one second after the head)."""
        tx = self.ledger.sign(signer, self.address, DATA.encode(fn, *args), nonce=self.ledger.nonce(signer))
        built = self.ledger.seal([tx], at=at)
        sent = self.ledger.outcome(built, tx, DATA, self.address)
        assert sent.receipt is not None, f"the chain refused {fn}: {built.dropped}"
        return sent

    def ok(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> list[Event]:
        sent = self.send(signer, fn, *args, at=at)
        if sent.status != 1:
            raise AssertionError(f"{fn} reverted: {self.error(signer, fn, *args)}")
        return sent.events

    def refused(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> tuple[str, tuple[Any, ...]]:
        """Seal ``fn(*args)`` in a block; check it reverted without events and changed nothing;
        return the custom error, replayed in the context of that block."""
        before = self.storage_root()
        sent = self.send(signer, fn, *args, at=at)
        assert sent.status == 0 and sent.events == [], f"{fn}{args} should have reverted"
        # The contract's storage did not move (only the sender's nonce did), so replaying the call
        # on the sealed block's state, with its number and timestamp, hits exactly the error the
        # transaction hit.
        assert self.storage_root() == before
        return self.error(signer, fn, *args)

    def storage_root(self) -> bytes:
        proof = self.ledger.chain.get_proof(self.address, [], self.ledger.chain.head)
        return bytes(proof["storageHash"])

    def govern(self, action: int, body: bytes, **kwargs: Any) -> tuple[int, list[Event]]:
        return self.ledger.govern(action, body, to=self.address, abi=DATA, **kwargs)

    def assign_supervisor(self, dataset_id: int, supervisor_member_id: int) -> list[Event]:
        """Governance (admins 0 and 1) assigns the supervisor of a Personal dataset."""
        _, events = self.govern(SharingAction.AssignSupervisor,
                                payload(["uint256", "uint256"], dataset_id, supervisor_member_id))
        return events

    # ------------------------------------------------------------------ reads
    def execute(self, sender: Signer | None, data: bytes, at: int | None = None) -> bytes:
        return self.ledger.execute(None if sender is None else sender.canonical, self.address, data, at=at)

    def view(self, fn: str, *args: Any, at: int | None = None) -> Any:
        return DATA.decode_output(fn, self.execute(None, DATA.encode(fn, *args), at=at))

    def error(self, sender: Signer | None, fn: str, *args: Any, at: int | None = None) -> tuple[str, tuple[Any, ...]]:
        try:
            self.execute(sender, DATA.encode(fn, *args), at=at)
        except ExecutionReverted as exc:
            return DATA.decode_error(exc.data)
        raise AssertionError(f"{fn}{args} did not revert")

    def dataset(self, dataset_id: int) -> DatasetView:
        return DatasetView(*self.view("getDataset", dataset_id))

    def request(self, request_id: int) -> RequestView:
        return RequestView(*self.view("getRequest", request_id))

    def grant(self, grant_id: int, at: int | None = None) -> GrantView:
        return GrantView(*self.view("getGrant", grant_id, at=at))

    def state(self, grant_id: int) -> int:
        return GrantState(self.view("grantState", grant_id))

    def mid(self, signer: Signer) -> int:
        return self.ledger.member_id(signer)

    # ------------------------------------------------------------------ EIP-712
    @property
    def domain(self) -> dict[str, Any]:
        return {"name": "CityLedger DataSharing", "version": "1", "chainId": self.ledger.chain.chain_id,
                "verifyingContract": to_checksum_address(self.address)}

    def typed_data(self, req: ShareRequest) -> dict[str, Any]:
        return {"types": EIP712_TYPES, "primaryType": "ShareRequest", "domain": self.domain,
                "message": req.message()}

    def digest(self, req: ShareRequest) -> bytes:
        """EIP-191 version 0x01 digest as eth-account builds it."""
        signable = encode_typed_data(full_message=self.typed_data(req))
        return keccak(b"\x19" + signable.version + signable.header + signable.body)

    def sign(self, signer: Signer, req: ShareRequest) -> bytes:
        signable = encode_typed_data(full_message=self.typed_data(req))
        return bytes(Account.sign_message(signable, signer.private_key).signature)

    # ------------------------------------------------------------------ scenarios
    def register(self, owner: Signer | None = None, classification: int = Classification.Sensitive,
                 title: str = "Nucleic acid test results") -> int:
        events = self.ok(owner or self.health, "registerDataset", title, int(classification), SCHEMA_CID)
        return int(events[0].args["datasetId"])

    def new_request(self, dataset_id: int, requester: Signer | None = None, **changes: Any) -> ShareRequest:
        requester = requester or self.hospital
        base = ShareRequest(
            dataset_id=dataset_id, requester=requester.address,
            purpose="Contact tracing for ward 3 admissions",
            legal_basis="Law on the Prevention and Treatment of Infectious Diseases, art. 12",
            fields=FIELDS, subject_commitment=subject_commitment(b"salt-1", ["110101199003071234"]),
            valid_from=self.start, valid_until=self.start + 10_000, max_accesses=5, nonce=1,
        )
        return replace(base, **changes)

    def submit(self, req: ShareRequest, signer: Signer | None = None, relayer: Signer | None = None) -> int:
        signature = self.sign(signer or self.hospital, req)
        events = self.ok(relayer or self.hospital, "submitRequest", req.abi(), signature)
        return int(events[0].args["requestId"])

    def granted(self, dataset_id: int | None = None, deliver: bool = True, **changes: Any) -> int:
        """A Granted (and by default delivered) request of the hospital, approved unchanged."""
        dataset_id = dataset_id or self.register()
        req = self.new_request(dataset_id, **changes)
        request_id = self.submit(req)
        self.ok(self.health, "approve", request_id, list(req.fields), req.valid_until, req.max_accesses)
        if deliver:
            self.ok(self.health, "deliver", request_id, PAYLOAD_CID, keccak(b"ciphertext"), keccak(b"plaintext"))
        return request_id


# ==================================================================================== SupplyCustody
def b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


MASK = b32("GTIN:06901234567892")
PCS = b32("pcs")
COMMIT = keccak(b"salt-1|Acme Medical Ltd")
EXPIRY = 1_900_000_000


class LotView(NamedTuple):
    """``SupplyCustody.Lot`` as ``getLot(lotId)`` returns it."""

    original: int
    held: int
    in_transit: int
    consumed: int
    losses: int
    child_originals: int
    holder: int
    parent: int
    root: int
    pending_transfer: int
    item_code: bytes
    unit: bytes
    expiry: int
    receipt_code: bytes

    def conserved(self) -> bool:
        return self.original == (self.held + self.in_transit + self.consumed + self.losses
                                 + self.child_originals)


class IntakeView(NamedTuple):
    charity_id: int
    donor_commitment: bytes
    registered_at: int
    donor_public_name: str
    documents_cid: str


class TransferView(NamedTuple):
    lot_id: int
    parent_lot_id: int
    from_member_id: int
    to_member_id: int
    quantity: int
    received: int
    sent_at: int
    settled_at: int
    status: int


class EventView(NamedTuple):
    """``SupplyCustody.EventRecord`` as ``getEvent`` returns it."""

    kind: int
    at: int
    member_id: int
    lot_id: int
    other_lot_id: int
    transfer_id: int
    refers_to: int
    added: int
    lost: int


class Custody:
    """One SupplyCustody deployment on a Ledger, with a driver that checks conservation."""

    def __init__(self, ledger: Ledger, deployer: Signer, registry: bytes | None = None) -> None:
        self.ledger = ledger
        self.address = ledger.deploy(deployer, "SupplyCustody", ["address"], [registry or ledger.registry])

    @staticmethod
    def init_code(registry: bytes) -> bytes:
        return bytes.fromhex(artifact("SupplyCustody")["bytecode"][2:]) + abi_encode(["address"], [registry])

    # ----------------------------------------------------------------- writes
    def tx(self, signer: Signer, fn: str, *args: Any) -> SignedTransactionAPI:
        return self.ledger.sign(signer, self.address, CUSTODY.encode(fn, *args))

    def block(self, txs: Sequence[SignedTransactionAPI], at: int | None = None) -> list[Sent]:
        """Seal one block holding ``txs``; every lot must balance afterwards."""
        built = self.ledger.seal(txs, at=at)
        outcomes = [self.ledger.outcome(built, tx, CUSTODY, self.address) for tx in txs]
        self.assert_all_conserved()
        return outcomes

    def send(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> Sent:
        (sent,) = self.block([self.tx(signer, fn, *args)], at=at)
        return sent

    def ok(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> Sent:
        """Send, and require success (with the custom error in the message if not)."""
        sent = self.send(signer, fn, *args, at=at)
        if sent.status != 1:
            raise AssertionError(f"{fn}{args} reverted: {self.replayed(sent)}")
        return sent

    def refused(self, signer: Signer, fn: str, *args: Any, at: int | None = None) -> tuple[str, tuple[Any, ...]]:
        """The custom error ``fn(*args)`` from ``signer`` reverts with, checked by a sealed
        transaction that must revert without events or any state change, and replayed on the state
        before its block with its block time."""
        state = self.snapshot()
        sent = self.send(signer, fn, *args, at=at)
        assert sent.status == 0 and sent.events == [], f"{fn}{args} should have reverted"
        assert self.snapshot() == state
        error = self.replayed(sent)
        assert error is not None
        return error

    def replayed(self, sent: Sent) -> tuple[str, tuple[Any, ...]] | None:
        """The custom error of a reverted ``sent``, replayed on the state after its block in that
        block's context (its time): the contract's state did not move, so it is the same error."""
        try:
            self.ledger.execute(Address(sent.tx.sender), self.address, sent.tx.data, at=sent.number)
        except ExecutionReverted as exc:
            return CUSTODY.decode_error(exc.data)
        return None

    # ----------------------------------------------------------------- reads
    def view(self, fn: str, *args: Any, arity: int | None = None) -> Any:
        output = self.ledger.chain.call({"to": self.address, "data": CUSTODY.encode(fn, *args)},
                                        self.ledger.chain.head)
        return CUSTODY.decode_output(fn, output, arity)

    def lot(self, lot_id: int) -> LotView:
        return LotView(*self.view("getLot", lot_id))

    def intake(self, lot_id: int) -> IntakeView:
        return IntakeView(*self.view("getIntake", lot_id))

    def transfer(self, transfer_id: int) -> TransferView:
        return TransferView(*self.view("getTransfer", transfer_id))

    def event(self, event_id: int) -> EventView:
        return EventView(*self.view("getEvent", event_id))

    def counts(self) -> tuple[int, int, int]:
        return self.view("lotCount"), self.view("transferCount"), self.view("eventCount")

    def snapshot(self) -> tuple[Any, ...]:
        """Everything the contract exposes, to show that a reverted call changed nothing."""
        lots, transfers, events = self.counts()
        return ((lots, transfers, events),
                tuple(self.lot(i) for i in range(1, lots + 1)),
                tuple(self.transfer(i) for i in range(1, transfers + 1)),
                tuple((self.event(i), self.view("correctedOf", i)) for i in range(1, events + 1)))

    def assert_all_conserved(self) -> None:
        for lot_id in range(1, self.view("lotCount") + 1):
            lot = self.lot(lot_id)
            assert lot.conserved(), f"lot {lot_id} does not balance: {lot}"

    def revert_or_none(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]] | None:
        call: dict[str, Any] = {"to": self.address, "data": CUSTODY.encode(fn, *args)}
        if signer is not None:
            call["from"] = signer.canonical
        try:
            self.ledger.chain.call(call, self.ledger.chain.head)
        except ExecutionReverted as exc:
            return CUSTODY.decode_error(exc.data)
        return None

    def revert_of(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        error = self.revert_or_none(signer, fn, *args)
        assert error is not None, f"{fn}{args} from {signer} did not revert"
        return error

    def receipt_code(self, lot_id: int, commitment: bytes) -> bytes:
        """keccak256(abi.encode(block.chainid, address(this), lotId, donorCommitment))."""
        return keccak(abi_encode(["uint256", "address", "uint256", "bytes32"],
                                 [self.ledger.chain.chain_id, self.address, lot_id, commitment]))


@dataclass
class World:
    """A devnet ledger with one SupplyCustody deployed, and the dev members by role."""

    ledger: Ledger
    custody: Custody
    department: Signer
    transport: Signer
    charity: Signer
    warehouse: Signer
    logistics: Signer
    hospital: Signer
    regulator: Signer
    auditor: Signer
    admin: Signer

    @classmethod
    def build(cls, devnet: DevNet) -> World:
        ledger = Ledger(devnet)
        department, transport, charity, warehouse, logistics, hospital, regulator, auditor = ledger.members[:8]
        return cls(ledger, Custody(ledger, ledger.admins[0]), department, transport, charity, warehouse,
                   logistics, hospital, regulator, auditor, ledger.admins[0])

    def id(self, signer: Signer) -> int:
        return self.ledger.member_id(signer)

    def now(self) -> int:
        return self.ledger.now()

    def register(self, quantity: int = 1000, commitment: bytes = COMMIT, name: str = "Acme Medical Ltd",
                 documents: str = "bafy-intake", expiry: int = EXPIRY) -> int:
        sent = self.custody.ok(self.charity, "registerLot", MASK, quantity, PCS, commitment, name,
                               documents, expiry)
        (registered,) = sent.events
        return int(registered.args["lotId"])

    def send(self, sender: Signer, lot_id: int, quantity: int, receiver: Signer) -> tuple[int, int]:
        sent = self.custody.ok(sender, "transfer", lot_id, quantity, self.id(receiver))
        moved = sent.events[-1]
        assert moved.name == "TransferSent"
        return int(moved.args["transferId"]), int(moved.args["lotId"])

    def suspend(self, member: Signer) -> None:
        self.ledger.govern(Action.SuspendMember, payload(["uint256", "string"], self.id(member), "audit hold"))
        assert self.ledger.member(self.id(member)).status == Status.Suspended

    def reinstate(self, member: Signer) -> None:
        self.ledger.govern(Action.ReinstateMember, payload(["uint256"], self.id(member)))
        assert self.ledger.member(self.id(member)).status == Status.Active


# ==================================================================================== Credit
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z; value = position


def uscc_check_char(body: str) -> str:
    """Check character for the first 17 characters: weight of position i (1-based) is
    3^(i-1) mod 31; the check value is (31 - sum(value * weight) mod 31) mod 31."""
    assert len(body) == 17
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(body: str) -> str:
    return body + uscc_check_char(body)


def b18(code: str) -> bytes:
    raw = code.encode()
    assert len(raw) == 18
    return raw


SUBJECT_A = make_uscc("91330100MA2H0Q7X3")
SUBJECT_B = make_uscc("913301087450368L1")

#: ``Credit.BatchLeaf`` field types, in contract order (see "Batch leaves" in Credit.sol).
LEAF_TYPES = ["uint256", "uint8", "uint256", "bool", "bytes18", "uint8", "uint64", "uint64", "uint256",
              "bytes32", "bytes32", "bytes32", "bytes32"]


class Leaf(NamedTuple):
    """``Credit.BatchLeaf``: the thirteen values a batch leaf hashes, in contract order."""

    issuer_member_id: int
    category: int
    index_in_batch: int
    is_public: bool
    uscc: bytes = b"\0" * 18
    severity: int = 0
    effective_date: int = 0
    expiry_date: int = 0
    amount: int = 0
    summary_hash: bytes = ZERO32
    evidence_cid_hash: bytes = ZERO32
    subject_tag: bytes = ZERO32
    commitment: bytes = ZERO32


ZERO_LEAF = Leaf(0, 0, 0, False)


def leaf_hash(leaf: Leaf) -> bytes:
    """keccak256(keccak256(abi.encode(values))), OpenZeppelin StandardMerkleTree's leaf hash."""
    return keccak(keccak(abi_encode(LEAF_TYPES, list(leaf))))


def tree_depth(count: int) -> int:
    """ceil(log2(count)); 0 for a single entry."""
    return 0 if count <= 1 else (count - 1).bit_length()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node of the positional tree: keccak256 of the left child then the right one."""
    return keccak(left + right)


@dataclass
class PositionalTree:
    """Credit's batch tree: leaf i at position i of a complete tree of depth ceil(log2 n), positions
    n .. 2^depth - 1 hold 32 zero bytes, inner nodes hash (left, right) in position order."""

    levels: list[list[bytes]]  # levels[0]: the padded leaves; levels[-1]: [root]

    @classmethod
    def build(cls, hashes: Sequence[bytes]) -> PositionalTree:
        depth = tree_depth(len(hashes))
        level = list(hashes) + [ZERO32] * ((1 << depth) - len(hashes))
        levels = [level]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            levels.append(level)
        return cls(levels)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """The siblings of position ``index`` from the leaf level up."""
        return [self.levels[k][(index >> k) ^ 1] for k in range(len(self.levels) - 1)]


def process_proof(leaf: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = node_hash(node, sibling) if index & 1 == 0 else node_hash(sibling, node)
        index >>= 1
    return node


RESTRICTED_ENTRY_TYPE = (
    "RestrictedCreditEntry(bytes32 subjectTag,uint8 category,uint8 severity,uint64 effectiveDate,"
    "uint64 expiryDate,uint256 amount,bytes32 summaryHash,bytes32 evidenceCidHash,bytes32 salt)"
)


class RestrictedContent(NamedTuple):
    """``Credit.RestrictedContent``: what a restricted entry commits to, and its two salts."""

    uscc: bytes
    subject_salt: bytes
    category: int
    severity: int
    effective_date: int
    expiry_date: int
    amount: int
    summary_hash: bytes
    evidence_cid_hash: bytes
    salt: bytes


def subject_tag(uscc: bytes, subject_salt: bytes) -> bytes:
    return keccak(abi_encode(["bytes18", "bytes32"], [uscc, subject_salt]))


def restricted_commitment(c: RestrictedContent) -> tuple[bytes, bytes]:
    """(subjectTag, commitment) exactly as ``Credit.restrictedCommitment`` documents them."""
    tag = subject_tag(c.uscc, c.subject_salt)
    commitment = keccak(abi_encode(
        ["bytes32", "bytes32", "uint8", "uint8", "uint64", "uint64", "uint256", "bytes32", "bytes32", "bytes32"],
        [keccak(text=RESTRICTED_ENTRY_TYPE), tag, c.category, c.severity, c.effective_date, c.expiry_date,
         c.amount, c.summary_hash, c.evidence_cid_hash, c.salt]))
    return tag, commitment


class EntryView(NamedTuple):
    """``Credit.Entry`` as ``entry`` returns it and the entry events carry it."""

    uscc: bytes
    category: int
    severity: int
    is_public: bool
    action: int
    effective_date: int
    expiry_date: int
    issuer: str
    recorded_at: int
    issuer_member_id: int
    amount: int
    summary_hash: bytes
    subject_tag: bytes
    commitment: bytes
    refers_to: int
    refers_to_batch: int
    refers_to_index: int
    proposal_id: int
    evidence_cid: str
    reason: str


class BatchView(NamedTuple):
    """``Credit.Batch`` as ``batch`` returns it."""

    merkle_root: bytes
    entry_count: int
    category: int
    issuer: str
    anchored_at: int
    issuer_member_id: int
    batch_file_cid: str


def record(uscc: str, category: int = Category.Penalty, severity: int = 2,
           effective: int = 1_700_000_000, expiry: int = 1_800_000_000, amount: int = 5_000_000,
           summary: bytes = keccak(text="Sold expired food (summary text)"),
           cid: str = "bafkreievidence0001") -> tuple[Any, ...]:
    """A ``Credit.PublicRecord`` argument."""
    return (uscc, int(category), severity, effective, expiry, amount, summary, cid)


def entry_ref(entry_id: int) -> tuple[Any, ...]:
    """A ``Credit.EntryRef`` naming on-chain entry ``entry_id``."""
    return (entry_id, 0, [], tuple(ZERO_LEAF))


def batch_ref(batch_id: int, leaf: Leaf, proof: Sequence[bytes]) -> tuple[Any, ...]:
    """A ``Credit.EntryRef`` naming a batch entry by its leaf and proof."""
    return (0, batch_id, list(proof), tuple(leaf))


ENTRY_REF = "(uint256,uint256,bytes32[],(uint256,uint8,uint256,bool,bytes18,uint8,uint64,uint64,uint256,bytes32,bytes32,bytes32,bytes32))"
PUBLIC_RECORD = "(string,uint8,uint8,uint64,uint64,uint256,bytes32,string)"


def batch_leaves(issuer_member_id: int, count: int, category: int, salt: str = "") -> list[Leaf]:
    """``count`` public entries about distinct real-format subjects, as an issuer's batch file holds them."""
    return [
        Leaf(issuer_member_id, int(category), i, True, b18(make_uscc(f"91330100{i:09d}")), 1 + i % 3,
             1_700_000_000 + i, 0 if i % 2 else 1_800_000_000 + i, i * 100, keccak(text=f"summary {salt}{i}"),
             keccak(text=f"bafkreievidence{salt}{i}"))
        for i in range(count)
    ]


@dataclass
class CreditEnv:
    """A devnet chain with Credit deployed; the regulator is not yet authorised for anything."""

    ledger: Ledger
    credit: bytes
    admin: Signer  # consortium admin 0 (registry admin set; threshold 2 on the devnet)
    regulator: Signer  # devnet member 6, "Market Supervision Administration"
    regulator_id: int
    department: Signer  # devnet member 0, a department
    auditor: Signer  # devnet member 7

    @classmethod
    def build(cls, ledger: Ledger) -> CreditEnv:
        admin = ledger.admins[0]
        credit = ledger.deploy(admin, "Credit", ["address"], [ledger.registry])
        regulator = ledger.members[6]
        return cls(ledger, credit, admin, regulator, ledger.member_id(regulator), ledger.members[0],
                   ledger.members[7])

    def send(self, signer: Signer, fn: str, *args: Any) -> Sent:
        return self.ledger.send(signer, self.credit, CREDIT.encode(fn, *args), abi=CREDIT)

    def ok(self, signer: Signer, fn: str, *args: Any) -> Sent:
        sent = self.send(signer, fn, *args)
        if sent.status != 1:
            raise AssertionError(f"{fn} reverted: {self.revert(signer, fn, *args)}")
        return sent

    def view(self, fn: str, *args: Any) -> Any:
        return self.ledger.view(fn, *args, abi=CREDIT, to=self.credit)

    def revert(self, signer: Signer | None, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        """The custom error ``fn(*args)`` from ``signer`` reverts with at the head."""
        return self.ledger.revert_of(signer, fn, *args, to=self.credit, abi=CREDIT)

    def entry(self, entry_id: int) -> EntryView:
        return EntryView(*self.view("entry", entry_id))

    def batch(self, batch_id: int) -> BatchView:
        return BatchView(*self.view("batch", batch_id))

    def history(self, uscc: str) -> tuple[int, ...]:
        """Every id of ``entriesOf`` (one page as long as the history)."""
        ids, total = self.view("entriesOf", b18(uscc), 0, 2**64)
        assert len(ids) == total
        return tuple(ids)

    def govern(self, action: int, body: bytes, **kwargs: Any) -> tuple[int, list[Event]]:
        return self.ledger.govern(action, body, to=self.credit, abi=CREDIT, **kwargs)

    def propose(self, admin: Signer, action: int, body: bytes) -> tuple[int, Sent]:
        return self.ledger.propose(admin, action, body, to=self.credit, abi=CREDIT)

    def decide(self, member_id: int, category: int, authorized: bool) -> list[Event]:
        """Admin 0 proposes, admin 1 approves (threshold 2: executes); the action's events."""
        _, events = self.govern(CreditAction.SetIssuer, issuer_change(member_id, category, authorized))
        return events

    def authorize(self, member_id: int, category: int) -> None:
        self.decide(member_id, category, True)

    def deauthorize(self, member_id: int, category: int) -> None:
        self.decide(member_id, category, False)

    def issue(self, signer: Signer, uscc: str, **changes: Any) -> int:
        sent = self.ok(signer, "issue", record(uscc, **changes))
        return int(sent.events[0].args["entryId"])

    def anchor(self, signer: Signer, leaves: Sequence[Leaf], category: int,
               cid: str = "bafybeibatchfile0001", count: int | None = None) -> tuple[int, PositionalTree]:
        tree = PositionalTree.build([leaf_hash(leaf) for leaf in leaves])
        sent = self.ok(signer, "anchorBatch", tree.root, len(leaves) if count is None else count, int(category), cid)
        return int(sent.events[0].args["batchId"]), tree

    def verify(self, batch_id: int, proof: Sequence[bytes], leaf: Leaf) -> bool:
        return bool(self.view("verifyBatchEntry", batch_id, list(proof), tuple(leaf)))


def issuer_change(member_id: int, category: int, authorized: bool) -> bytes:
    """The payload of ``Credit.Action.SetIssuer``."""
    return payload(["uint256", "uint8", "bool"], member_id, int(category), authorized)
