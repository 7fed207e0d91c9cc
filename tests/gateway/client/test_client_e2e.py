"""Every ``cityledger client`` command, end to end, against the session's demo city: a real node
process and a real gateway process (``scripts/start --demo``, tests/demo_harness.py), driven over
HTTP by the command line (run in-process through ``cityledger_cli.run``, output parsed from
``--json``). Members act with the development keys, a keystore, or an account admitted here.

Refusals the product must make are checked where a member meets them: access after revocation,
access beyond the cap, a suspended member's token at its next request, a non-member's sign-in, a
replayed challenge, a relayed transaction from an account that is not the signed-in member.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from cityledger_cli import run
from demo_harness import DemoCity

HEALTH = "Municipal Health Commission"
TRANSPORT = "Municipal Transport Bureau"
RED_CROSS = "City Red Cross Society"
WAREHOUSE = "Central Relief Warehouse"
HOSPITAL = "First People's Hospital"
REGULATOR = "Market Supervision Administration"
ADMIN_1 = "Municipal Big Data Bureau (consortium admin)"
ADMIN_2 = "Municipal Audit Bureau (consortium admin)"
AUDITOR = "Independent Audit NGO"


class Cli:
    """``cityledger client`` run in-process against the demo city; captured output."""

    def __init__(self, city: DemoCity, capsys: pytest.CaptureFixture[str]) -> None:
        self.city = city
        self.capsys = capsys
        self.cache = city.root / "client-cache"

    def __call__(self, *args: str, member: str | None = None, keystore: Path | None = None,
                 password_file: Path | None = None, expect: int = 0) -> tuple[str, str]:
        argv = ["--gateway", self.city.gateway, "--cache-dir", str(self.cache)]
        if member is not None:
            argv += ["--dev-keys", str(self.city.keys), "--member", member]
        if keystore is not None:
            argv += ["--keystore", str(keystore)]
        if password_file is not None:
            argv += ["--password-file", str(password_file)]
        self.capsys.readouterr()
        code = run("client", argv + list(args))
        out, err = self.capsys.readouterr()
        assert code == expect, f"cityledger client {' '.join(args)} → {code}, expected {expect}\n{out}\n{err}"
        return out, err

    def json(self, *args: str, **kw: Any) -> Any:
        out, _ = self(*args, "--json", **kw)
        return json.loads(out)


@pytest.fixture
def cli(demo_city: DemoCity, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(demo_city, capsys)


def dev_key(city: DemoCity, name: str) -> dict[str, Any]:
    keys = json.loads(city.keys.read_text())
    return dict(next(e for e in keys["members"] + keys["admins"] if e["name"] == name))


def keystore_of(tmp_path: Path, private_key: str | bytes, password: str = "correct horse") -> tuple[Path, Path]:
    path, secret = tmp_path / f"keystore-{os.urandom(4).hex()}.json", tmp_path / "password.txt"
    path.write_text(json.dumps(Account.encrypt(private_key, password, kdf="pbkdf2", iterations=1000)))
    secret.write_text(password + "\n")
    return path, secret


# ------------------------------------------------------------------------------------ sign-in
def test_sign_in_with_a_keystore_and_the_refusals_a_stranger_meets(cli: Cli, demo_city: DemoCity, tmp_path: Path) -> None:
    health = dev_key(demo_city, HEALTH)
    keystore, password = keystore_of(tmp_path, health["private_key"])
    signed = cli.json("sign-in", "--force", keystore=keystore, password_file=password)
    assert signed["member"]["name"] == HEALTH and "department" in signed["member"]["roles"]
    tokens = list((cli.cache / "tokens").glob("*.json"))
    assert tokens and all(stat.S_IMODE(t.stat().st_mode) == 0o600 for t in tokens)
    assert stat.S_IMODE((cli.cache / "tokens").stat().st_mode) == 0o700
    # A cached token the gateway no longer knows (or that expired) is replaced by a new sign-in.
    for token in tokens:
        cached = json.loads(token.read_text())
        if cached["account"] == health["address"]:
            token.write_text(json.dumps({**cached, "token": "revoked-or-expired"}))
            stale = token
    assert cli.json("requests", keystore=keystore, password_file=password)["proofsChecked"] >= 0
    assert json.loads(stale.read_text())["token"] not in ("revoked-or-expired", signed.get("token"))

    # A wrong password is bad input (2); a key that is no member's is refused by the gateway (1).
    (tmp_path / "wrong.txt").write_text("wrong")
    _, err = cli("sign-in", keystore=keystore, password_file=tmp_path / "wrong.txt", expect=2)
    assert "cannot unlock the keystore" in err
    stranger, stranger_password = keystore_of(tmp_path, Account.create().key)
    _, err = cli("sign-in", keystore=stranger, password_file=stranger_password, expect=1)
    assert "403 not-a-member" in err and "is not an account of any member" in err

    # A replayed challenge is refused (401, reason "replayed").
    account = Account.from_key(health["private_key"])
    with httpx.Client(base_url=demo_city.gateway) as http:
        message = http.post("/v1/auth/challenge", json={"address": account.address}).json()["message"]
        signature = "0x" + Account.sign_message(encode_defunct(text=message), account.key).signature.hex().removeprefix("0x")
        assert http.post("/v1/auth/token", json={"message": message, "signature": signature}).status_code == 200
        replay = http.post("/v1/auth/token", json={"message": message, "signature": signature})
        assert replay.status_code == 401 and replay.json()["reason"] == "replayed"


def test_the_client_signs_no_challenge_for_another_host(demo_city: DemoCity, tmp_path: Path) -> None:
    from gateway.client.api import GatewayClient
    from gateway.client.errors import VerificationFailed
    from gateway.client.keys import from_dev_keys

    aliased = demo_city.gateway.replace("127.0.0.1", "localhost")
    with GatewayClient(aliased, from_dev_keys(demo_city.keys, HEALTH), cache_dir=tmp_path) as client:
        with pytest.raises(VerificationFailed, match="the challenge is for '127.0.0.1:"):
            client.sign_in()


def test_a_transaction_signed_by_another_account_is_not_relayed(demo_city: DemoCity, tmp_path: Path) -> None:
    from gateway.client.api import GatewayClient
    from gateway.client.errors import GatewayRefused
    from gateway.client.keys import from_dev_keys
    from gateway.client.transactions import Signer

    with GatewayClient(demo_city.gateway, from_dev_keys(demo_city.keys, HEALTH), cache_dir=tmp_path) as client:
        client.sign_in()
        transport = Signer(dev_key(demo_city, TRANSPORT)["private_key"], client.book.chain_id)
        to, data = client.builder.call("DataSharing", "registerDataset", ["Smuggled dataset", 0, "bafkschema"])
        nonce = int(client.get(f"/v1/accounts/{transport.address}/nonce")["nonce"])
        raw = transport.sign(to, data, nonce=nonce, gas=3_000_000)
        with pytest.raises(GatewayRefused) as refused:
            client.post("/v1/tx", {"transaction": "0x" + raw.hex()}, auth=True)
        assert refused.value.http_status == 422 and refused.value.problem["reason"] == "sender"
        assert int(client.get(f"/v1/accounts/{transport.address}/nonce")["nonce"]) == nonce  # nothing was sent


# ------------------------------------------------------------------------------------ data sharing
def test_request_narrow_approve_deliver_fetch_then_the_cap_and_a_revocation(cli: Cli, demo_city: DemoCity,
                                                                           tmp_path: Path) -> None:
    from eth_hash.auto import keccak

    schema = tmp_path / "schema.json"
    schema.write_text('{"fields": ["name", "plate", "route", "time"]}\n')
    registered = cli.json("datasets", "register", "Bus card taps", "--classification", "sensitive", "--schema",
                          str(schema), member=TRANSPORT)
    dataset = registered["datasetId"]
    listed = cli.json("datasets", member=HEALTH)
    assert dataset in [d["id"] for d in listed["items"]] and listed["proofsChecked"] >= len(listed["items"])

    subjects = tmp_path / "subjects.txt"
    subjects.write_text("330106199001011234\n330106198512125678\n")
    asked = cli.json("request", str(dataset), "--purpose", "Contact tracing, cluster 12", "--legal-basis",
                     "Infectious Diseases Law art. 12", "--field", "name", "--field", "plate", "--field", "route",
                     "--field", "time", "--subjects", str(subjects), "--max-accesses", "4", "--valid-until", "+10d",
                     member=HEALTH)
    grant = asked["requestId"]
    kept = json.loads((tmp_path / "subjects.txt.commitment.json").read_text())
    assert stat.S_IMODE((tmp_path / "subjects.txt.commitment.json").stat().st_mode) == 0o600
    salt = bytes.fromhex(kept["salt"][2:])
    assert "0x" + keccak(salt + b"330106199001011234\n330106198512125678").hex() == kept["commitment"]
    assert asked["request"]["subjectCommitment"] == kept["commitment"]

    incoming = cli.json("requests", "--direction", "incoming", "--status", "Pending", member=TRANSPORT)
    assert grant in [r["id"] for r in incoming["items"]]
    approved = cli.json("approve", str(grant), "--fields", "name,route,time", "--max-accesses", "2",
                        "--valid-until", "+5d", member=TRANSPORT)
    terms = next(e["args"] for e in approved["events"] if e["event"] == "RequestApproved")
    assert terms["fields"] == ["name", "route", "time"] and terms["maxAccesses"] == 2
    # Wider than asked is refused by the contract, by name.
    _, err = cli("approve", str(grant), member=TRANSPORT, expect=1)
    assert "DataSharingInvalidStatus" in err

    plaintext = tmp_path / "taps.csv"
    plaintext.write_bytes(b"name,route,time\n" + b"Li Lei,B12,2026-11-03T08:15\n" * 5000)
    delivered = cli.json("deliver", str(grant), str(plaintext), member=TRANSPORT)
    assert delivered["plaintextCommitment"] == "0x" + keccak(plaintext.read_bytes()).hex()
    assert delivered["events"][0]["args"]["cid"] == delivered["cid"]
    # The ciphertext is not a public document, and only the grantee may fetch.
    assert httpx.get(f"{demo_city.gateway}/v1/payloads/{delivered['cid']}").status_code == 403
    _, err = cli("fetch", str(grant), "--out", str(tmp_path / "x"), member=WAREHOUSE, expect=1)
    assert "403 forbidden" in err

    for n in (1, 2):
        out = tmp_path / f"taps-{n}.csv"
        fetched = cli.json("fetch", str(grant), "--out", str(out), "--reason", f"tracing pass {n}", member=HEALTH)
        assert out.read_bytes() == plaintext.read_bytes() and fetched["accessCount"] == n
    # The cap is 2: the third access is refused and the refusal is on chain.
    _, err = cli("fetch", str(grant), "--out", str(tmp_path / "taps-3.csv"), "--reason", "tracing pass 3",
                 member=HEALTH, expect=1)
    assert "DataSharingAccessCapReached" in err and not (tmp_path / "taps-3.csv").exists()
    log = cli.json("datasets", "accesses", str(dataset), member=TRANSPORT)
    assert [(a["refused"], a["reason"]) for a in log["items"]] == [
        (False, "tracing pass 1"), (False, "tracing pass 2"), (True, "tracing pass 3")]
    assert log["items"][2]["state"] == "CapReached" and log["proofsChecked"] == 3
    _, err = cli("datasets", "accesses", str(dataset), member=HOSPITAL, expect=1)
    assert "403 forbidden" in err
    assert len(cli.json("datasets", "accesses", str(dataset), member=AUDITOR)["items"]) == 3

    # A second grant, revoked after delivery: the access is refused (GrantRevoked), recorded.
    second = cli.json("request", str(dataset), "--purpose", "Follow-up", "--legal-basis", "Infectious Diseases Law",
                      "--field", "route", member=HEALTH)["requestId"]
    cli.json("approve", str(second), member=TRANSPORT)
    cli.json("deliver", str(second), str(plaintext), member=TRANSPORT)
    cli.json("revoke", str(second), "--reason", "purpose fulfilled", member=TRANSPORT)
    _, err = cli("fetch", str(second), "--out", str(tmp_path / "late.csv"), member=HEALTH, expect=1)
    assert "DataSharingGrantRevoked" in err and "recorded on chain" in err

    # A third, rejected.
    third = cli.json("request", str(dataset), "--purpose", "Everything", "--legal-basis", "none", "--field", "name",
                     member=HEALTH)["requestId"]
    rejected = cli.json("reject", str(third), "--reason", "no legal basis", member=TRANSPORT)
    assert rejected["events"][0]["event"] == "RequestRejected"
    statuses = {r["id"]: r["status"] for r in cli.json("requests", "--direction", "outgoing", member=HEALTH)["items"]}
    assert (statuses[grant], statuses[second], statuses[third]) == ("Granted", "Revoked", "Rejected")


# ------------------------------------------------------------------------------------ custody
def test_a_lot_from_registration_to_consumption(cli: Cli, demo_city: DemoCity, tmp_path: Path) -> None:
    letter = tmp_path / "letter.txt"
    letter.write_text("Donation of 100 thermometers\n")
    lot = cli.json("lot", "register", "--item", "thermometer", "--quantity", "100", "--unit", "piece", "--donor",
                   "Ms. Wang", "--public-name", "王女士", "--documents", str(letter), "--expiry", "2030-01-01",
                   member=RED_CROSS)
    code = lot["receiptCode"]
    sent = cli.json("lot", "transfer", str(lot["lotId"]), "100", "--to", WAREHOUSE, member=RED_CROSS)
    accepted = cli.json("lot", "accept", str(sent["transferId"]), "--received", "90", "--loss-reason", "one box crushed",
                        member=WAREHOUSE)
    assert accepted["lost"] == 10
    _, err = cli("lot", "accept", str(sent["transferId"]), "--received", "90", member=WAREHOUSE, expect=1)
    assert "transaction-reverted" in err
    refused = cli.json("lot", "transfer", str(lot["lotId"]), "40", "--to", HOSPITAL, member=WAREHOUSE)
    cli.json("lot", "refuse", str(refused["transferId"]), "--reason", "not ordered", member=HOSPITAL)
    part = cli.json("lot", "transfer", str(lot["lotId"]), "30", "--to", "9", member=WAREHOUSE)
    assert part["lotId"] != lot["lotId"] and part["to"]["name"] == HOSPITAL
    cli.json("lot", "accept", str(part["transferId"]), "--received", "30", member=HOSPITAL)
    cli.json("lot", "consume", str(part["lotId"]), "10", "--documents", str(letter), member=HOSPITAL)

    traced = cli.json("trace", code.lower().replace("-", ""))  # as typed by a donor: no key, lower case
    assert traced["receiptCode"] == code and traced["donor"]["publicName"] == "王女士"
    assert traced["totals"] == {"donated": 100, "consumed": 10, "lost": 10, "held": 80, "inTransit": 0}
    kinds = [e["kind"] for e in traced["events"]]
    assert kinds.count("TransferRefused") == 1 and kinds[-1] == "LotConsumed"
    assert traced["proofsChecked"] == len(traced["events"])
    shown = cli.json("lot", "show", str(lot["lotId"]), member=WAREHOUSE)
    assert shown["losses"] == 10 and shown["held"] == 20  # 40 went to a child lot (refused, back at the warehouse)
    stock = cli.json("lot", "stock", member=HOSPITAL)
    assert {"item": "thermometer", "held": 20} in [{"item": s["item"], "held": s["held"]} for s in stock["stock"]["byItem"]]
    _, err = cli("trace", "0000-0000-0000-0", expect=1)
    assert "404" in err
    _, err = cli("trace", "not a code", expect=2)
    assert "receipt code" in err


# ------------------------------------------------------------------------------------ credit
def test_authorise_issue_correct_revoke_and_a_batch(cli: Cli, demo_city: DemoCity, tmp_path: Path) -> None:
    proposed = cli.json("governance", "authorise-issuer", REGULATOR, "License", member=ADMIN_1)
    assert proposed["executed"] is False
    pending = cli.json("governance", "proposals", "--pending", member=ADMIN_2)
    assert proposed["proposalId"] in [p["id"] for p in pending["items"] if p["contract"] == "Credit"]
    assert cli.json("governance", "approve", str(proposed["proposalId"]), "--contract", "Credit", member=ADMIN_2)["executed"]

    subject = demo_city.doc["uscc"][1]
    issued = cli.json("credit", "issue", subject, "--category", "License", "--severity", "0", "--effective",
                      "2026-01-01", "--amount", "0", "--summary", "Medical device business licence", member=REGULATOR)
    corrected = cli.json("credit", "correct", str(issued["entryId"]), "--reason", "licence number typo",
                         "--summary", "Medical device business licence No. 2", member=REGULATOR)
    revoked = cli.json("credit", "revoke", str(corrected["entryId"]), "--reason", "licence withdrawn", member=REGULATOR)
    history = cli.json("credit", "show", subject)
    ours = [e for e in history["entries"] if e["id"] in (issued["entryId"], corrected["entryId"], revoked["entryId"])]
    assert [e["action"] for e in ours] == ["Issue", "Supersede", "Revoke"]
    assert ours[1]["summaryHash"] != ours[0]["summaryHash"] and ours[1]["amount"] == ours[0]["amount"]
    assert revoked["entryId"] not in history["current"] and history["proofsChecked"] == len(history["entries"])
    _, err = cli("credit", "issue", subject, "--category", "Penalty", "--effective", "2026-01-01", "--summary", "x",
                 member=HOSPITAL, expect=1)
    assert "Credit" in err and "reverted" in err
    _, err = cli("credit", "show", "91350100M000100Y44", expect=2)
    assert "check character" in err

    from cityledger_demo import uscc

    header = "uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + f"{uscc('330102', 1)},1,2026-01-01,,100,ok,,public\n"
                   + "91350100M000100Y44,1,2026-01-01,,100,bad check character,,public\n"
                   + f"{uscc('330102', 2)},1,2026-13-01,,100,bad date,,public\n")
    out, err = cli("credit", "batch", str(bad), "--category", "License", "--json", member=REGULATOR, expect=1)
    report = json.loads(out)
    assert report["rejectedRows"] == 2 and [r["line"] for r in report["rows"]] == [3, 4]
    good = tmp_path / "good.csv"
    good.write_text(header + "".join(f"{uscc('330102', 10 + i)},{i % 3},2026-02-01,2027-02-01,{i * 100},licence {i},,public\n"
                                     for i in range(37)))
    batch = cli.json("credit", "batch", str(good), "--category", "License", member=REGULATOR)
    assert batch["entryCount"] == 37
    anchored = httpx.get(f"{demo_city.gateway}/v1/credit/batches/{batch['batchId']}").json()
    assert (anchored["merkleRoot"], anchored["entryCount"], anchored["batchFileCid"]) == (
        batch["merkleRoot"], 37, batch["batchFileCid"])
    lines = httpx.get(f"{demo_city.gateway}/v1/payloads/{batch['batchFileCid']}").content.decode().splitlines()
    assert len(lines) == 37 and json.loads(lines[5])["amount"] == "500"


# ------------------------------------------------------------------------------------ governance
def test_a_suspended_members_token_is_refused_at_its_next_request(cli: Cli, demo_city: DemoCity, tmp_path: Path) -> None:
    newcomer = Account.create()
    keystore, password = keystore_of(tmp_path, newcomer.key)
    proposed = cli.json("governance", "admit", "--name", "县人民医院 County People's Hospital", "--kind", "hospital",
                        "--level", "district", "--account", newcomer.address, member=ADMIN_1)
    cli.json("governance", "approve", str(proposed["proposalId"]), "--contract", "MemberRegistry", member=ADMIN_2)
    signed = cli.json("sign-in", keystore=keystore, password_file=password)
    member_id = signed["member"]["id"]
    assert signed["member"]["name"] == "县人民医院 County People's Hospital"
    assert cli.json("lot", "stock", keystore=keystore, password_file=password)["stock"]["lots"] == []

    suspended = cli.json("governance", "suspend", str(member_id), "--reason", "licence withdrawn", member=ADMIN_1)
    cli.json("governance", "approve", str(suspended["proposalId"]), "--contract", "MemberRegistry", member=ADMIN_2)
    # The cached token is still unexpired; the gateway re-reads the registry at its next request.
    _, err = cli("lot", "stock", keystore=keystore, password_file=password, expect=1)
    assert "403 not-a-member" in err and "Suspended" in err
    _, err = cli("sign-in", "--force", keystore=keystore, password_file=password, expect=1)
    assert "Suspended" in err


# ------------------------------------------------------------------------------------ proofs
def test_verify_proof_checks_records_and_bundles_and_names_what_fails(cli: Cli, demo_city: DemoCity,
                                                                      tmp_path: Path) -> None:
    code = demo_city.doc["short_delivery_receipt_code"]
    record = tmp_path / "trace.json"
    record.write_text(httpx.get(f"{demo_city.gateway}/v1/trace/{code}").text)
    assert cli.json("verify-proof", str(record))["proofsChecked"] >= 10
    doc = json.loads(record.read_text())
    accepted = next(e for e in doc["events"] if e["kind"] == "TransferAccepted")
    accepted["kind"] = "LotConsumed"  # the record claims another event than the proof proves
    record.write_text(json.dumps(doc))
    _, err = cli("verify-proof", str(record), expect=1)
    assert "log-content" in err

    bundle = tmp_path / "bundle.json"
    bundle.write_text(httpx.get(f"{demo_city.gateway}/v1/evidence/trace/{code}").text)
    report = cli.json("verify-proof", str(bundle))
    assert report["ok"] and {r["check"] for r in report["results"]} == {"genesis", "event"}
    tampered = json.loads(bundle.read_text())
    node = tampered["events"][1]["proof"]["receiptProof"][0]
    tampered["events"][1]["proof"]["receiptProof"][0] = node[:-2] + ("00" if node[-2:] != "00" else "01")
    tampered["genesis"]["blockHash"] = "0x" + "11" * 32
    bundle.write_text(json.dumps(tampered))
    out, err = cli("verify-proof", str(bundle), "--json", expect=1)
    failed = {r["check"] for r in json.loads(out)["results"] if not r["ok"]}
    assert {"genesis", "receipt-proof"} <= failed


def test_the_client_believes_no_tampered_answer(demo_city: DemoCity, tmp_path: Path) -> None:
    """The checks behind every command, on real answers altered the ways a lying gateway would."""
    from gateway.client.api import GatewayClient
    from gateway.client.errors import VerificationFailed
    from gateway.client.keys import from_dev_keys
    from gateway.client.verify import ProofChecker

    with GatewayClient(demo_city.gateway, from_dev_keys(demo_city.keys, RED_CROSS), cache_dir=tmp_path) as client:
        answer = client.get(f"/v1/trace/{demo_city.doc['refused_delivery_receipt_code']}")
        assert client.checker.answer(answer).proofs == len(answer["events"])

        def fails(doc: Any, check: str, checker: ProofChecker | None = None) -> None:
            with pytest.raises(VerificationFailed) as failure:
                (checker or client.checker).answer(doc)
            assert failure.value.check == check, failure.value

        changed = json.loads(json.dumps(answer))
        proof = changed["events"][2]["proof"]
        proof["header"] = proof["header"][:-4] + "0000"
        fails(changed, "header-hash")
        changed = json.loads(json.dumps(answer))
        changed["events"][2]["proof"]["txIndex"] += 1
        fails(changed, "tx-proof")
        changed = json.loads(json.dumps(answer))
        changed["events"][2]["proof"]["logIndex"] = 9
        fails(changed, "log-index")
        changed = json.loads(json.dumps(answer))
        changed["events"][2]["proof"]["chainId"] = 1
        fails(changed, "format")
        strangers = ProofChecker(client.book, client.codec, [bytes(20)], True)
        fails(answer, "seal", strangers)

        # A relayed write: the proven transaction must be the one signed here, with the stated events.
        client.sign_in()
        raw = client.sign_call("SupplyCustody", "registerLot", [b"gloves".ljust(32, b"\0"), 10, b"box".ljust(32, b"\0"),
                                                                hashlib.sha256(b"donor").digest(), "", "bafkdocs", 0],
                               nonce=client.nonce())
        answer = client.post("/v1/tx", {"transaction": "0x" + raw.hex()}, auth=True)
        assert client.check_relayed(answer, raw, "SupplyCustody", "registerLot").event("LotRegistered")["quantity"] == 10
        other = client.sign_call("SupplyCustody", "consume", [1, 1, ""], nonce=0)
        with pytest.raises(VerificationFailed) as failure:
            client.check_relayed(answer, other, "SupplyCustody", "consume")
        assert failure.value.check == "tx-hash"
        forged = json.loads(json.dumps(answer))
        forged["events"][0]["args"]["quantity"] = 1_000_000
        with pytest.raises(VerificationFailed) as failure:
            client.check_relayed(forged, raw, "SupplyCustody", "registerLot")
        assert failure.value.check == "log-content"
