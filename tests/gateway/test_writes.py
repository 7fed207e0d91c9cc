"""Writes through the gateway: members' own signed transactions relayed and answered with proofs;
a grant's ciphertext released only after its access is sealed, and refusals recorded on chain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from conftest import DevNet, NodeProcess
from gateway.client.transactions import Signer, TxBuilder
from gateway.contracts import AddressBook
from gateway_flows import share_flow
from gateway_harness import ROOT, gateway_client, gateway_settings, run, wait_indexed
from test_member_api import token_of


def _member(devnet: DevNet, who: str) -> dict[str, Any]:
    return dict(next(m for m in devnet.keys["members"] if who in m["name"]))


async def _signed(client: httpx.AsyncClient, builder: TxBuilder, signer: Signer, contract: str, function: str,
                  *args: Any, nonce: int | None = None) -> str:
    to, data = builder.call(contract, function, list(args))
    if nonce is None:
        nonce = int((await client.get(f"/v1/accounts/{signer.address}/nonce")).json()["nonce"])
    return "0x" + signer.sign(to, data, nonce=nonce, gas=3_000_000).hex()


def test_relay_answers_with_proofs_and_refuses_what_it_must(chain: NodeProcess, addressbook: Path, tmp_path: Path,
                                                            devnet: DevNet) -> None:
    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test")
    builder = TxBuilder(ROOT / "contracts" / "artifacts", AddressBook.load(addressbook))
    red_cross = _member(devnet, "Red Cross")
    signer = Signer(red_cross["private_key"], devnet.chain_id)

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            headers = await token_of(client, red_cross["private_key"])
            intake = (await client.post("/v1/payloads", content=b"%PDF-1.7 intake form", headers=headers)).json()
            raw = await _signed(client, builder, signer, "SupplyCustody", "registerLot", b"masks".ljust(32, b"\0"), 500,
                                b"box".ljust(32, b"\0"), os.urandom(32), "Anonymous donor", intake["cid"], 0)
            answer = await client.post("/v1/tx", json={"transaction": raw}, headers=headers)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["verified"] is True and [e["event"] for e in body["events"]] == ["LotRegistered"]
            assert body["events"][0]["args"]["quantity"] == 500 and body["proof"]["type"] == "receipt"
            from gateway.receipt_code import short_code

            code = short_code(bytes.fromhex(body["events"][0]["args"]["receiptCode"][2:]))
            trace = (await client.get(f"/v1/trace/{code}")).json()
            assert trace["events"][0]["proof"]["payload"] == intake and trace["payloads"] == [intake]

            # A call the contract would refuse: answered with its custom error by name, not sent.
            nonce_before = int((await client.get(f"/v1/accounts/{signer.address}/nonce")).json()["nonce"])
            bad = await _signed(client, builder, signer, "SupplyCustody", "transfer", 99_999, 1, 1)
            refused = await client.post("/v1/tx", json={"transaction": bad}, headers=headers)
            assert refused.status_code == 422, refused.text
            problem = refused.json()
            assert problem["type"].endswith("/transaction-reverted") and problem["error"].startswith("SupplyCustody")
            assert problem["arguments"]
            assert int((await client.get(f"/v1/accounts/{signer.address}/nonce")).json()["nonce"]) == nonce_before

            # Someone else's transaction, another chain, a foreign target: refused by reason.
            other = Signer(_member(devnet, "Warehouse")["private_key"], devnet.chain_id)
            foreign = await _signed(client, builder, other, "SupplyCustody", "consume", 1, 1, "x")
            answer = await client.post("/v1/tx", json={"transaction": foreign}, headers=headers)
            assert answer.status_code == 422 and answer.json()["reason"] == "sender"
            wrong_chain = Signer(red_cross["private_key"], devnet.chain_id + 1)
            to, data = builder.call("SupplyCustody", "consume", [1, 1, "x"])
            answer = await client.post("/v1/tx", json={"transaction": "0x" + wrong_chain.sign(to, data, nonce=0, gas=100_000).hex()},
                                       headers=headers)
            assert answer.status_code == 422 and answer.json()["reason"] == "chain"
            stray = Account.sign_transaction({"to": "0x" + "11" * 20, "data": b"", "gas": 21_000, "gasPrice": 0, "nonce": 0,
                                              "value": 0, "chainId": devnet.chain_id}, red_cross["private_key"])
            answer = await client.post("/v1/tx", json={"transaction": "0x" + stray.raw_transaction.hex()}, headers=headers)
            assert answer.status_code == 422 and answer.json()["reason"] == "target"
            assert (await client.post("/v1/tx", json={"transaction": "0x1234"}, headers=headers)).json()["reason"] == "malformed"
            assert (await client.post("/v1/tx", json={"transaction": raw})).status_code == 401

    run(scenario())


def test_grant_payload_released_only_after_a_sealed_access(chain: NodeProcess, addressbook: Path, tmp_path: Path,
                                                         devnet: DevNet) -> None:
    shared = share_flow(chain, devnet, addressbook)  # cap 2, two accesses already recorded, cid "bafkpayload"
    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test")
    builder = TxBuilder(ROOT / "contracts" / "artifacts", AddressBook.load(addressbook))
    health = _member(devnet, "Health")
    signer = Signer(health["private_key"], devnet.chain_id)
    grant = shared["request"]

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            headers = await token_of(client, health["private_key"])
            nonce = int((await client.get(f"/v1/accounts/{signer.address}/nonce")).json()["nonce"])
            access = await _signed(client, builder, signer, "DataSharing", "recordAccess", grant, "third look", nonce=nonce)
            refusal = await _signed(client, builder, signer, "DataSharing", "recordRefusal", grant, "cap reached", nonce=nonce)
            answer = await client.post(f"/v1/grants/{grant}/access", json={"access": access, "refusal": refusal}, headers=headers)
            assert answer.status_code == 403, answer.text
            problem = answer.json()
            assert problem["error"] == "DataSharingAccessCapReached" and problem["refusal_tx"]
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            grant_view = (await client.get(f"/v1/requests/{grant}", headers=headers)).json()
            assert grant_view["history"][-1]["event"] == "AccessRefused"

    run(scenario())


def test_a_delivered_payload_is_fetched_once_per_access_and_decrypts(chain: NodeProcess, addressbook: Path,
                                                                     tmp_path: Path, devnet: DevNet) -> None:
    """Transport delivers an age-encrypted file to health's registered key; health records an
    access, downloads the ciphertext once, decrypts it; after revocation the access is refused."""
    import hashlib
    import io

    from eth_hash.auto import keccak

    from gateway.payloads.encryption import decrypt_stream, encrypt_stream, key_pair_from_private_key
    from gateway_flows import sign_share_request

    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test")
    builder = TxBuilder(ROOT / "contracts" / "artifacts", AddressBook.load(addressbook))
    health, transport = _member(devnet, "Health"), _member(devnet, "Transport")
    h_signer, t_signer = Signer(health["private_key"], devnet.chain_id), Signer(transport["private_key"], devnet.chain_id)
    plaintext = b"name,train,date\n" + b"Zhang San,G1234,2026-11-02\n" * 2000

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            th, hh = await token_of(client, transport["private_key"]), await token_of(client, health["private_key"])

            async def send(headers: dict[str, str], signer: Signer, *call: Any) -> dict[str, Any]:
                answer = await client.post("/v1/tx", json={"transaction": await _signed(client, builder, signer, *call)},
                                           headers=headers)
                assert answer.status_code == 200, answer.text
                return dict(answer.json())

            done = await send(th, t_signer, "DataSharing", "registerDataset", "Travel records", 2, "bafkschema")
            dataset = done["events"][0]["args"]["datasetId"]
            request = {"datasetId": dataset, "requester": h_signer.address, "purpose": "Contact tracing",
                       "legalBasis": "Infectious Diseases Law art. 12", "fields": ["name", "train", "date"],
                       "subjectCommitment": "0x" + keccak(b"subjects").hex(), "validFrom": 0, "validUntil": 4_000_000_000,
                       "maxAccesses": 3, "nonce": 7}
            signature = sign_share_request(type("A", (), {"signer": h_signer})(), request, devnet.chain_id, addressbook)
            done = await send(hh, h_signer, "DataSharing", "submitRequest", request, signature)
            grant = done["events"][0]["args"]["requestId"]
            await send(th, t_signer, "DataSharing", "approve", grant, ["name", "train", "date"], 4_000_000_000, 3)

            # Transport encrypts to health's registered key and stores the ciphertext.
            ciphertext = io.BytesIO()
            encrypt_stream(io.BytesIO(plaintext), ciphertext, health["encryption_public_key"])
            stored = (await client.post("/v1/payloads", content=ciphertext.getvalue(), headers=th)).json()
            await send(th, t_signer, "DataSharing", "deliver", grant, stored["cid"], stored["sha256"],
                       "0x" + keccak(plaintext).hex())
            # The ciphertext is not downloadable as a plain document.
            assert (await client.get(f"/v1/payloads/{stored['cid']}")).status_code == 403

            nonce = int((await client.get(f"/v1/accounts/{h_signer.address}/nonce")).json()["nonce"])
            access = await _signed(client, builder, h_signer, "DataSharing", "recordAccess", grant, "tracing cluster 9", nonce=nonce)
            refusal = await _signed(client, builder, h_signer, "DataSharing", "recordRefusal", grant, "refused", nonce=nonce)
            answer = await client.post(f"/v1/grants/{grant}/access", json={"access": access, "refusal": refusal}, headers=hh)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["events"][0]["event"] == "AccessRecorded" and body["verified"]
            # Only the requester, once per recorded access.
            assert (await client.get(body["payload"]["download"], headers=th)).status_code == 403
            download = await client.get(body["payload"]["download"], headers=hh)
            assert download.status_code == 200 and download.content == ciphertext.getvalue()
            assert "0x" + hashlib.sha256(download.content).hexdigest() == body["payload"]["ciphertextHash"]
            clear = io.BytesIO()
            decrypt_stream(io.BytesIO(download.content), clear, key_pair_from_private_key(health["encryption_private_key"]))
            assert clear.getvalue() == plaintext and "0x" + keccak(clear.getvalue()).hex() == body["payload"]["plaintextCommitment"]
            assert (await client.get(body["payload"]["download"], headers=hh)).status_code == 403

            # After revocation, the access is refused and the refusal is on chain.
            await send(th, t_signer, "DataSharing", "revoke", grant, "purpose fulfilled")
            nonce = int((await client.get(f"/v1/accounts/{h_signer.address}/nonce")).json()["nonce"])
            access = await _signed(client, builder, h_signer, "DataSharing", "recordAccess", grant, "again", nonce=nonce)
            refusal = await _signed(client, builder, h_signer, "DataSharing", "recordRefusal", grant, "revoked", nonce=nonce)
            answer = await client.post(f"/v1/grants/{grant}/access", json={"access": access, "refusal": refusal}, headers=hh)
            assert answer.status_code == 403 and answer.json()["error"] == "DataSharingGrantRevoked"
            accesses = (await client.get(f"/v1/datasets/{dataset}/accesses", headers=th)).json()["items"]
            assert [(a["refused"], a["reason"]) for a in accesses] == [(False, "tracing cluster 9"), (True, "revoked")]

    run(scenario())
