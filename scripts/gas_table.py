"""Gas used by each contract operation on CityLedger's own chain, as a Markdown table.

Every operation runs in-process on a fresh development chain (``node.chain.LedgerChain`` over the
in-memory key-value store, the chain the contract tests use), as the only transaction of its block,
so the receipt's cumulative ``gasUsed`` is that transaction's own gas (21,000 intrinsic and calldata
included). An operation that reverts or that the chain refuses aborts the run: no number is printed
for it.

    scripts/gas-table            # print the table and write it into contracts/README.md
    scripts/gas-table --check    # exit 1 if contracts/README.md does not hold what a fresh run gives

The table goes between ``<!-- gas-table:start -->`` and ``<!-- gas-table:end -->`` in
contracts/README.md. Gas is deterministic on our chain (see ``seeded_dev_genesis``), so the test
suite runs ``--check`` and a contract change that moves gas fails until the table is regenerated.
"""

from __future__ import annotations

import os

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

import argparse  # noqa: E402
import difflib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The contracts are driven by scripts/contract_driver.py, the module the contract tests use too;
# nothing is imported from tests/.
sys.path.insert(0, str(ROOT))

from eth_utils import keccak  # noqa: E402

from scripts.contract_driver import (  # noqa: E402
    ADMIT,
    COMMIT,
    CREDIT,
    CUSTODY,
    DATA,
    ENTRY_REF,
    EXPIRY,
    MASK,
    MEMBER_AND_ACCOUNT,
    PAYLOAD_CID,
    PCS,
    RECORDER,
    REGISTRY,
    SCHEMA_CID,
    SUBJECT_A,
    Action,
    Category,
    Classification,
    ContractAbi,
    CorrectionKind,
    CreditAction,
    CreditEnv,
    DevNet,
    Ledger,
    MemberKind,
    PositionalTree,
    RestrictedContent,
    Sent,
    Sharing,
    SharingAction,
    Signer,
    World,
    b18,
    batch_leaves,
    batch_ref,
    deploy_recorder,
    entry_ref,
    issuer_change,
    leaf_hash,
    make_devnet,
    payload,
    record,
    restricted_commitment,
)
from node.errors import ExecutionReverted  # noqa: E402
from node.genesis import LEVELS  # noqa: E402

README = ROOT / "contracts" / "README.md"
MANIFEST = ROOT / "contracts" / "artifacts" / "manifest.json"
START, END = "<!-- gas-table:start -->", "<!-- gas-table:end -->"

#: Genesis time of the measuring chain (2025-01-01T00:00:00Z); every block is one second later.
GENESIS_TIME = 1_735_689_600
BATCH_SIZE = 10_000


class GasTableError(Exception):
    """Raised when an operation does not yield a gas figure (refused, reverted, not alone in its block)."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"{operation}: {reason}")
        self.operation = operation
        self.reason = reason


@dataclass(frozen=True)
class Row:
    contract: str
    operation: str
    gas: int


# ------------------------------------------------------------------------------------ measuring
def revert_reason(ledger: Ledger, sent: Sent, abi: ContractAbi) -> str:
    """The custom error of a reverted transaction, replayed on the state before its block."""
    tx = sent.tx
    call = {"from": tx.sender, "to": tx.to, "data": tx.data}
    try:
        ledger.chain.call(call, ledger.header(sent.number - 1))
    except ExecutionReverted as exc:
        try:
            name, args = abi.decode_error(exc.data)
        except KeyError:
            return f"revert data 0x{bytes(exc.data).hex()}"
        return f"{name}{args}"
    return "no revert when replayed on the parent block"


def gas_of(ledger: Ledger, sent: Sent, abi: ContractAbi, operation: str) -> int:
    """``gasUsed`` of a successful transaction that is alone in its block; GasTableError otherwise."""
    if sent.receipt is None:
        raise GasTableError(operation, f"the chain refused the transaction: {sent.built.dropped}")
    if sent.status != 1:
        raise GasTableError(operation, f"reverted (receipt status 0): {revert_reason(ledger, sent, abi)}")
    block = sent.built.block
    if block is None or len(block.transactions) != 1:
        raise GasTableError(operation, "not the only transaction of its block; its gas would be cumulative")
    return int(sent.receipt.gas_used)


class Table:
    """Rows of one contract, measured on one ledger."""

    def __init__(self, contract: str, ledger: Ledger, abi: ContractAbi) -> None:
        self.contract, self.ledger, self.abi = contract, ledger, abi
        self.rows: list[Row] = []

    def measure(self, operation: str, sent: Sent) -> Sent:
        self.rows.append(Row(self.contract, operation, gas_of(self.ledger, sent, self.abi, operation)))
        return sent


def arg(sent: Sent, event: str, name: str) -> int:
    """Argument ``name`` of the (single) ``event`` the transaction emitted."""
    (found,) = [e for e in sent.events if e.name == event]
    return int(found.args[name])


# ------------------------------------------------------------------------------------ operations
def member_registry(devnet: DevNet) -> list[Row]:
    ledger = Ledger(devnet)
    proposer, approver = ledger.admins[0], ledger.admins[1]  # threshold 2 on the devnet
    t = Table("MemberRegistry", ledger, REGISTRY)

    def executing_approval(operation: str, action: int, body: bytes) -> Sent:
        proposal_id, _ = ledger.propose(proposer, action, body)
        sent = t.measure(operation, ledger.approve(approver, proposal_id))
        if not any(e.name == "ProposalExecuted" for e in sent.events):
            raise GasTableError(operation, "the approval did not execute the proposal")
        return sent

    account, second = Signer.fresh("gas table member"), Signer.fresh("gas table second key")
    admit = payload(ADMIT, "District 3 Food Bank", int(MemberKind.Charity), LEVELS.index("street"),
                    [account.address], keccak(text="x25519 public key of the food bank"))
    proposed = t.measure("propose AdmitMember (with the proposer's approval)",
                         ledger.send(proposer, ledger.registry, REGISTRY.encode("propose", int(Action.AdmitMember), admit)))
    admitted = t.measure("approveProposal AdmitMember (second approval, executes)",
                         ledger.approve(approver, arg(proposed, "ProposalCreated", "proposalId")))
    if not any(e.name == "ProposalExecuted" for e in admitted.events):
        raise GasTableError("approveProposal AdmitMember", "the approval did not execute the proposal")
    member_id = arg(admitted, "MemberAdmitted", "memberId")

    executing_approval("approveProposal SuspendMember (executes)", Action.SuspendMember,
                       payload(["uint256", "string"], member_id, "audit finding 2025-17"))
    executing_approval("approveProposal ReinstateMember (executes)", Action.ReinstateMember,
                       payload(["uint256"], member_id))
    executing_approval("approveProposal AddAccount (executes)", Action.AddAccount,
                       payload(MEMBER_AND_ACCOUNT, member_id, second.address))
    executing_approval("approveProposal RemoveAccount (executes)", Action.RemoveAccount,
                       payload(MEMBER_AND_ACCOUNT, member_id, second.address))
    executing_approval("approveProposal SetEncryptionKey (executes)", Action.SetEncryptionKey,
                       payload(["uint256", "bytes32"], member_id, keccak(text="rotated x25519 key")))
    executing_approval("approveProposal SetWitnesses (executes; one auditor account)", Action.SetWitnesses,
                       payload(["address[]"], [ledger.members[7].address]))
    # Last: from the next block on, only the new sealer may seal on this ledger. Sealers are
    # accounts of Admin members: the Audit Bureau (member 2) holds the new key.
    new_sealer = Signer.fresh("gas table sealer")
    ledger.govern(Action.AddAccount, payload(MEMBER_AND_ACCOUNT, 2, new_sealer.address))
    executing_approval("approveProposal SetSealers (executes; one sealer replaced)", Action.SetSealers,
                       payload(["address[]"], [new_sealer.address]))
    return t.rows


def data_sharing(devnet: DevNet) -> list[Row]:
    ds = Sharing(Ledger(devnet))
    t = Table("DataSharing", ds.ledger, DATA)
    a0, a1 = ds.ledger.admins[:2]

    registered = t.measure("registerDataset", ds.send(
        ds.health, "registerDataset", "Nucleic acid test results", int(Classification.Sensitive), SCHEMA_CID))
    dataset = arg(registered, "DatasetRegistered", "datasetId")
    req = ds.new_request(dataset)
    submitted = t.measure("submitRequest (EIP-712 signature verified)", ds.send(
        ds.hospital, "submitRequest", req.abi(), ds.sign(ds.hospital, req)))
    request_id = arg(submitted, "RequestSubmitted", "requestId")
    t.measure("approve (owner; grant active)", ds.send(
        ds.health, "approve", request_id, list(req.fields), req.valid_until, req.max_accesses))

    personal = ds.register(classification=Classification.Personal)
    assign = payload(["uint256", "uint256"], personal, ds.mid(ds.regulator))
    proposed = t.measure("propose AssignSupervisor (with the proposer's approval)", ds.send(
        a0, "propose", int(SharingAction.AssignSupervisor), assign))
    t.measure("approveProposal AssignSupervisor (second approval, executes)", ds.send(
        a1, "approveProposal", arg(proposed, "ProposalCreated", "proposalId")))
    personal_req = ds.new_request(personal, nonce=2)
    personal_id = ds.submit(personal_req)
    ds.ok(ds.health, "approve", personal_id, list(personal_req.fields), personal_req.valid_until,
          personal_req.max_accesses)
    t.measure("supervisorApprove (personal data)", ds.send(ds.regulator, "supervisorApprove", personal_id))

    rejected_id = ds.submit(ds.new_request(dataset, nonce=3))
    t.measure("reject (owner)", ds.send(ds.health, "reject", rejected_id, "legal basis does not cover research"))
    withdrawn_id = ds.submit(ds.new_request(dataset, nonce=4))
    t.measure("withdrawRequest (requester)", ds.send(ds.hospital, "withdrawRequest", withdrawn_id, "no longer needed"))
    t.measure("cancelNonce (requester)", ds.send(ds.hospital, "cancelNonce", 5))

    t.measure("deliver", ds.send(ds.health, "deliver", request_id, PAYLOAD_CID, keccak(b"ciphertext"),
                                 keccak(b"plaintext")))
    t.measure("recordAccess (first)", ds.send(ds.hospital, "recordAccess", request_id, "ward 3 admission check"))
    t.measure("recordAccess (later)", ds.send(ds.hospital, "recordAccess", request_id, "ward 3 discharge check"))
    t.measure("recordRefusal", ds.send(ds.health, "recordRefusal", request_id, "requester token expired"))
    t.measure("revoke", ds.send(ds.health, "revoke", request_id, "purpose fulfilled"))
    return t.rows


def supply_custody(devnet: DevNet) -> list[Row]:
    world = World.build(devnet)
    c = world.custody
    t = Table("SupplyCustody", world.ledger, CUSTODY)

    registered = t.measure("registerLot", c.send(
        world.charity, "registerLot", MASK, 1000, PCS, COMMIT, "Acme Medical Ltd", "bafy-intake", EXPIRY))
    lot = arg(registered, "LotRegistered", "lotId")
    small = world.register(300)

    whole = t.measure("transfer (whole lot)", c.send(world.charity, "transfer", small, 300, world.id(world.warehouse)))
    part = t.measure("transfer (part: splits off a child lot)",
                     c.send(world.charity, "transfer", lot, 250, world.id(world.logistics)))
    t.measure("accept (in full)", c.send(world.warehouse, "accept", arg(whole, "TransferSent", "transferId"), 300, ""))
    short = t.measure("accept (with a shortfall)", c.send(
        world.logistics, "accept", arg(part, "TransferSent", "transferId"), 240, "10 boxes crushed in the truck"))

    refused_id, _ = world.send(world.charity, lot, 100, world.hospital)
    t.measure("refuse", c.send(world.hospital, "refuse", refused_id, "wrong item"))
    recalled_id, _ = world.send(world.charity, lot, 50, world.hospital)
    sent_at = c.transfer(recalled_id).sent_at
    t.measure("recall (after the 7-day transit timeout)", c.send(
        world.charity, "recall", recalled_id, "never acknowledged", at=sent_at + c.view("transitTimeout") + 1))
    t.measure("consume", c.send(world.charity, "consume", lot, 60, "bafy-distribution-list"))
    t.measure("correct (Found: the receiver finds part of its shortfall)", c.send(
        world.logistics, "correct", arg(short, "TransferAccepted", "eventId"), int(CorrectionKind.Found),
        5, "found behind the racks"))
    t.measure("correct (Loss: the charity corrects its intake count)", c.send(
        world.charity, "correct", arg(registered, "LotRegistered", "eventId"), int(CorrectionKind.Loss),
        3, "intake overcounted"))
    return t.rows


def credit(devnet: DevNet) -> list[Row]:
    env = CreditEnv.build(Ledger(devnet))
    ledger, regulator, admin = env.ledger, env.regulator, env.admin
    t = Table("Credit", ledger, CREDIT)

    # Issuer authorisation is M-of-N like the registry's governance: admin 0 proposes, admin 1's
    # approval reaches the devnet threshold of 2 and executes the grant.
    proposed = t.measure("propose SetIssuer (authorise; with the proposer's approval)", env.send(
        admin, "propose", int(CreditAction.SetIssuer), issuer_change(env.regulator_id, Category.Penalty, True)))
    executed = t.measure("approveProposal SetIssuer (second approval, executes)", env.send(
        ledger.admins[1], "approveProposal", arg(proposed, "ProposalCreated", "proposalId")))
    if not any(e.name == "IssuerAuthorized" for e in executed.events):
        raise GasTableError("approveProposal SetIssuer", "the approval did not execute the authorisation")
    issued = t.measure("issue (public entry)", env.send(regulator, "issue", record(SUBJECT_A)))
    corrected = t.measure("supersede (public entry)", env.send(
        regulator, "supersede", entry_ref(arg(issued, "EntryIssued", "entryId")),
        record(SUBJECT_A, amount=500_000, cid="bafkreicorrected"), "amount mistyped: 5,000 yuan, not 50,000"))
    t.measure("revoke", env.send(regulator, "revoke", entry_ref(arg(corrected, "EntrySuperseded", "entryId")),
                                 "penalty decision annulled by court ruling"))
    content = RestrictedContent(b18(SUBJECT_A), keccak(text="subject salt"), int(Category.Penalty), 3,
                                1_700_000_000, 0, 2_000_000, keccak(text="summary"), keccak(text="bafkreievidence"),
                                keccak(text="salt"))
    tag, commitment = restricted_commitment(content)
    hidden = t.measure("issueRestricted (subject tag and commitment only)", env.send(
        regulator, "issueRestricted", int(Category.Penalty), tag, commitment))
    _, recommitted = restricted_commitment(content._replace(amount=1_000_000, salt=keccak(text="salt 2")))
    t.measure("supersedeRestricted", env.send(
        regulator, "supersedeRestricted", entry_ref(arg(hidden, "EntryIssued", "entryId")), recommitted,
        "amount corrected"))

    env.authorize(env.regulator_id, Category.AbnormalOperation)
    leaves = batch_leaves(env.regulator_id, BATCH_SIZE, Category.AbnormalOperation)
    tree = PositionalTree.build([leaf_hash(leaf) for leaf in leaves])
    anchored = t.measure(f"anchorBatch (root of {BATCH_SIZE:,} entries; the cost does not depend on N)", env.send(
        regulator, "anchorBatch", tree.root, BATCH_SIZE, int(Category.AbnormalOperation), "bafybeibatchfile0001"))
    batch_id = arg(anchored, "BatchAnchored", "batchId")
    subject = leaves[7].uscc.decode()
    t.measure(f"supersede (batch entry by reference; {len(tree.proof(7))}-step proof checked on chain)", env.send(
        regulator, "supersede", batch_ref(batch_id, leaves[7], tree.proof(7)),
        record(subject, Category.AbnormalOperation, amount=1), "amount mistyped in the batch file"))
    t.measure("revoke (batch entry by reference)", env.send(
        regulator, "revoke", batch_ref(batch_id, leaves[8], tree.proof(8)), "listed in error"))

    # The consortium revokes an entry of an issuer that is gone (here: deauthorised).
    env.deauthorize(env.regulator_id, Category.AbnormalOperation)
    gone = payload([ENTRY_REF, "string"], batch_ref(batch_id, leaves[9], tree.proof(9)), "issuer deauthorised")
    proposed = t.measure("propose RevokeGoneIssuerEntry (batch entry; with the proposer's approval)", env.send(
        admin, "propose", int(CreditAction.RevokeGoneIssuerEntry), gone))
    t.measure("approveProposal RevokeGoneIssuerEntry (second approval, executes)", env.send(
        ledger.admins[1], "approveProposal", arg(proposed, "ProposalCreated", "proposalId")))
    return t.rows


def recorder(devnet: DevNet) -> list[Row]:
    ledger = Ledger(devnet)
    author = ledger.members[0]
    address = deploy_recorder(ledger, author)
    t = Table("Recorder", ledger, RECORDER)
    data = RECORDER.encode("record", (1_000_001).to_bytes(32, "big"), keccak(b"benchmark record"), 1)
    t.measure("record (the benchmark workload: one new struct, one event)",
              ledger.send(author, address, data, abi=RECORDER))
    return t.rows


OPERATIONS: tuple[Callable[[DevNet], list[Row]], ...] = (
    member_registry, data_sharing, supply_custody, credit, recorder)


def measure_all() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="cityledger-gas-") as tmp:
        # Fixed keys and genesis time: both reach measured calldata (the requester's address and
        # EIP-712 signature, validity windows), where a zero byte costs 4 gas and any other 16
        # (EIP-2028), so a random devnet would move some figures by a few gas from run to run.
        devnet = make_devnet(Path(tmp) / "node", seed=b"cityledger gas table", timestamp=GENESIS_TIME)
        # Each contract gets a ledger of its own from the same genesis: a figure depends only on
        # the steps of its own contract, in the order above.
        return [row for operations in OPERATIONS for row in operations(devnet)]


# ------------------------------------------------------------------------------------ output
def render(rows: list[Row]) -> str:
    manifest = json.loads(MANIFEST.read_text())
    compiler, settings = manifest["compiler"], manifest["settings"]
    optimizer = settings["optimizer"]
    build = (f"{compiler['name']} {compiler['version']}, optimizer "
             + (f"on, {optimizer['runs']} runs" if optimizer["enabled"] else "off")
             + f", EVM {settings['evmVersion']}")
    lines = [
        "Produced by `scripts/gas-table` from the committed artifacts",
        f"({build}).",
        "Each figure is the `gasUsed` of one transaction sealed alone in a block of a fresh development",
        "chain, 21,000 intrinsic gas and calldata included. Do not edit by hand: `scripts/gas-table`",
        "rewrites this block, and the test suite runs `scripts/gas-table --check`, which fails when it",
        "is stale.",
        "",
        "| contract | operation | gas |",
        "|---|---|--:|",
        *(f"| {r.contract} | {r.operation} | {r.gas:,} |" for r in rows),
    ]
    return "\n".join(lines) + "\n"


def block_of(text: str) -> str | None:
    """What stands between the markers, or None when they are missing."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start + len(START):end].strip("\n") + "\n"


def write(table: str) -> None:
    block = f"{START}\n{table}{END}"
    if not README.exists():
        README.write_text(f"# Contracts\n\n## Gas used per operation\n\n{block}\n")
        return
    text = README.read_text()
    if block_of(text) is None:
        README.write_text(text.rstrip("\n") + f"\n\n## Gas used per operation\n\n{block}\n")
        return
    start, end = text.find(START), text.find(END)
    README.write_text(text[:start] + block + text[end + len(END):])


def check(table: str) -> int:
    current = block_of(README.read_text()) if README.exists() else None
    if current is None:
        print(f"gas-table: {README.relative_to(ROOT)} has no {START} … {END} block; run scripts/gas-table",
              file=sys.stderr)
        return 1
    if current != table:
        sys.stderr.writelines(difflib.unified_diff(
            current.splitlines(keepends=True), table.splitlines(keepends=True),
            f"{README.relative_to(ROOT)} (committed)", "fresh run"))
        print("gas-table: the table in contracts/README.md is stale; run scripts/gas-table and commit it",
              file=sys.stderr)
        return 1
    print("gas-table: contracts/README.md matches a fresh run")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if contracts/README.md differs from a fresh run")
    args = parser.parse_args(argv)
    try:
        rows = measure_all()
    except (GasTableError, AssertionError) as exc:
        # AssertionError: a driver of the tests found a step that did not go as the tests expect.
        print(f"gas-table: an operation failed, no table produced: {exc}", file=sys.stderr)
        return 1
    table = render(rows)
    if args.check:
        return check(table)
    sys.stdout.write(table)
    write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
