"""A demo-like city for the portal's browser tests: a real node process, the address book, a real
``cityledger gateway run`` process, and the scenario played with members' own dev keys through the
flows of ``tests/gateway_flows.py`` (custody with a loss, a refusal and a consumption; a credit entry
and its correction; a donation still in transit; a pending share request; a pending governance
proposal). Each member the browser acts as gets an encrypted keystore (and the health commission
its age key file) written for the browser to open, as a person would.

Run it by hand to try the portal: ``.venv/bin/python tests/portal/portal_city.py`` prints the URL,
the receipt codes and the key files, and keeps both processes up until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from eth_account import Account  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402

from conftest import DevNet, NodeProcess, make_devnet, sealer_process  # noqa: E402
from gateway_flows import credit_flow, custody_flow, sign_share_request  # noqa: E402
from gateway_harness import GatewayProcess, actor, gateway_process, write_addressbook  # noqa: E402

PASSWORD = "correct horse battery staple"
#: Members the browser signs in as (keystore files): the short name used by tests → a name part.
SIGNERS = {"warehouse": "Warehouse", "transport": "Transport", "health": "Health", "regulator": "Market Supervision",
           "redcross": "Red Cross", "admin1": "admin:1"}
USCC = "91350100M000100Y43"


@dataclass
class City:
    node: NodeProcess
    gateway: GatewayProcess
    devnet: DevNet
    addressbook: Path
    workdir: Path
    #: The custody flow's donation (a loss, a refusal, a consumption) and the one still in transit.
    receipt_code: str = ""
    transit_code: str = ""
    transit_transfer: int = 0
    request_id: int = 0
    keystores: dict[str, Path] = field(default_factory=dict)
    age_keys: dict[str, Path] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url

    def member(self, who: str) -> dict[str, Any]:
        part = SIGNERS.get(who, who)
        if part.startswith("admin:"):
            return dict(self.devnet.keys["admins"][int(part.split(":")[1])])
        return dict(next(m for m in self.devnet.keys["members"] if part in m["name"]))

    def head(self) -> int:
        return int(self.node.rpc("eth_blockNumber"), 16)

    def settle(self) -> None:
        """Wait until the gateway has indexed everything sealed so far."""
        self.gateway.wait_indexed(self.head())


def _short_code(receipt_code_hex: str) -> str:
    from gateway.receipt_code import short_code

    return str(short_code(bytes.fromhex(receipt_code_hex.removeprefix("0x"))))


def _b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


def _keystore(key: str, path: Path) -> Path:
    """An encrypted Ethereum keystore (v3, scrypt). A small work factor keeps the browser tests
    quick; a real keystore's takes longer to open and works the same."""
    path.write_text(json.dumps(Account.encrypt(key, PASSWORD, kdf="scrypt", iterations=1 << 10)))
    return path


def play(city: City) -> None:
    """The scenario, with members' own keys over JSON-RPC."""
    node, devnet, book = city.node, city.devnet, city.addressbook
    lots = custody_flow(node, devnet, book)
    red_cross = actor(node, devnet, book, "Red Cross")
    city.facts["custody"] = lots
    city.receipt_code = _short_code("0x" + bytes(red_cross.call("SupplyCustody", "getLot", lots["lot"])[0][13]).hex())
    city.facts["credit"] = credit_flow(node, devnet, book)

    # A second donation, part of it on its way to the warehouse (the clerk accepts it in the browser).
    receipt = red_cross.send("SupplyCustody", "registerLot", _b32("N95 respirators"), 500, _b32("box"),
                             keccak(b"salt|Anonymous"), "", "bafkintakegloves", 0)
    args = red_cross.event_args(receipt, "LotRegistered")
    city.transit_code = _short_code(args["receiptCode"])
    members = {m["name"]: m["id"] for m in devnet.keys["members"]}
    receipt = red_cross.send("SupplyCustody", "transfer", args["lotId"], 200, members["Central Relief Warehouse"])
    city.transit_transfer = int(red_cross.event_args(receipt, "TransferSent")["transferId"])

    # A share request, signed by health (EIP-712) and pending with transport.
    transport = actor(node, devnet, book, "Transport")
    health = actor(node, devnet, book, "Health")
    receipt = transport.send("DataSharing", "registerDataset", "Rail and coach travel records", 2, "bafkschematravel")
    dataset = transport.event_args(receipt, "DatasetRegistered")["datasetId"]
    request = {"datasetId": dataset, "requester": health.address, "purpose": "Close-contact tracing, cluster 12",
               "legalBasis": "Law on the Prevention and Control of Infectious Diseases, art. 12",
               "fields": ["name", "id_number", "train", "date"], "subjectCommitment": "0x" + keccak(b"salt|subjects").hex(),
               "validFrom": 0, "validUntil": 4_000_000_000, "maxAccesses": 3, "nonce": int.from_bytes(os.urandom(8), "big")}
    signature = sign_share_request(health, request, devnet.chain_id, book)
    receipt = health.send("DataSharing", "submitRequest", request, signature)
    city.request_id = int(health.event_args(receipt, "RequestSubmitted")["requestId"])

    # A governance proposal awaiting a second admin: authorise the regulator for commendations.
    from eth_abi import encode as abi_encode

    regulator = city.member("regulator")
    admin0 = actor(node, devnet, book, "admin:0")
    receipt = admin0.send("Credit", "propose", 0, abi_encode(["uint256", "uint8", "bool"], [regulator["id"], 2, True]))
    city.facts["proposal"] = int(admin0.event_args(receipt, "ProposalCreated")["proposalId"])


@contextmanager
def city(workdir: Path) -> Iterator[City]:
    """Start a node and a gateway, play the scenario, write the key files; stop both after."""
    devnet = make_devnet(workdir / "node")
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    gateway: GatewayProcess | None = None
    try:
        book = write_addressbook(node.url, devnet.genesis_path, workdir / "addressbook.json")
        gateway = gateway_process(node.url, workdir / "gateway", book, "--rate-limit", "0")
        gateway.args += ["--public-url", gateway.url]
        gateway.start()
        town = City(node, gateway, devnet, book, workdir)
        play(town)
        keys = workdir / "keys"
        keys.mkdir(exist_ok=True)
        for who in SIGNERS:
            town.keystores[who] = _keystore(town.member(who)["private_key"], keys / f"{who}.keystore.json")
        from gateway.payloads.encryption import key_pair_from_private_key, write_key_file

        for who in ("health", "transport"):
            path = keys / f"{who}.age.key"
            write_key_file(key_pair_from_private_key(town.member(who)["encryption_private_key"]), path)
            town.age_keys[who] = path
        town.settle()
        yield town
    finally:
        if gateway is not None:
            gateway.stop()
        node.stop()


if __name__ == "__main__":
    import tempfile
    import threading

    with tempfile.TemporaryDirectory(prefix="cityledger-portal-") as tmp, city(Path(tmp)) as town:
        print(json.dumps({"url": town.url, "receipt_code": town.receipt_code, "transit_code": town.transit_code,
                          "uscc": USCC, "request": town.request_id, "password": PASSWORD,
                          "keystores": {k: str(v) for k, v in town.keystores.items()},
                          "age_keys": {k: str(v) for k, v in town.age_keys.items()},
                          "addressbook": str(town.addressbook), "genesis": str(town.devnet.genesis_path)}, indent=2), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
