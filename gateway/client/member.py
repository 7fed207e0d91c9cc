"""What members do, as functions over a :class:`GatewayClient`: each builds the contract call,
signs it with the member's own key, relays it through the gateway and returns the proven result.
Terms a step depends on (a request's fields and cap, a delivery's CID and hashes, an entry's
content) are read from the proven events of the record, never from the gateway's JSON alone.

The command line (``gateway.client.cli``) and the demo scenario (``cityledger_demo``) are both
thin layers over these functions.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from gateway.client.api import GatewayClient, Progress, TxResult, keccak_file
from gateway.client.errors import BadInput, VerificationFailed
from gateway.client.verify import Checked

ZERO32 = "0x" + "00" * 32


# ----------------------------------------------------------------------------- small parsers
def parse_when(text: str, *, now: float | None = None) -> int:
    """A moment as unix seconds: an integer, an ISO date (``2027-01-31``, midnight UTC) or date-time,
    or a span from now (``+30d``, ``+12h``, ``+90m``)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    relative = re.fullmatch(r"\+(\d+)([dhm])", value)
    if relative:
        seconds = int(relative[1]) * {"d": 86400, "h": 3600, "m": 60}[relative[2]]
        return int((datetime.now(timezone.utc).timestamp() if now is None else now) + seconds)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{text!r} is not a moment: give unix seconds, a date (2027-01-31), a date-time or +30d") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def enum_value(enum: str, name: str | int) -> int:
    """The numeric value of a contract enum member by name (case-insensitive) or number."""
    from gateway.records.enums import enums

    values = enums()[enum]
    if isinstance(name, int) or str(name).isdigit():
        number = int(name)
        if not 0 <= number < len(values):
            raise BadInput(f"{enum} has no value {number} (0–{len(values) - 1})")
        return number
    for i, candidate in enumerate(values):
        if candidate.lower() == str(name).replace("-", "").replace("_", "").lower():
            return i
    raise BadInput(f"{name!r} is not a {enum.split('.')[-1]}: one of {', '.join(values)}")


def bytes32_text(text: str, what: str) -> bytes:
    """A short text (an item code, a unit) as the contracts keep it: UTF-8, zero-padded to 32 bytes
    (or 0x-hex of 32 bytes)."""
    if text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    raw = text.encode()
    if not raw or len(raw) > 32:
        raise BadInput(f"{what} {text!r} must be 1–32 bytes of UTF-8")
    return raw.ljust(32, b"\0")


def keccak_text(text: str) -> str:
    from eth_hash.auto import keccak

    return "0x" + keccak(text.encode()).hex()


# ----------------------------------------------------------------------------- members
def members(client: GatewayClient) -> list[dict[str, Any]]:
    return list(client.get("/v1/members")["items"])


def resolve_member(client: GatewayClient, text: str | int) -> dict[str, Any]:
    """A member by id, exact name, or a case-insensitive part of exactly one name."""
    items = members(client)
    wanted = str(text).strip()
    for m in items:
        if wanted == str(m["id"]) or wanted == m["name"]:
            return m
    found = [m for m in items if wanted.lower() in str(m["name"]).lower()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BadInput(f"no member matches {text!r}")
    raise BadInput(f"{text!r} matches several members: " + "; ".join(f"{m['id']} {m['name']}" for m in found))


def documents_cid(client: GatewayClient, path: Path | None, cid: str | None, progress: Progress | None = None) -> str:
    """A document's CID: uploaded from ``path`` (checked), or given."""
    if path is not None and cid is not None:
        raise BadInput("give a document file or its CID, not both")
    if path is None:
        return cid or ""
    return str(client.upload(path, progress)["cid"])


# ----------------------------------------------------------------------------- data sharing
def datasets(client: GatewayClient, owner: int | None = None) -> tuple[dict[str, Any], Checked]:
    return client.verified("/v1/datasets", auth=True, params={"owner": owner} if owner else None)


def register_dataset(client: GatewayClient, title: str, classification: str, schema_cid: str) -> TxResult:
    return client.send("DataSharing", "registerDataset", title, enum_value("DataSharing.Classification", classification),
                       schema_cid)


def share_request_typed_data(book: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The EIP-712 typed data of a share request (contracts/README.md, "Share requests")."""
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "ShareRequest": [{"name": n, "type": t} for n, t in (
                ("datasetId", "uint256"), ("requester", "address"), ("purpose", "string"), ("legalBasis", "string"),
                ("fields", "string[]"), ("subjectCommitment", "bytes32"), ("validFrom", "uint64"),
                ("validUntil", "uint64"), ("maxAccesses", "uint32"), ("nonce", "uint256"))],
        },
        "primaryType": "ShareRequest",
        "domain": {"name": "CityLedger DataSharing", "version": "1", "chainId": book.chain_id,
                   "verifyingContract": "0x" + book.addresses["DataSharing"].hex()},
        "message": request,
    }


def subjects_commitment(subjects: Sequence[str], salt: bytes) -> str:
    """``keccak256(salt ‖ utf8(the subject identifiers, one per line))``: the salted commitment
    a request carries instead of the list (identifiers never go on chain)."""
    from eth_hash.auto import keccak

    canonical = "\n".join(s.strip() for s in subjects if s.strip()).encode()
    return "0x" + keccak(salt + canonical).hex()


def read_subjects(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read the subject list {path}: {exc}") from None


@dataclass
class SubmittedRequest:
    result: TxResult
    request_id: int
    request: dict[str, Any]
    commitment_file: Path | None


def submit_request(client: GatewayClient, dataset_id: int, purpose: str, legal_basis: str, fields: Sequence[str], *,
                   subjects: Path | None = None, valid_from: int = 0, valid_until: int, max_accesses: int,
                   nonce: int | None = None, salt_out: Path | None = None) -> SubmittedRequest:
    """Build the ShareRequest, sign it as EIP-712 typed data (portable evidence of what was asked),
    and submit it with a signed ``submitRequest`` transaction. The subject list is committed with a
    fresh 32-byte salt; the salt, list hash and commitment are written to ``salt_out`` (default
    ``SUBJECTS.commitment.json``), readable by the user only: they open the commitment later."""
    if not fields:
        raise BadInput("a request names at least one field")
    salt = secrets.token_bytes(32)
    listed = read_subjects(subjects) if subjects is not None else []
    commitment = subjects_commitment(listed, salt)
    request = {"datasetId": dataset_id, "requester": client.keys.address, "purpose": purpose,
               "legalBasis": legal_basis, "fields": list(fields), "subjectCommitment": commitment,
               "validFrom": valid_from, "validUntil": valid_until, "maxAccesses": max_accesses,
               "nonce": nonce if nonce is not None else int.from_bytes(secrets.token_bytes(8), "big")}
    signature = client.signer.sign_typed_data(share_request_typed_data(client.book, request))
    result = client.send("DataSharing", "submitRequest", request, signature)
    submitted = result.event("RequestSubmitted")
    request_id = int(submitted["requestId"])
    out = salt_out if salt_out is not None else (subjects.with_name(subjects.name + ".commitment.json") if subjects else None)
    if out is not None:
        import json

        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"requestId": request_id, "chainId": client.book.chain_id, "salt": "0x" + salt.hex(),
                       "subjects": len(listed), "commitment": commitment,
                       "rule": "keccak256(salt || utf8(subjects joined by newlines))"}, fh, indent=2)
    return SubmittedRequest(result, request_id, request, out)


@dataclass
class ProvenRequest:
    """A request's terms as its proven events state them."""

    id: int
    dataset_id: int
    requester_member_id: int
    signed: dict[str, Any]
    status: str
    fields: list[str]
    valid_until: int
    max_accesses: int
    supervisor_member_id: int
    delivery: dict[str, Any] | None
    doc: dict[str, Any]


def proven_request(client: GatewayClient, request_id: int) -> ProvenRequest:
    """``GET /v1/requests/{id}`` with every proof checked; the terms from the proven events."""
    from gateway.records.enums import name_of

    doc, checked = client.verified(f"/v1/requests/{request_id}", auth=True)
    events = [(name, args) for _c, name, args in checked.events]
    submitted = next((a for n, a in events if n == "RequestSubmitted" and int(a["requestId"]) == request_id), None)
    if submitted is None:
        raise VerificationFailed("log-content", f"request {request_id}: no proven RequestSubmitted event")
    signed = dict(submitted["request"])
    status, fields = "Pending", list(signed["fields"])
    valid_until, cap, supervisor = int(signed["validUntil"]), int(signed["maxAccesses"]), 0
    delivery = None
    for name, args in events:
        if int(args.get("requestId", args.get("grantId", -1))) != request_id:
            continue
        if name == "RequestApproved":
            status = name_of("DataSharing.RequestStatus", int(args["status"]))
            fields, valid_until, cap = list(args["fields"]), int(args["validUntil"]), int(args["maxAccesses"])
            supervisor = int(args["supervisorMemberId"])
        elif name == "SupervisorApproved":
            status = "Granted"
        elif name in ("RequestRejected", "RequestWithdrawn", "GrantRevoked"):
            status = {"RequestRejected": "Rejected", "RequestWithdrawn": "Withdrawn", "GrantRevoked": "Revoked"}[name]
        elif name == "PayloadDelivered":
            delivery = {"cid": args["cid"], "ciphertextHash": args["ciphertextHash"],
                        "plaintextCommitment": args["plaintextCommitment"]}
    return ProvenRequest(request_id, int(submitted["datasetId"]), int(submitted["requesterMemberId"]), signed, status,
                         fields, valid_until, cap, supervisor, delivery, doc)


def approve(client: GatewayClient, request_id: int, *, fields: Sequence[str] | None = None,
            valid_until: int | None = None, max_accesses: int | None = None) -> TxResult:
    """Approve a request, narrowed when asked (fewer fields, an earlier end, a lower cap; the
    contract refuses anything wider than what was signed). A supervisor awaiting its second
    approval of a personal-data request gives it (``supervisorApprove``)."""
    request = proven_request(client, request_id)
    me = int(client.member["id"])
    if request.status == "AwaitingSupervisor" and request.supervisor_member_id == me:
        return client.send("DataSharing", "supervisorApprove", request_id)
    return client.send("DataSharing", "approve", request_id, list(fields) if fields else request.fields,
                       valid_until if valid_until is not None else request.valid_until,
                       max_accesses if max_accesses is not None else request.max_accesses)


def reject(client: GatewayClient, request_id: int, reason: str) -> TxResult:
    return client.send("DataSharing", "reject", request_id, reason)


def revoke(client: GatewayClient, grant_id: int, reason: str) -> TxResult:
    return client.send("DataSharing", "revoke", grant_id, reason)


@dataclass
class Delivery:
    result: TxResult
    cid: str
    ciphertext_hash: str
    plaintext_commitment: str
    recipient: str


def deliver(client: GatewayClient, grant_id: int, plaintext: Path, progress: Progress | None = None) -> Delivery:
    """Encrypt ``plaintext`` to the requester's registered X25519 key (age format), upload the
    ciphertext (its CID and SHA-256 checked against the local file), and record the delivery:
    CID, ciphertext SHA-256 and the plaintext commitment keccak256(plaintext)."""
    from gateway.payloads.encryption import encrypt_file, recipient_for

    request = proven_request(client, grant_id)
    requester = client.get(f"/v1/members/{request.requester_member_id}")
    key = requester.get("encryptionKey")
    if not key or int(str(key), 16) == 0:
        raise BadInput(f"member {request.requester_member_id} ({requester.get('name')}) has no registered encryption key")
    if not plaintext.is_file():
        raise BadInput(f"{plaintext} is not a file")
    commitment = keccak_file(plaintext)
    with tempfile.TemporaryDirectory(prefix="cityledger-deliver-") as tmp:
        sealed = Path(tmp) / "payload.age"
        encrypt_file(plaintext, sealed, str(key))
        stored = client.upload(sealed, progress)
    result = client.send("DataSharing", "deliver", grant_id, stored["cid"], stored["sha256"], commitment)
    return Delivery(result, str(stored["cid"]), str(stored["sha256"]), commitment, recipient_for(str(key)))


@dataclass
class Fetched:
    result: TxResult
    out: Path | None
    size: int
    cid: str
    access_count: int


def fetch(client: GatewayClient, grant_id: int, out: Path | None, reason: str, progress: Progress | None = None,
          stdout: Any = None) -> Fetched:
    """Record an access on chain (with a same-nonce refusal the gateway relays instead if the grant
    is no longer active), download the ciphertext once, check it against the proven delivery (its
    CID and SHA-256), decrypt it with the member's key and check keccak256(plaintext) against the
    proven commitment; only then write it to ``out`` (or ``stdout``)."""
    from gateway.payloads.encryption import decrypt_file
    from gateway.payloads.unixfs import file_cid

    identity = client.keys.encryption
    if identity is None:
        raise BadInput("fetch needs the member's encryption key: --encryption-key FILE (or the dev keys file)")
    client.sign_in()
    nonce = client.nonce()
    access = client.sign_call("DataSharing", "recordAccess", [grant_id, reason], nonce=nonce)
    refusal = client.sign_call("DataSharing", "recordRefusal", [grant_id, reason], nonce=nonce)
    answer = client.post(f"/v1/grants/{grant_id}/access", {"access": "0x" + access.hex(), "refusal": "0x" + refusal.hex()},
                         auth=True)
    result = client.check_relayed(answer, access, "DataSharing", "recordAccess")
    recorded = result.event("AccessRecorded")
    if int(recorded["grantId"]) != grant_id:
        raise VerificationFailed("log-content", f"the proven access is for grant {recorded['grantId']}, not {grant_id}")
    delivery = proven_request(client, grant_id).delivery
    if delivery is None:
        raise VerificationFailed("log-content", f"grant {grant_id} has no proven PayloadDelivered event")
    target_dir = out.parent if out is not None else Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=".cityledger-fetch-", dir=target_dir) as tmp:
        sealed, clear = Path(tmp) / "payload.age", Path(tmp) / "payload"
        got = client.download(str(answer["payload"]["download"]), sealed, auth=True, progress=progress)
        if got != delivery["ciphertextHash"]:
            raise VerificationFailed("payload", f"the ciphertext hashes to {got}, the proven delivery says "
                                                f"{delivery['ciphertextHash']}")
        cid = file_cid(sealed)
        if cid != delivery["cid"]:
            raise VerificationFailed("payload", f"the ciphertext's CID is {cid}, the proven delivery says {delivery['cid']}")
        decrypt_file(sealed, clear, identity)
        commitment = keccak_file(clear)
        if commitment != delivery["plaintextCommitment"]:
            raise VerificationFailed("plaintext-commitment", f"keccak256 of the plaintext is {commitment}, the proven "
                                                             f"commitment is {delivery['plaintextCommitment']}")
        size = clear.stat().st_size
        if out is None:
            with clear.open("rb") as fh:
                shutil.copyfileobj(fh, stdout)
        else:
            os.replace(clear, out)
    return Fetched(result, out, size, cid, int(recorded["accessCount"]))


def access_log(client: GatewayClient, dataset_id: int) -> tuple[list[dict[str, Any]], int]:
    """Every access and refusal of a dataset (all pages), each proof checked."""
    items: list[dict[str, Any]] = []
    proofs = 0
    cursor: str | None = None
    while True:
        doc, checked = client.verified(f"/v1/datasets/{dataset_id}/accesses", auth=True,
                                       params={"cursor": cursor} if cursor else None)
        items += doc["items"]
        proofs += checked.proofs
        cursor = doc.get("next")
        if not cursor:
            return items, proofs


# ----------------------------------------------------------------------------- supply custody
@dataclass
class RegisteredLot:
    result: TxResult
    lot_id: int
    receipt_code: str
    on_chain_receipt_code: str
    donor_salt: str


def register_lot(client: GatewayClient, item: str, quantity: int, unit: str, donor: str, *, public_name: str = "",
                 documents: str = "", expiry: int = 0) -> RegisteredLot:
    """Register a donated lot. The donor is committed with a fresh salt
    (``keccak256(salt ‖ utf8(donor))``); only ``public_name`` (optional) is shown to the public."""
    from eth_hash.auto import keccak

    from gateway.receipt_code import short_code

    if quantity <= 0:
        raise BadInput("the quantity must be positive")
    if not documents:
        raise BadInput("a lot is registered with its intake documents: give a document file or its CID")
    salt = secrets.token_bytes(32)
    commitment = keccak(salt + donor.encode())
    result = client.send("SupplyCustody", "registerLot", bytes32_text(item, "item"), quantity, bytes32_text(unit, "unit"),
                         commitment, public_name, documents, expiry)
    registered = result.event("LotRegistered")
    code = str(registered["receiptCode"])
    return RegisteredLot(result, int(registered["lotId"]), short_code(bytes.fromhex(code[2:])), code, "0x" + salt.hex())


def transfer(client: GatewayClient, lot_id: int, quantity: int, to: str | int) -> tuple[TxResult, dict[str, Any]]:
    receiver = resolve_member(client, to)
    return client.send("SupplyCustody", "transfer", lot_id, quantity, int(receiver["id"])), receiver


def accept(client: GatewayClient, transfer_id: int, received: int, loss_reason: str = "") -> TxResult:
    return client.send("SupplyCustody", "accept", transfer_id, received, loss_reason)


def refuse(client: GatewayClient, transfer_id: int, reason: str) -> TxResult:
    return client.send("SupplyCustody", "refuse", transfer_id, reason)


def consume(client: GatewayClient, lot_id: int, quantity: int, documents: str = "") -> TxResult:
    return client.send("SupplyCustody", "consume", lot_id, quantity, documents)


def trace(client: GatewayClient, code: str) -> tuple[dict[str, Any], Checked]:
    """A donation's trace (public), every proof checked, and the receipt code bound to the proven
    registration: the typed code must be the short form of the proven ``LotRegistered``'s
    ``receiptCode``."""
    from gateway.receipt_code import parse_code, short_code

    canonical, _prefix = parse_code(code)
    doc, checked = client.verified(f"/v1/trace/{canonical}")
    registered = [a for _c, n, a in checked.events if n == "LotRegistered"]
    if not registered:
        raise VerificationFailed("receipt-code", "the trace proves no LotRegistered event")
    proven = short_code(bytes.fromhex(str(registered[0]["receiptCode"])[2:]))
    if proven != canonical:
        raise VerificationFailed("receipt-code", f"the proven registration's receipt code is {proven}, not {canonical}")
    return doc, checked


# ----------------------------------------------------------------------------- credit
def _zero_leaf() -> dict[str, Any]:
    return {"issuerMemberId": 0, "category": 0, "indexInBatch": 0, "isPublic": False, "uscc": b"\0" * 18,
            "severity": 0, "effectiveDate": 0, "expiryDate": 0, "amount": 0, "summaryHash": ZERO32,
            "evidenceCidHash": ZERO32, "subjectTag": ZERO32, "commitment": ZERO32}


def entry_ref(entry_id: int) -> dict[str, Any]:
    """An ``EntryRef`` to an on-chain entry (no batch, no proof)."""
    return {"entryId": entry_id, "batchId": 0, "proof": [], "leaf": _zero_leaf()}


def credit_record(uscc: str, category: str | int, severity: int, effective: int, expiry: int, amount: int,
                  summary_hash: str, evidence_cid: str) -> dict[str, Any]:
    from gateway.uscc import parse_uscc

    return {"uscc": parse_uscc(uscc), "category": enum_value("Credit.Category", category), "severity": severity,
            "effectiveDate": effective, "expiryDate": expiry, "amount": amount, "summaryHash": summary_hash,
            "evidenceCid": evidence_cid}


def issue(client: GatewayClient, record: dict[str, Any]) -> TxResult:
    return client.send("Credit", "issue", record)


def proven_entry(client: GatewayClient, entry_id: int) -> dict[str, Any]:
    """A public entry's content as its proven event states it."""
    doc, checked = client.verified(f"/v1/credit/entries/{entry_id}")
    for _c, name, args in checked.events:
        if name in ("EntryIssued", "EntrySuperseded", "EntryRevoked") and int(args["entryId"]) == entry_id:
            return dict(args["entry"])
    raise VerificationFailed("log-content", f"credit entry {entry_id}: no proven event names it")


def correct(client: GatewayClient, entry_id: int, reason: str, **changes: Any) -> TxResult:
    """Supersede an entry: the new record is the proven old one with ``changes`` applied
    (``amount``, ``severity``, ``effectiveDate``, ``expiryDate``, ``summaryHash``, ``evidenceCid``,
    ``category``)."""
    old = proven_entry(client, entry_id)
    uscc = bytes.fromhex(str(old["uscc"])[2:]).decode("ascii")
    record = {"uscc": uscc, "category": int(old["category"]), "severity": int(old["severity"]),
              "effectiveDate": int(old["effectiveDate"]), "expiryDate": int(old["expiryDate"]),
              "amount": int(old["amount"]), "summaryHash": old["summaryHash"], "evidenceCid": old["evidenceCid"]}
    for key, value in changes.items():
        if value is not None:
            record[key] = enum_value("Credit.Category", value) if key == "category" else value
    return client.send("Credit", "supersede", entry_ref(entry_id), record, reason)


def revoke_entry(client: GatewayClient, entry_id: int, reason: str) -> TxResult:
    return client.send("Credit", "revoke", entry_ref(entry_id), reason)


def credit_history(client: GatewayClient, uscc: str) -> tuple[dict[str, Any], Checked]:
    from gateway.uscc import parse_uscc

    return client.verified(f"/v1/credit/{parse_uscc(uscc)}")


# ----------------------------------------------------------------------------- governance
GOVERNED = ("MemberRegistry", "DataSharing", "Credit")


def propose(client: GatewayClient, contract: str, action: str, types: list[str], values: list[Any]) -> tuple[TxResult, int]:
    """Propose a governance action (the proposer's member approves at once); the proposal id."""
    from eth_abi import encode as abi_encode

    enum = {"MemberRegistry": "MemberRegistry.Action", "DataSharing": "DataSharing.Action", "Credit": "Credit.Action"}[contract]
    result = client.send(contract, "propose", enum_value(enum, action), abi_encode(types, values))
    return result, int(result.event("ProposalCreated")["proposalId"])


def approve_proposal(client: GatewayClient, contract: str, proposal_id: int) -> TxResult:
    if contract not in GOVERNED:
        raise BadInput(f"{contract} has no proposals; one of {', '.join(GOVERNED)}")
    return client.send(contract, "approveProposal", proposal_id)


def executed(result: TxResult) -> bool:
    return any(name == "ProposalExecuted" for _c, name, _a in result.events)
