"""Documents through the gateway: stored with Kubo-identical CIDs, refused over the limit with
nothing kept, verified block by block on the way out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from conftest import DevNet, NodeProcess
from gateway.payloads.cids import cid_text
from gateway.payloads.unixfs import import_bytes
from gateway_harness import gateway_client, gateway_settings, run, wait_indexed

HEADERS_KEY = "X-CityLedger-Test-Member"


def test_upload_download_limit_and_corruption(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    settings = gateway_settings(chain, addressbook, tmp_path, test_member_header=True,
                                max_upload_bytes=3 * 1024 * 1024)
    member = {HEADERS_KEY: devnet.keys["members"][2]["address"]}

    async def scenario() -> None:
        async with gateway_client(settings) as (app, client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            data = os.urandom(1024 * 1024 + 17)
            stored = await client.post("/v1/payloads", content=data, headers=member)
            assert stored.status_code == 201, stored.text
            body = stored.json()
            assert body["cid"] == cid_text(import_bytes(data, cid_version=1).cid)
            assert body["sha256"] == "0x" + hashlib.sha256(data).hexdigest() and body["size"] == len(data)
            fetched = await client.get(f"/v1/payloads/{body['cid']}")
            assert fetched.status_code == 200 and fetched.content == data
            assert fetched.headers["x-content-cid"] == body["cid"]

            anonymous = await client.post("/v1/payloads", content=b"x")
            assert anonymous.status_code == 401
            too_big = await client.post("/v1/payloads", content=os.urandom(4 * 1024 * 1024), headers=member)
            assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
            assert (await client.get("/v1/payloads/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")).status_code == 404
            assert (await client.get("/v1/payloads/not-a-cid")).status_code in (400, 422)

            # Alter one block file on disk: the read is refused, naming the block.
            blocks = [p for p in (tmp_path / "gw" / "payloads").rglob("*") if p.is_file() and p.stat().st_size == 256 * 1024]
            assert blocks
            raw = bytearray(blocks[0].read_bytes())
            raw[100] ^= 1
            blocks[0].write_bytes(bytes(raw))
            corrupt = await client.get(f"/v1/payloads/{body['cid']}")
            assert corrupt.status_code == 502, corrupt.text
            problem = corrupt.json()
            assert problem["type"].endswith("payload-corrupted") and problem["cid"] == body["cid"] and problem["block_cid"]

    run(scenario())
