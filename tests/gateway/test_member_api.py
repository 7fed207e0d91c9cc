"""Members sign in with their own keys (EIP-4361) and see their records; each refusal is a
problem+json that says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct

from conftest import DevNet, NodeProcess
from gateway_flows import custody_flow, share_flow
from gateway_harness import actor, gateway_client, gateway_settings, run, wait_indexed


def _key(devnet: DevNet, who: str) -> str:
    return str(next(m for m in devnet.keys["members"] if who in m["name"])["private_key"])


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    account = Account.from_key(key)
    message = (await client.post("/v1/auth/challenge", json={"address": account.address})).json()["message"]
    signature = Account.sign_message(encode_defunct(text=message), account.key).signature.hex()
    return await client.post("/v1/auth/token", json={"message": message, "signature": "0x" + signature.removeprefix("0x")})


async def token_of(client: httpx.AsyncClient, key: str) -> dict[str, str]:
    answer = await sign_in(client, key)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_sign_in_and_member_views(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    shared = share_flow(chain, devnet, addressbook)
    lots = custody_flow(chain, devnet, addressbook)
    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test")

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            signed = await sign_in(client, _key(devnet, "Transport"))
            assert signed.status_code == 200, signed.text
            body = signed.json()
            assert body["member"]["name"] == "Municipal Transport Bureau" and "department" in body["member"]["roles"]
            transport = {"Authorization": f"Bearer {body['token']}"}
            health = await token_of(client, _key(devnet, "Health"))
            auditor = await token_of(client, _key(devnet, "Audit NGO"))
            hospital = await token_of(client, _key(devnet, "Hospital"))

            me = (await client.get("/v1/me", headers=transport)).json()
            assert me["kind"] == "Department" and me["status"] == "Active"
            datasets = (await client.get("/v1/datasets", headers=health)).json()["items"]
            assert [d["title"] for d in datasets] == ["Rail and coach travel records"] and datasets[0]["verified"]
            incoming = (await client.get("/v1/requests?direction=incoming", headers=transport)).json()["items"]
            assert [r["id"] for r in incoming] == [shared["request"]]
            request = incoming[0]
            assert request["fields"] == ["name", "train", "date"] and request["requestedFields"][1] == "id_number"
            assert [h["event"] for h in request["history"]] == ["RequestSubmitted", "RequestApproved",
                                                                 "PayloadDelivered", "AccessRecorded", "AccessRecorded"]
            assert all(h["verified"] for h in request["history"])
            outgoing = (await client.get("/v1/requests?direction=outgoing", headers=health)).json()["items"]
            assert [r["id"] for r in outgoing] == [shared["request"]]
            accesses = (await client.get(f"/v1/datasets/{shared['dataset']}/accesses?limit=1", headers=transport)).json()
            assert [a["reason"] for a in accesses["items"]] == ["Tracing cluster 7"] and accesses["next"]
            more = (await client.get(f"/v1/datasets/{shared['dataset']}/accesses?cursor={accesses['next']}",
                                     headers=auditor)).json()
            assert [a["reason"] for a in more["items"]] == ["Tracing cluster 8"] and more["next"] is None
            refused = await client.get(f"/v1/datasets/{shared['dataset']}/accesses", headers=hospital)
            assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden")
            assert (await client.get(f"/v1/requests/{shared['request']}", headers=hospital)).status_code == 403

            stock = (await client.get("/v1/stock", headers=hospital)).json()
            assert [(s["item"], s["held"]) for s in stock["byItem"]] == [("GTIN:06901234567892", 50)]
            everyone = (await client.get("/v1/stock", headers=auditor)).json()
            assert sum(s["held"] for s in everyone["byItem"]) == 840
            assert (await client.get("/v1/stock?member=1", headers=hospital)).status_code == 403
            assert (await client.get("/v1/transit", headers=hospital)).json()["items"] == []
            lot = (await client.get(f"/v1/lots/{lots['child']}", headers=hospital)).json()
            assert lot["losses"] == 10 and all(e["verified"] for e in lot["events"])
            # 10 of 600 lost (1.7 %) is under the 5 % default; the loss alert fires at a lower threshold.
            assert (await client.get("/v1/alerts", headers=auditor)).json()["items"] == []

    run(scenario())


def test_alerts_follow_the_thresholds(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    members = {m["name"]: m["id"] for m in devnet.keys["members"]}
    red_cross = actor(chain, devnet, addressbook, "Red Cross")
    receipt = red_cross.send("SupplyCustody", "registerLot", b"masks".ljust(32, b"\0"), 100, b"box".ljust(32, b"\0"),
                             b"\x01" * 32, "", "bafkdoc", 0)
    lot_id = red_cross.event_args(receipt, "LotRegistered")["lotId"]
    red_cross.send("SupplyCustody", "transfer", lot_id, 100, members["Central Relief Warehouse"])
    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test",
                                alerts={"transit_seconds": 3600, "loss_ratio": 0.01})

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            auditor = await token_of(client, _key(devnet, "Audit NGO"))
            clock = app.state.services.clock
            assert (await client.get("/v1/alerts", headers=auditor)).json()["items"] == []
            app.state.services.clock = lambda: clock() + 7200
            alerts = (await client.get("/v1/alerts", headers=auditor)).json()["items"]
            assert [(a["kind"], a["lotId"]) for a in alerts] == [("in-transit-too-long", lot_id)]
            warehouse = await token_of(client, _key(devnet, "Warehouse"))
            transit = (await client.get("/v1/transit", headers=warehouse)).json()["items"]
            assert [(t["quantity"], t["from"]["name"]) for t in transit] == [(100, "City Red Cross Society")]

    run(scenario())


def test_sign_in_refusals_say_why(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test")

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            stranger = Account.create()
            answer = await sign_in(client, stranger.key.hex())
            assert answer.status_code == 403 and answer.json()["type"].endswith("/not-a-member")

            key = _key(devnet, "Health")
            account = Account.from_key(key)
            message = (await client.post("/v1/auth/challenge", json={"address": account.address})).json()["message"]
            sig = "0x" + Account.sign_message(encode_defunct(text=message), account.key).signature.hex().removeprefix("0x")
            assert (await client.post("/v1/auth/token", json={"message": message, "signature": sig})).status_code == 200
            replay = await client.post("/v1/auth/token", json={"message": message, "signature": sig})
            assert replay.status_code == 401 and replay.json()["reason"] == "replayed"

            message = (await client.post("/v1/auth/challenge", json={"address": account.address})).json()["message"]
            foreign = message.replace("gateway.test", "evil.example")
            sig = "0x" + Account.sign_message(encode_defunct(text=foreign), account.key).signature.hex().removeprefix("0x")
            answer = await client.post("/v1/auth/token", json={"message": foreign, "signature": sig})
            assert answer.status_code == 401 and answer.json()["reason"] == "foreign-domain"

            other = Account.create()
            sig = "0x" + Account.sign_message(encode_defunct(text=message), other.key).signature.hex().removeprefix("0x")
            answer = await client.post("/v1/auth/token", json={"message": message, "signature": sig})
            assert answer.status_code == 401 and answer.json()["reason"] == "bad-signature"

            expired = message.replace("Expiration Time: 20", "Expiration Time: 19")
            sig = "0x" + Account.sign_message(encode_defunct(text=expired), account.key).signature.hex().removeprefix("0x")
            answer = await client.post("/v1/auth/token", json={"message": expired, "signature": sig})
            assert answer.status_code == 401 and answer.json()["reason"] == "expired"

            assert (await client.get("/v1/me")).status_code == 401
            bad = await client.get("/v1/me", headers={"Authorization": "Bearer nonsense"})
            assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
            malformed = await client.post("/v1/auth/challenge", json={"address": "0x12"})
            assert malformed.status_code == 422 and malformed.json()["type"].endswith("/invalid-request")

    run(scenario())


def test_a_suspended_member_loses_access_at_its_next_request(chain: NodeProcess, addressbook: Path, tmp_path: Path,
                                                            devnet: DevNet) -> None:
    settings = gateway_settings(chain, addressbook, tmp_path, public_url="http://gateway.test")
    hospital_id = next(m["id"] for m in devnet.keys["members"] if "Hospital" in m["name"])

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            headers = await token_of(client, _key(devnet, "Hospital"))
            assert (await client.get("/v1/me", headers=headers)).status_code == 200
            admin0, admin1 = actor(chain, devnet, addressbook, "admin:0"), actor(chain, devnet, addressbook, "admin:1")
            receipt = admin0.send("MemberRegistry", "propose", 1, abi_encode(["uint256", "string"], [hospital_id, "audit finding"]))
            admin1.send("MemberRegistry", "approveProposal", admin0.event_args(receipt, "ProposalCreated")["proposalId"])
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            answer = await client.get("/v1/me", headers=headers)
            assert answer.status_code == 403, answer.text
            body: dict[str, Any] = answer.json()
            assert body["member_status"] == "Suspended" and "Suspended" in body["detail"]

    run(scenario())
