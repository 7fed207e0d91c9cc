"""Writes: ``POST /v1/tx`` relays a member's own signed transaction (``gateway.relay``), and the
data-sharing fetch, ``POST /v1/grants/{id}/access`` then ``GET /v1/grants/{id}/payload/{tx}``.

A fetch sends two transactions signed by the requester with the same nonce: ``recordAccess`` and,
optionally, ``recordRefusal``. The gateway dry-runs the access; if the grant is active and under
its cap it relays the access and, once it is sealed, releases the ciphertext once for it; if not,
it relays the refusal (so the refusal is on chain, signed by the requester) and answers why.
Exactly one of the two can ever be sealed: they spend the same nonce.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlmodel import Field as SqlField
from sqlmodel import Session, SQLModel, col, select
from starlette.background import BackgroundTask

from gateway import db
from gateway.app import Services
from gateway.deps import CurrentMember, ServicesDep, SessionDep
from gateway.errors import GatewayError
from gateway.records.sharing import ShareRequest
from gateway.relay import DecodedTransaction, Relay, TransactionRefused, TransactionReverted
from gateway.routers.common import Forbidden, NotFound, with_proof
from gateway.routers.payloads import verified_file

router = APIRouter(tags=["writes"])


class PayloadRelease(SQLModel, table=True):
    """Which recorded access released the ciphertext (each access releases it once)."""

    __tablename__ = "payload_release"

    access_tx: str = SqlField(primary_key=True, max_length=66)
    grant_id: int
    released_at: int


@dataclass
class AccessRefused(GatewayError):
    """Raised when a grant's payload is not released: the grant is not active (revoked, expired,
    not yet valid, not approved, not delivered) or its cap is reached; ``refusal_tx`` is the
    requester's refusal record on chain when one was sent."""

    grant_id: int
    error: str
    arguments: dict[str, Any]
    refusal_tx: str | None
    status = 403
    slug = "access-refused"

    def __str__(self) -> str:
        return (f"grant {self.grant_id}: access refused ({self.error})"
                + (f"; the refusal is recorded on chain in {self.refusal_tx}" if self.refusal_tx
                   else "; send a signed recordRefusal with the access to have it recorded"))


class SignedTransaction(BaseModel):
    transaction: str = Field(pattern=r"^0x[0-9a-fA-F]+$", max_length=262_146,
                             description="A raw signed transaction (EIP-2718), signed by the signed-in member.")


class AccessRequest(BaseModel):
    access: str = Field(pattern=r"^0x[0-9a-fA-F]+$", max_length=262_146,
                        description="DataSharing.recordAccess(grantId, reason), signed by the requester.")
    refusal: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]+$", max_length=262_146,
                                description="DataSharing.recordRefusal(grantId, reason) with the same nonce, "
                                            "relayed instead when the access would be refused.")


def events_of(services: Services, s: Session, tx_hash: str) -> list[dict[str, Any]]:
    rows = s.exec(select(db.ChainEvent).where(db.ChainEvent.tx_hash == tx_hash.lower())
                  .order_by(col(db.ChainEvent.block_log_index))).all()
    return [with_proof(services, s, {"contract": e.contract, "event": e.name, "args": json.loads(e.args)},
                       e.block_number, e.block_log_index) for e in rows]


def receipt_answer(services: Services, s: Session, receipt: dict[str, Any], tx: DecodedTransaction) -> dict[str, Any]:
    events = events_of(services, s, receipt["transactionHash"])
    return {"txHash": receipt["transactionHash"], "blockNumber": int(receipt["blockNumber"], 16),
            "status": "success", "call": {"contract": tx.contract, "function": tx.function},
            "events": events, "proof": events[0]["proof"] if events else None,
            "verified": bool(events) and all(e["verified"] for e in events)}


@router.get("/v1/accounts/{address}/nonce")
async def nonce(address: str, services: ServicesDep) -> dict[str, Any]:
    """The next nonce for ``address`` (pending transactions included): what a member signs with."""
    from eth_utils import is_address, to_checksum_address

    if not is_address(address):
        raise TransactionRefused("malformed", f"{address!r} is not an address")
    value = await services.rpc.call("eth_getTransactionCount", [to_checksum_address(address), "pending"])
    return {"address": to_checksum_address(address), "nonce": int(value, 16), "chainId": services.book.chain_id}


@router.post("/v1/tx")
async def relay(body: SignedTransaction, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """Relay a transaction signed by the member's own key; answer its events with their proofs.
    A call that would revert is answered with the contract's custom error and is not sent."""
    relay_ = Relay(services)
    tx = relay_.check(bytes.fromhex(body.transaction[2:]), caller.account)
    receipt = await relay_.send(tx)
    s.expire_all()
    return receipt_answer(services, s, receipt, tx)


def _expect_call(tx: DecodedTransaction, function: str, grant_id: int) -> None:
    if (tx.contract, tx.function) != ("DataSharing", function) or int(tx.args[0]) != grant_id:
        raise TransactionRefused("function", f"expected DataSharing.{function}({grant_id}, reason), "
                                             f"got {tx.contract}.{tx.function}")


@router.post("/v1/grants/{grant_id}/access")
async def access(grant_id: int, body: AccessRequest, caller: CurrentMember, services: ServicesDep,
                 s: SessionDep) -> dict[str, Any]:
    """Record an access to a grant on chain, then release its ciphertext (once) for that access.
    Refused (403, recorded on chain when a refusal is sent) when the grant is not active or its
    cap is reached."""
    request = s.get(ShareRequest, grant_id)
    if request is None:
        raise NotFound("grant", str(grant_id))
    if request.requester_member_id != caller.member_id:
        raise Forbidden(f"grant {grant_id} was granted to member {request.requester_member_id}, not to you")
    relay_ = Relay(services)
    access_tx = relay_.check(bytes.fromhex(body.access[2:]), caller.account)
    _expect_call(access_tx, "recordAccess", grant_id)
    refusal_tx = None
    if body.refusal is not None:
        refusal_tx = relay_.check(bytes.fromhex(body.refusal[2:]), caller.account)
        _expect_call(refusal_tx, "recordRefusal", grant_id)
        if refusal_tx.nonce != access_tx.nonce:
            raise TransactionRefused("malformed", "the refusal must spend the same nonce as the access")
    try:
        await relay_.dry_run(access_tx)
    except TransactionReverted as refused:
        recorded = None
        if refusal_tx is not None:
            receipt = await relay_.send(refusal_tx)
            recorded = str(receipt["transactionHash"])
        raise AccessRefused(grant_id, refused.error, refused.arguments, recorded) from refused
    receipt = await relay_.send(access_tx)
    s.expire_all()
    answer = receipt_answer(services, s, receipt, access_tx)
    request = s.get(ShareRequest, grant_id)
    assert request is not None
    answer["payload"] = {"cid": request.delivered_cid, "ciphertextHash": request.ciphertext_hash,
                         "plaintextCommitment": request.plaintext_commitment,
                         "download": f"/v1/grants/{grant_id}/payload/{receipt['transactionHash']}"}
    return answer


@router.get("/v1/grants/{grant_id}/payload/{access_tx}")
def payload(grant_id: int, access_tx: str, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> FileResponse:
    """The grant's ciphertext, once per sealed ``AccessRecorded`` of this grant by the caller's member."""
    event = s.exec(select(db.ChainEvent).where(db.ChainEvent.tx_hash == access_tx.lower(),
                                               db.ChainEvent.name == "AccessRecorded")).first()
    if event is None or int(json.loads(event.args)["grantId"]) != grant_id:
        raise NotFound("recorded access of grant", f"{grant_id} in {access_tx}")
    if int(json.loads(event.args)["memberId"]) != caller.member_id:
        raise Forbidden("that access was recorded by another member")
    if s.get(PayloadRelease, access_tx.lower()) is not None:
        raise Forbidden("this access already released the payload; record a new access")
    request = s.get(ShareRequest, grant_id)
    if request is None or not request.delivered_cid:
        raise NotFound("delivered payload of grant", str(grant_id))
    path = verified_file(services, request.delivered_cid)
    s.add(PayloadRelease(access_tx=access_tx.lower(), grant_id=grant_id, released_at=int(time.time())))
    s.commit()
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"X-Content-CID": request.delivered_cid, "X-Ciphertext-Hash": request.ciphertext_hash},
                        background=BackgroundTask(path.unlink, missing_ok=True))
