"""The demo city, played through the real gateway by the members' client (``cityledger up --demo``).

Every step is what a member would do with ``cityledger client``: the same functions
(``gateway.client.member``, ``gateway.client.batch``), each member signing with its own key from
the development keys file, every write relayed by the gateway and every answer's proofs checked.
Nothing is written to the index or sent to the node directly.

Three stories run side by side (their members never share a key, so their transactions interleave
in the same blocks):

* **Data sharing** — the health commission asks the transport bureau for rail and coach travel
  records (named purpose and legal basis, a committed subject list); transport narrows the fields,
  validity and cap, approves, delivers the records encrypted to the commission's key, and the
  commission fetches and decrypts them. The telecom regulator grants roaming statistics and later
  revokes the grant; it rejects public security's request for raw signalling data.
* **Supply custody** — donated masks and protective suits go from the Red Cross through the
  emergency logistics company to the relief warehouse and on to two hospitals; one delivery
  arrives short (a loss with a reason), one is refused (the goods return to the warehouse); the
  hospitals record what they used.
* **Credit** — two admins authorise the market-supervision regulator by M-of-N for two categories;
  it issues three entries, corrects one, revokes one, and anchors a batch of 10,000 entries.

What a person needs to try each flow by hand is written to ``DIR/demo.json``.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.client import member as m
from gateway.client.api import GatewayClient
from gateway.client.batch import anchor_csv
from gateway.client.keys import from_dev_keys
from gateway.uscc import check_character

BATCH_SIZE = 10_000
HEALTH = "Municipal Health Commission"
TRANSPORT = "Municipal Transport Bureau"
TELECOM = "telecom regulator"
POLICE = "Public Security Bureau"
RED_CROSS = "City Red Cross Society"
LOGISTICS = "City Emergency Logistics"
WAREHOUSE = "Central Relief Warehouse"
HOSPITAL_1 = "First People's Hospital"
HOSPITAL_2 = "Second People's Hospital"
REGULATOR = "Market Supervision Administration"
ADMIN_1 = "Municipal Big Data Bureau (consortium admin)"
ADMIN_2 = "Municipal Audit Bureau (consortium admin)"


def uscc(region: str, serial: int) -> str:
    """A valid USCC (GB 32100-2015 check character) for an enterprise registered in ``region``."""
    body = f"91{region}{serial:08d}X"[:17]
    return body + check_character(body)


@dataclass
class Demo:
    """One run of the demo against a gateway."""

    gateway: str
    keys: Path
    data_dir: Path
    say: Callable[[str], None] = print
    batch_size: int = BATCH_SIZE

    def __post_init__(self) -> None:
        self.files = self.data_dir / "demo"
        self.files.mkdir(parents=True, exist_ok=True)
        self.cache = self.data_dir / "client-cache"
        self._lock = threading.Lock()
        self._clients: list[GatewayClient] = []

    def client(self, who: str) -> GatewayClient:
        client = GatewayClient(self.gateway, from_dev_keys(self.keys, who), cache_dir=self.cache)
        with self._lock:
            self._clients.append(client)
        return client

    def step(self, text: str) -> None:
        with self._lock:
            self.say(f"  ✓ {text}")

    def run(self) -> dict[str, Any]:
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="demo")
        try:
            sharing = pool.submit(self.data_sharing)
            custody = pool.submit(self.supply_custody)
            credit = pool.submit(self.credit)
            results = {"sharing": sharing.result(), "custody": custody.result(), "credit": credit.result()}
        except BaseException:
            # Interrupted, or one story failed: do not wait for the others to play out.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            with self._lock:
                clients = list(self._clients)
            for client in clients:
                client.close()
        pool.shutdown()
        return results

    # ------------------------------------------------------------------------ data sharing
    def data_sharing(self) -> dict[str, Any]:
        transport, health = self.client(TRANSPORT), self.client(HEALTH)
        telecom, police = self.client(TELECOM), self.client(POLICE)
        schema = self.files / "travel-records.schema.json"
        schema.write_text(json.dumps({
            "title": "Rail and coach travel records", "type": "object",
            "properties": {f: {"type": "string"} for f in ("name", "id_number", "phone", "train", "date", "seat",
                                                           "from", "to")}}, indent=2) + "\n")
        schema_cid = m.documents_cid(transport, schema, None)
        dataset = int(m.register_dataset(transport, "铁路和长途客运出行记录 Rail and coach travel records", "sensitive",
                                         schema_cid).event("DatasetRegistered")["datasetId"])
        self.step(f"transport bureau published dataset {dataset} (travel records, sensitive)")

        rng = random.Random(7)
        subjects = self.files / "cluster-7-subjects.txt"
        ids = [f"3301{rng.randrange(10**13, 10**14)}" for _ in range(12)]
        subjects.write_text("\n".join(ids) + "\n")
        asked = m.submit_request(
            health, dataset, "密切接触者追踪 Close-contact tracing of confirmed case cluster 7",
            "《中华人民共和国传染病防治法》第十二条 Law on the Prevention and Control of Infectious Diseases, art. 12",
            ["name", "id_number", "phone", "train", "date", "seat"], subjects=subjects,
            valid_until=m.parse_when("+30d"), max_accesses=10)
        grant = asked.request_id
        self.step(f"health commission requested it (request {grant}: 6 fields, 30 days, 10 accesses; "
                  "subject list committed, salt kept locally)")
        m.approve(transport, grant, fields=["name", "train", "date", "seat"], valid_until=m.parse_when("+14d"),
                  max_accesses=5)
        self.step(f"transport narrowed request {grant} to 4 fields, 14 days, 5 accesses and approved it")
        records = self.files / "travel-records.csv"
        lines = ["name,train,date,seat"]
        for i in range(400):
            lines.append(f"{rng.choice('张王李赵刘陈杨黄')}{rng.choice('伟芳娜敏静丽强磊军洋')},"
                         f"G{rng.randrange(100, 9999)},2026-11-{rng.randrange(1, 29):02d},"
                         f"{rng.randrange(1, 17):02d}{rng.choice('ABCDF')}")
        records.write_text("\n".join(lines) + "\n", encoding="utf-8")
        delivered = m.deliver(transport, grant, records)
        self.step(f"transport delivered {records.name} encrypted to the health commission's key ({delivered.cid})")
        fetched_to = self.files / "travel-records.fetched.csv"
        fetched = m.fetch(health, grant, fetched_to, "tracing cluster 7: first pass")
        self.step(f"health commission fetched grant {grant}: access {fetched.access_count} recorded, "
                  f"{fetched.size:,} bytes decrypted and checked")

        roaming_schema = self.files / "roaming-statistics.schema.json"
        roaming_schema.write_text(json.dumps({"title": "Base-station roaming statistics", "fields": [
            "district", "day", "arrivals"]}) + "\n")
        roaming = int(m.register_dataset(telecom, "基站漫游统计（聚合） Base-station roaming statistics (aggregated)",
                                         "internal", m.documents_cid(telecom, roaming_schema, None))
                      .event("DatasetRegistered")["datasetId"])
        asked2 = m.submit_request(health, roaming, "入境人员健康监测 Health monitoring of arrivals from affected areas",
                                  "《突发公共卫生事件应急条例》第二十一条 Regulations on Public Health Emergencies, art. 21",
                                  ["district", "day", "arrivals"], valid_until=m.parse_when("+7d"), max_accesses=3)
        m.approve(telecom, asked2.request_id)
        stats = self.files / "roaming-statistics.csv"
        stats.write_text("district,day,arrivals\n" + "".join(
            f"{d},2026-11-{day:02d},{rng.randrange(50, 900)}\n" for d in ("上城区", "西湖区", "滨江区") for day in (1, 2, 3)))
        m.deliver(telecom, asked2.request_id, stats)
        m.fetch(health, asked2.request_id, self.files / "roaming-statistics.fetched.csv", "daily monitoring report")
        m.revoke(telecom, asked2.request_id, "monitoring period ended")
        self.step(f"telecom regulator granted, delivered and then revoked grant {asked2.request_id} (roaming statistics)")

        signalling_schema = self.files / "signalling.schema.json"
        signalling_schema.write_text(json.dumps({"title": "Raw mobile signalling records", "fields": [
            "msisdn", "cell", "time"]}) + "\n")
        signalling = int(m.register_dataset(telecom, "手机信令原始记录 Raw mobile signalling records", "personal",
                                            m.documents_cid(telecom, signalling_schema, None))
                         .event("DatasetRegistered")["datasetId"])
        asked3 = m.submit_request(police, signalling, "人员流动分析 Population movement analysis",
                                  "内部通知 internal notice 2026-118", ["msisdn", "cell", "time"],
                                  valid_until=m.parse_when("+30d"), max_accesses=100)
        m.reject(telecom, asked3.request_id, "no statutory basis for bulk personal location data")
        self.step(f"telecom regulator rejected public security's request {asked3.request_id} (raw signalling)")
        return {"grants": [
            {"id": grant, "dataset": dataset, "requester": HEALTH, "owner": TRANSPORT, "status": "Granted",
             "fields": ["name", "train", "date", "seat"], "maxAccesses": 5, "cid": delivered.cid,
             "plaintext": str(records), "subjects": str(subjects), "subjectCommitment": str(asked.commitment_file)},
            {"id": asked2.request_id, "dataset": roaming, "requester": HEALTH, "owner": "telecom regulator",
             "status": "Revoked"},
            {"id": asked3.request_id, "dataset": signalling, "requester": "public security", "owner": "telecom regulator",
             "status": "Rejected"},
        ], "datasets": [dataset, roaming, signalling]}

    # ------------------------------------------------------------------------ supply custody
    def supply_custody(self) -> dict[str, Any]:
        red_cross, logistics, warehouse = self.client(RED_CROSS), self.client(LOGISTICS), self.client(WAREHOUSE)
        first, second = self.client(HOSPITAL_1), self.client(HOSPITAL_2)
        letter = self.files / "donation-letter.txt"
        letter.write_text("捐赠函 Donation letter: 10,000 KN95 masks for the city's hospitals, "
                          "from Zhejiang Huaxin Textile Co., Ltd.\n", encoding="utf-8")
        docs = m.documents_cid(red_cross, letter, None)
        masks = m.register_lot(red_cross, "GTIN:06901234567892", 10_000, "piece", "Zhejiang Huaxin Textile Co., Ltd.",
                               public_name="华信纺织 Huaxin Textile", documents=docs, expiry=m.parse_when("2028-12-31"))
        receipt = self.files / "suits-intake-receipt.txt"
        receipt.write_text("入库单 Intake receipt: 2,000 medical protective suits, anonymous donation\n", encoding="utf-8")
        suits = m.register_lot(red_cross, "GTIN:06901234567908", 2_000, "piece", "a private donor",
                               documents=m.documents_cid(red_cross, receipt, None), expiry=m.parse_when("2029-06-30"))
        self.step(f"Red Cross registered masks (lot {masks.lot_id}, receipt {masks.receipt_code}) and protective "
                  f"suits (lot {suits.lot_id}, receipt {suits.receipt_code})")

        sent, _ = m.transfer(red_cross, masks.lot_id, 8_000, LOGISTICS)
        moving = sent.event("TransferSent")
        m.accept(logistics, int(moving["transferId"]), 8_000)
        sent, _ = m.transfer(logistics, int(moving["lotId"]), 8_000, WAREHOUSE)
        short = sent.event("TransferSent")
        m.accept(warehouse, int(short["transferId"]), 7_950, "50 masks water-damaged in the truck (rain at the depot)")
        at_warehouse = int(short["lotId"])
        self.step(f"masks: Red Cross → logistics (8,000) → warehouse, accepted 7,950 of 8,000 "
                  f"(short delivery, transfer {short['transferId']})")
        sent, _ = m.transfer(warehouse, at_warehouse, 3_000, HOSPITAL_1)
        to_first = sent.event("TransferSent")
        m.accept(first, int(to_first["transferId"]), 3_000)
        ward = self.files / "ward-distribution-masks.txt"
        ward.write_text("发放记录 Distribution: 1,200 masks to the fever clinic and ICU, week 45\n", encoding="utf-8")
        m.consume(first, int(to_first["lotId"]), 1_200, m.documents_cid(first, ward, None))
        sent, _ = m.transfer(warehouse, at_warehouse, 2_000, HOSPITAL_2)
        to_second = sent.event("TransferSent")
        m.accept(second, int(to_second["transferId"]), 2_000)
        self.step("masks: warehouse → First People's Hospital (3,000; 1,200 used) and Second People's Hospital (2,000)")

        sent, _ = m.transfer(red_cross, suits.lot_id, 2_000, WAREHOUSE)
        suits_in = sent.event("TransferSent")
        m.accept(warehouse, int(suits_in["transferId"]), 2_000)
        sent, _ = m.transfer(warehouse, suits.lot_id, 500, HOSPITAL_2)
        refused = sent.event("TransferSent")
        m.refuse(second, int(refused["transferId"]), "wrong size: ordered L, received S")
        sent, _ = m.transfer(warehouse, suits.lot_id, 800, HOSPITAL_1)
        suits_first = sent.event("TransferSent")
        m.accept(first, int(suits_first["transferId"]), 800)
        ward = self.files / "ward-distribution-suits.txt"
        ward.write_text("发放记录 Distribution: 300 protective suits to the isolation ward, week 45\n", encoding="utf-8")
        m.consume(first, int(suits_first["lotId"]), 300, m.documents_cid(first, ward, None))
        self.step(f"suits: Red Cross → warehouse (2,000); Second People's Hospital refused 500 (transfer "
                  f"{refused['transferId']}); First People's Hospital accepted 800 and used 300")
        return {"receipt_codes": [masks.receipt_code, suits.receipt_code],
                "short_delivery_receipt_code": masks.receipt_code,
                "refused_delivery_receipt_code": suits.receipt_code,
                "lots": {"masks": masks.lot_id, "suits": suits.lot_id},
                "transfers": {"short": int(short["transferId"]), "refused": int(refused["transferId"])}}

    # ------------------------------------------------------------------------ credit
    def credit(self) -> dict[str, Any]:
        admin_1, admin_2, regulator = self.client(ADMIN_1), self.client(ADMIN_2), self.client(REGULATOR)
        regulator_id = int(m.resolve_member(regulator, REGULATOR)["id"])
        for category in ("Penalty", "AbnormalOperation"):
            _, proposal = m.propose(admin_1, "Credit", "SetIssuer", ["uint256", "uint8", "bool"],
                                    [regulator_id, m.enum_value("Credit.Category", category), True])
            if not m.executed(m.approve_proposal(admin_2, "Credit", proposal)):
                raise RuntimeError(f"proposal {proposal} did not execute with two approvals")
            self.step(f"admins authorised the market-supervision regulator for {category} (Credit proposal {proposal}, 2 of 3)")

        subjects = [uscc("330106", 1001), uscc("330108", 2002), uscc("330110", 3003)]
        entries = []
        for code, summary, amount, severity in (
                (subjects[0], "未按规定公示年度报告 Annual report not published as required", 5_000_000, 2),
                (subjects[1], "销售不合格口罩 Sold masks that failed the quality standard", 20_000_000, 4),
                (subjects[2], "虚假宣传 Misleading advertising of protective equipment", 3_000_000, 1)):
            record = m.credit_record(code, "Penalty", severity, m.parse_when("2026-11-02"), 0, amount,
                                     m.keccak_text(summary), "")
            entries.append(int(m.issue(regulator, record).event("EntryIssued")["entryId"]))
        self.step(f"regulator issued penalty entries {entries} about {', '.join(subjects)}")
        corrected = int(m.correct(regulator, entries[0], "amount mistyped: 5,000 yuan, not 50,000",
                                  amount=500_000).event("EntrySuperseded")["entryId"])
        revoked = int(m.revoke_entry(regulator, entries[2], "penalty decision annulled on administrative review")
                      .event("EntryRevoked")["entryId"])
        self.step(f"regulator corrected entry {entries[0]} (by {corrected}) and revoked entry {entries[2]} (by {revoked})")

        batch_file = self.files / "abnormal-operation-batch.csv"
        rng = random.Random(11)
        codes = [uscc("3301" + str(rng.randrange(10, 99)), 100_000 + i) for i in range(self.batch_size)]
        with batch_file.open("w", encoding="utf-8", newline="") as out:
            out.write("uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n")
            for i, code in enumerate(codes):
                out.write(f"{code},1,2026-10-{1 + i % 28:02d},,0,列入经营异常名录：通过登记的住所无法联系 "
                          "Listed: cannot be reached at the registered address,,public\n")
        batch = anchor_csv(regulator, batch_file, "AbnormalOperation", on_local=lambda note: self.step(note))
        self.step(f"regulator anchored batch {batch.batch_id}: {batch.entry_count:,} abnormal-operation entries, "
                  f"root {batch.merkle_root[:18]}… (batch file built by the {batch.built_by})")
        return {"uscc": subjects, "credit_entries": {"issued": entries, "corrected": [entries[0], corrected],
                                                     "revoked": [entries[2], revoked]},
                "batches": [{"id": batch.batch_id, "category": batch.category, "entryCount": batch.entry_count,
                             "merkleRoot": batch.merkle_root, "batchFileCid": batch.batch_file_cid,
                             "builtBy": batch.built_by, "file": str(batch_file),
                             "sampleUscc": codes[0]}],
                "regulator": regulator_id}


def play(gateway: str, rpc: str, data_dir: Path, say: Callable[[str], None] = print,
         batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Play the demo city and write ``data_dir/demo.json``; returns its content."""
    keys = (data_dir / "dev-keys.json").resolve()
    results = Demo(gateway, keys, data_dir, say, batch_size).run()
    sharing, custody, credit = results["sharing"], results["custody"], results["credit"]
    grant = sharing["grants"][0]["id"]
    client = "cityledger client --dev-keys " + str(keys)
    doc: dict[str, Any] = {
        "gateway": gateway, "rpc": rpc, "keys": str(keys),
        "addressbook": str((data_dir / "gateway" / "addressbook.json").resolve()),
        "receipt_codes": custody["receipt_codes"],
        "short_delivery_receipt_code": custody["short_delivery_receipt_code"],
        "refused_delivery_receipt_code": custody["refused_delivery_receipt_code"],
        "uscc": credit["uscc"],
        "grants": sharing["grants"],
        "batches": credit["batches"],
        "datasets": sharing["datasets"],
        "lots": custody["lots"], "transfers": custody["transfers"],
        "credit_entries": credit["credit_entries"],
        "try": {
            "trace a donation (public)": f"cityledger client trace {custody['short_delivery_receipt_code']}",
            "look up an enterprise (public)": f"cityledger client credit show {credit['uscc'][0]}",
            "fetch the travel records as the health commission":
                f"{client} --member '{HEALTH}' fetch {grant} --out travel-records.csv",
            "see who accessed the travel records, as transport":
                f"{client} --member '{TRANSPORT}' datasets accesses {sharing['grants'][0]['dataset']}",
            "warehouse stock and goods in transit": f"{client} --member '{WAREHOUSE}' lot stock",
            "verify an evidence bundle":
                f"cityledger client verify-proof /v1/evidence/trace/{custody['short_delivery_receipt_code']}",
        },
    }
    temp = data_dir / "demo.json.tmp"
    temp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temp, data_dir / "demo.json")
    return doc
