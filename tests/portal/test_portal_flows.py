"""The portal in Chromium against the demo city's real node and gateway processes (issue 12's
acceptance): a donor traces a lot and every step is verified in the page; one proof byte rewritten
in flight fails that step by name; an auditor drops a valid and a tampered evidence bundle; a
clerk accepts a short delivery in the console and the donor then sees the loss; a data officer
approves and delivers, and the requester fetches and decrypts the payload in the browser.

Waits are on the portal's contract (``data-verified`` / ``data-failed-check`` set only once a
check ran; ``body[data-ready]`` once a page finished), never on time. Screenshots of each step go
to ``test-artifacts/screenshots`` (tests/portal/portal_browser.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Route

from audit.bundle import Trust, verify_bundle
from gateway.client import member as m
from gateway.client.api import GatewayClient
from gateway.client.keys import from_dev_keys
from portal_browser import (CHROMIUM, CHROMIUM_ARGS, HEALTH, RED_CROSS, SCREENSHOTS, TRANSPORT, WAIT_MS, WAREHOUSE, City,
                            KeyFiles, Tab, chromium, city, key_files, new_tab, open_tab, tabs)

__all__ = ["chromium", "city", "key_files", "tabs"]


def client(city: City, who: str, tmp: Path) -> GatewayClient:
    return GatewayClient(city.gateway, from_dev_keys(city.keys, who), cache_dir=tmp / "client-cache")


def flip_hex_byte(value: str, at: int = 40) -> str:
    """``value`` (0x-hex) with one byte changed."""
    i = 2 + 2 * at
    return value[:i] + f"{int(value[i:i + 2], 16) ^ 0x01:02x}" + value[i + 2:]


SCHEMAS = Path(__file__).resolve().parents[2] / "gateway" / "schemas"


def assert_verdicts_follow_the_contract(tab: Tab) -> int:
    """Every element of the page that carries a verdict follows the published contract
    (gateway/schemas/portal-verified.schema.json); returns how many carry one."""
    import jsonschema

    schema = json.loads((SCHEMAS / "portal-verified.schema.json").read_text())
    elements = tab.page.eval_on_selector_all(
        "[data-verified], [data-failed-check]",
        "els => els.map(e => Object.fromEntries(['data-verified', 'data-failed-check', 'aria-busy']"
        ".filter(n => e.hasAttribute(n)).map(n => [n, e.getAttribute(n)])))")
    for attributes in elements:
        jsonschema.validate(attributes, schema, cls=jsonschema.Draft202012Validator)
    return len(elements)


def step_verdicts(tab: Tab) -> list[tuple[str | None, str | None, str | None]]:
    return [(el.get_attribute("data-kind"), el.get_attribute("data-verified"), el.get_attribute("data-failed-check"))
            for el in tab.page.query_selector_all("ol.timeline > li.step")]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_donor_traces_a_lot_and_every_step_is_verified_in_the_page(lang: str, tabs: list[Tab], chromium: Browser,
                                                                   city: City) -> None:
    code = city.doc["short_delivery_receipt_code"]
    served = httpx.get(f"{city.gateway}/v1/trace/{code}", timeout=30).json()
    tab = open_tab(tabs, chromium, city)
    page = tab.open(f"/trace/{code}", lang)
    assert page.get_attribute("body", "data-trace-done") == "verified"
    steps = step_verdicts(tab)
    assert steps == [(e["kind"], "true", None) for e in served["events"]]
    for section in ("#summary", "#where-now", "#trust-chain", "#trust-chain .checkpoint"):
        assert page.get_attribute(section, "data-verified") == "true", section
    # The short delivery (7,950 of 8,000) shows its loss and reason, from the proven log.
    assert page.locator("dd[data-loss='50']").count() == 1
    assert "water-damaged" in page.inner_text("ol.timeline")
    assert "50" in page.inner_text("[data-total=lost] dd")
    # A printable receipt with a QR code per lot, each pointing back at this page.
    qrs = page.query_selector_all("#receipt svg.qr")
    assert len(qrs) == page.locator("#where-now tbody tr").count() >= 2  # the demo's masks sit in 4 lots
    assert all(q.get_attribute("data-qr-text").startswith(f"{city.gateway}/trace/{code}#lot-") for q in qrs)
    assert page.get_attribute("html", "lang") == lang
    assert assert_verdicts_follow_the_contract(tab) >= len(steps) + 4
    tab.screenshot("trace", lang)
    assert tab.errors == []


def test_a_proof_byte_rewritten_in_flight_fails_that_step_by_name(tabs: list[Tab], chromium: Browser,
                                                                 city: City) -> None:
    code = city.doc["short_delivery_receipt_code"]
    tab = open_tab(tabs, chromium, city)
    tampered_step = 3

    def tamper(route: Route) -> None:
        answer = route.fetch()
        doc = answer.json()
        proof = doc["events"][tampered_step]["proof"]
        proof["receiptProof"][0] = flip_hex_byte(proof["receiptProof"][0])
        route.fulfill(response=answer, json=doc)

    tab.page.route(f"{city.gateway}/v1/trace/*", tamper)
    page = tab.open(f"/trace/{code}")
    assert page.get_attribute("body", "data-trace-done") == "failed"
    steps = step_verdicts(tab)
    assert steps[tampered_step][1:] == ("false", "receipt-proof")
    assert [s[1] for i, s in enumerate(steps) if i != tampered_step] == ["true"] * (len(steps) - 1)
    assert page.get_attribute("#summary", "data-verified") == "false"
    assert page.get_attribute("#summary", "data-failed-check") == "receipt-proof"
    # The failure is named in the person's language and by its stable name.
    assert page.locator(f"#step-{tampered_step} .badge code.check-code").inner_text() == "receipt-proof"
    assert assert_verdicts_follow_the_contract(tab) >= len(steps)
    tab.screenshot("trace-tampered", "zh-CN")


def audit_results(bundle: dict[str, Any], book: dict[str, Any]) -> list[tuple[str, str, bool]]:
    report = verify_bundle(bundle, Trust(chain_id=book["chainId"],
                                         genesis_hash=bytes.fromhex(book["deployment"]["blockHash"][2:])))
    return [(r.check, r.subject, r.ok) for r in report.results]


def page_results(tab: Tab, name: str) -> list[tuple[str, str, bool]]:
    rows = tab.page.query_selector_all(f"article.bundle-result[data-name='{name}'] ol.checks > li")
    return [(str(r.get_attribute("data-check")), str(r.get_attribute("data-subject")), r.get_attribute("data-ok") == "true")
            for r in rows]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_an_auditor_drops_a_valid_and_a_tampered_bundle(lang: str, tabs: list[Tab], chromium: Browser, city: City,
                                                       tmp_path: Path) -> None:
    code = city.doc["short_delivery_receipt_code"]
    bundle = httpx.get(f"{city.gateway}/v1/evidence/trace/{code}", timeout=60).json()
    book = json.loads(Path(city.doc["addressbook"]).read_text())
    valid = tmp_path / "valid.json"
    valid.write_text(json.dumps(bundle))
    tampered_doc = json.loads(json.dumps(bundle))
    proof = tampered_doc["events"][2]["proof"]
    proof["receiptProof"][0] = flip_hex_byte(proof["receiptProof"][0])
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(tampered_doc))

    tab = open_tab(tabs, chromium, city)
    page = tab.open("/verify", lang)
    page.set_input_files("input[data-role=drop-files]", [str(valid), str(tampered)])
    for name in ("valid.json", "tampered.json"):
        page.wait_for_selector(f"article.bundle-result[data-name='{name}'][data-verified]", state="attached",
                               timeout=WAIT_MS)
    ok = "article.bundle-result[data-name='valid.json']"
    bad = "article.bundle-result[data-name='tampered.json']"
    assert page.get_attribute(ok, "data-verified") == "true"
    assert page.get_attribute(bad, "data-verified") == "false"
    assert page.get_attribute(bad, "data-failed-check") == "receipt-proof"

    # Check by check, the page reaches audit's verdicts: the same names, subjects and outcomes,
    # the witnessed checkpoint's (checkpoint, inclusion of every block) included.
    for path, doc in ((valid, bundle), (tampered, tampered_doc)):
        got = page_results(tab, path.name)
        assert got == audit_results(doc, book), path.name
        assert all(passed for _, _, passed in got) == (path is valid)
    assert {c for c, _, _ in page_results(tab, "valid.json")} >= {"genesis", "event", "checkpoint", "inclusion"}
    failing = {c for c, _, passed in page_results(tab, "tampered.json") if not passed}
    assert failing == {"receipt-proof"}
    tab.screenshot("verify-bundles", lang)
    assert tab.errors == []


def test_a_clerk_accepts_a_short_delivery_and_the_donor_then_sees_the_loss(tabs: list[Tab], chromium: Browser,
                                                                          city: City, key_files: KeyFiles,
                                                                          tmp_path: Path) -> None:
    letter = tmp_path / "intake.txt"
    letter.write_text("入库单 Intake: 300 boxes of nitrile gloves\n", encoding="utf-8")
    with client(city, RED_CROSS, tmp_path) as red_cross:
        lot = m.register_lot(red_cross, "nitrile gloves", 300, "box", "a test donor", public_name="测试捐赠人",
                             documents=m.documents_cid(red_cross, letter, None))
        sent, _ = m.transfer(red_cross, lot.lot_id, 300, WAREHOUSE)
    transfer = int(sent.event("TransferSent")["transferId"])

    clerk = open_tab(tabs, chromium, city)
    assert clerk.sign_in(key_files.keystore(WAREHOUSE)) == "Warehouse"
    page = clerk.page
    page.wait_for_selector("#custody[data-loaded]", state="attached", timeout=WAIT_MS)
    page.click(f"li.transit-item[data-transfer='{transfer}'] button >> nth=0")
    page.fill("#custody-panel input[name=received]", "280")
    page.fill("#custody-panel input[name=loss-reason]", "20 boxes crushed in the lorry")
    page.click("#custody-panel button[type=submit]")
    result = "#custody-panel .tx-result[data-call='SupplyCustody.accept']"
    assert clerk.verdict(result, "#custody-panel") == "true"
    assert page.locator(f"{result} li[data-event='TransferAccepted'][data-verified='true']").count() == 1
    page.wait_for_selector(f"#custody table.stock tr[data-lot='{lot.lot_id}']", timeout=WAIT_MS)
    clerk.screenshot("console-clerk", "zh-CN")

    donor = open_tab(tabs, chromium, city)
    page = donor.open(f"/trace/{lot.receipt_code}")
    assert page.get_attribute("body", "data-trace-done") == "verified"
    assert [s[0] for s in step_verdicts(donor)] == ["LotRegistered", "TransferSent", "TransferAccepted"]
    assert {s[1] for s in step_verdicts(donor)} == {"true"}
    accepted = page.locator("li.step[data-kind='TransferAccepted']")
    assert accepted.locator("dd[data-loss='20']").count() == 1
    assert "20 boxes crushed in the lorry" in accepted.inner_text()
    assert "20" in page.inner_text("#where-now [data-total=lost] dd")
    assert "280" in page.inner_text("#where-now [data-total=held] dd")
    donor.screenshot("trace-after-short-delivery", "zh-CN")
    assert clerk.errors == [] and donor.errors == []


def test_a_data_officer_approves_and_delivers_and_the_requester_decrypts_in_the_browser(
        tabs: list[Tab], chromium: Browser, city: City, key_files: KeyFiles, tmp_path: Path) -> None:
    dataset = city.doc["grants"][0]["dataset"]
    with client(city, HEALTH, tmp_path) as health:
        asked = m.submit_request(health, dataset, "复核密接名单 Re-check of the contact list",
                                 "《传染病防治法》第十二条 art. 12", ["name", "train", "date", "seat"],
                                 valid_until=m.parse_when("+10d"), max_accesses=2)
    request = asked.request_id
    payload = tmp_path / "contacts.csv"
    payload.write_text("name,train,date,seat\n张伟,G1234,2026-11-03,05A\n李娜,G1234,2026-11-03,05B\n", encoding="utf-8")

    officer = open_tab(tabs, chromium, city)
    assert officer.sign_in(key_files.keystore(TRANSPORT)) == "Department"
    page = officer.page
    card = f"li#request-{request}"
    page.wait_for_selector(f"{card}[data-status=Pending][data-verified='true']", state="attached", timeout=WAIT_MS)
    page.uncheck(f"{card} input[type=checkbox][value=seat]")  # narrowed: three of the four fields
    page.click(f"{card} form:has(input[name=max-accesses]) button[type=submit]")
    approved = "#sharing-activity .tx-result[data-call='DataSharing.approve']"
    assert officer.verdict(approved, "#sharing-activity") == "true"
    page.wait_for_selector(f"{card}[data-status=Granted] input[name=payload]", state="attached", timeout=WAIT_MS)
    page.set_input_files(f"{card} input[name=payload]", str(payload))
    page.click(f"{card} form:has(input[name=payload]) button[type=submit]")
    delivered = "#sharing-activity .tx-result[data-call='DataSharing.deliver']"
    assert officer.verdict(delivered, "#sharing-activity") == "true"
    officer.screenshot("console-data-officer", "zh-CN")

    requester = open_tab(tabs, chromium, city)
    assert requester.sign_in(key_files.keystore(HEALTH), "en") == "Department"
    page = requester.page
    page.set_input_files("input[data-role=age-key]", str(key_files.age_key(HEALTH)))
    page.wait_for_selector(".key-loader .field-message[data-state=ok]", timeout=WAIT_MS)
    page.wait_for_selector(f"{card}[data-status=Granted][data-verified='true'] input[name=access-reason]",
                           state="attached", timeout=WAIT_MS)
    page.fill(f"{card} input[name=access-reason]", "re-check before the weekly report")
    page.click(f"{card} form:has(input[name=access-reason]) button[type=submit]")
    fetched = f"#sharing-activity .fetch-result[data-grant='{request}']"
    assert requester.verdict(fetched, "#sharing-activity") == "true", page.inner_text(fetched)
    assert page.inner_text(f"{fetched} pre.preview").strip() == payload.read_text(encoding="utf-8").strip()
    requester.screenshot("console-requester-decrypted", "en")

    # The gateway recorded the access on chain and narrowed the grant as the officer chose.
    with client(city, HEALTH, tmp_path) as health:
        answer, _ = health.verified(f"/v1/requests/{request}", auth=True)
    assert answer["accessCount"] == 1 and answer["fields"] == ["name", "train", "date"]
    assert officer.errors == [] and requester.errors == []


def test_a_photo_of_a_receipt_qr_code_opens_that_trace(tabs: list[Tab], chromium: Browser, city: City,
                                                      tmp_path: Path) -> None:
    """The printable receipt's QR code, photographed (here: the element rendered to a PNG) and
    uploaded on the home page, leads to the donation's trace."""
    code = city.doc["refused_delivery_receipt_code"]
    receipt = open_tab(tabs, chromium, city)
    page = receipt.open(f"/trace/{code}")
    photo = tmp_path / "receipt-qr.png"
    page.locator("#receipt svg.qr").first.screenshot(path=str(photo))
    receipt.screenshot("trace-receipt", "zh-CN")

    donor = open_tab(tabs, chromium, city, width=375, height=812)
    page = donor.open("/")
    with page.expect_navigation(url=f"**/trace/{code}"):
        page.set_input_files("#qr-photo", str(photo))
    donor.ready()
    assert page.get_attribute("body", "data-trace-done") == "verified"
    assert donor.errors == []


def test_the_dashboard_draws_flows_stock_and_losses_from_the_city(tabs: list[Tab], chromium: Browser,
                                                                  city: City) -> None:
    tab = open_tab(tabs, chromium, city)
    page = tab.open("/dashboard?lang=en")
    for figure in ("flows", "stock", "losses"):
        box = page.locator(f"#{figure}-canvas").bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, figure
    # The same figures as a table (for screen readers, and for anyone who would rather read).
    page.click("#losses details summary")
    losses = page.inner_text("#losses table")  # opened: visible text
    assert "water-damaged" in losses and "50" in losses
    flows = page.text_content("#flows table") or ""  # still folded
    assert "City Red Cross Society" in flows and "Central Relief Warehouse" in flows
    assert page.locator("#health [data-checkpoint=present]").count() == 1
    assert tab.errors == []


def test_an_auditor_checks_a_transaction_hash_and_files_against_the_ledger(tabs: list[Tab], chromium: Browser,
                                                                          city: City, tmp_path: Path) -> None:
    """/verify: a pasted transaction hash shows its events, each proof checked here; a dropped
    document is hashed here (CID and SHA-256) and found in a proven event; an unknown file is not."""
    code = city.doc["short_delivery_receipt_code"]
    served = httpx.get(f"{city.gateway}/v1/trace/{code}", timeout=30).json()
    tx_hash = served["events"][0]["proof"]["txHash"]
    tab = open_tab(tabs, chromium, city)
    page = tab.open("/verify", "en")
    page.fill("form.code-form input.mono", tx_hash)
    page.click("form.code-form button[type=submit]")
    assert tab.verdict("article.record", "#results") == "true"
    assert "SupplyCustody.LotRegistered" in page.inner_text("article.record")

    letter = city.data_dir / "demo" / "donation-letter.txt"
    unknown = tmp_path / "not-on-the-ledger.txt"
    unknown.write_text("nobody recorded this file\n")
    page.set_input_files("input[data-role=drop-files]", [str(letter), str(unknown)])
    known = "article.file-result[data-name='donation-letter.txt']"
    stranger = "article.file-result[data-name='not-on-the-ledger.txt']"
    assert tab.verdict(known, "#results") == "true"
    assert tab.verdict(stranger, "#results") == "false"
    assert page.get_attribute(stranger, "data-failed-check") == "payload"
    tab.screenshot("verify-lookups", "en")
    assert tab.errors == []


def test_a_regulator_issues_an_entry_and_anchors_a_batch_in_the_console(tabs: list[Tab], chromium: Browser,
                                                                       city: City, key_files: KeyFiles,
                                                                       tmp_path: Path) -> None:
    """The regulator's console: one entry issued (the USCC checked as typed), a CSV batch uploaded
    with progress, checked against the anchor call the gateway built, signed and indexed; the
    public pages then verify both in the browser."""
    from cityledger_demo import REGULATOR, uscc

    serial = int.from_bytes(os.urandom(3), "big")
    subject = uscc("330102", serial)
    tab = open_tab(tabs, chromium, city)
    assert tab.sign_in(key_files.keystore(REGULATOR), "en") == "Regulator"
    page = tab.page
    page.fill("#issue-form input[name=uscc]", subject[:-1] + ("0" if subject[-1] != "0" else "1"))
    assert page.get_attribute("#issue-form .field-message", "data-state") == "error"  # a wrong check character
    page.fill("#issue-form input[name=uscc]", subject)
    assert page.get_attribute("#issue-form .field-message", "data-state") == "ok"
    page.select_option("#issue-form select[name=category]", "1")  # Penalty
    page.fill("#issue-form input[name=severity]", "2")
    page.fill("#issue-form input[name=effective]", "2026-11-20")
    page.fill("#issue-form input[name=amount]", "100000")
    page.fill("#issue-form textarea[name=summary]", "未按规定明码标价 Prices not displayed as required")
    page.click("#issue-form button[type=submit]")
    assert tab.verdict("#credit-activity .tx-result[data-call='Credit.issue']", "#credit-activity") == "true"

    batch = tmp_path / "batch.csv"
    codes = [uscc("330103", serial + i) for i in range(3)]
    batch.write_text("uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n" + "".join(
        f"{c},1,2026-11-0{i + 1},,0,列入经营异常名录 Listed as abnormal,,public\n" for i, c in enumerate(codes)), encoding="utf-8")
    page.select_option("#batch-form select[name=batch-category]", "3")  # AbnormalOperation
    page.set_input_files("#batch-form input[name=batch]", str(batch))
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#batch-form[data-batch], #batch-stage[data-stage='console.batch.failed']", state="attached",
                           timeout=WAIT_MS)
    assert page.get_attribute("#batch-stage", "data-stage") == "console.batch.indexed", page.inner_text("#credit-activity")
    batch_id = page.get_attribute("#batch-form", "data-batch")
    # The root was rebuilt in the page from the batch file the gateway stored, before signing.
    offered = page.get_attribute("#credit-activity .batch-facts code.hash", "data-full")
    assert offered and page.get_attribute("#batch-form", "data-root-rebuilt") == offered.lower()
    assert page.get_attribute("#credit-activity .tx-result[data-call='Credit.anchorBatch']", "data-verified") == "true"
    tab.screenshot("console-regulator", "en")

    public = open_tab(tabs, chromium, city)
    page = public.open(f"/credit/{subject}")
    assert [e.get_attribute("data-verified") for e in page.query_selector_all("ol.entries > li")] == ["true"]
    page = public.open("/verify")
    page.fill("form.code-form input.mono", f"{batch_id}/1")
    page.click("form.code-form button[type=submit]")
    assert public.verdict("article.record", "#results") == "true"
    assert tab.errors == [] and public.errors == []


def test_an_admin_approves_a_governance_proposal_in_the_console(tabs: list[Tab], chromium: Browser, city: City,
                                                                key_files: KeyFiles, tmp_path: Path) -> None:
    from cityledger_demo import ADMIN_1, ADMIN_2, REGULATOR

    with client(city, ADMIN_1, tmp_path) as admin:
        regulator = int(m.resolve_member(admin, REGULATOR)["id"])
        _, proposal = m.propose(admin, "Credit", "SetIssuer", ["uint256", "uint8", "bool"],
                                [regulator, m.enum_value("Credit.Category", "Commendation"), True])
    tab = open_tab(tabs, chromium, city)
    tab.sign_in(key_files.keystore(ADMIN_2))
    page = tab.page
    item = f"li[data-proposal='Credit-{proposal}']"
    page.wait_for_selector(item, timeout=WAIT_MS)
    page.click(f"{item} button")
    result = "#governance-activity .tx-result[data-call='Credit.approveProposal']"
    assert tab.verdict(result, "#governance-activity") == "true"
    page.wait_for_selector(item, state="detached", timeout=WAIT_MS)  # executed: no longer pending
    tab.screenshot("console-admin", "zh-CN")
    with client(city, REGULATOR, tmp_path) as regulator_client:
        me, _ = regulator_client.verified("/v1/me", auth=True)
    assert "issuer:Commendation" in me["roles"]
    assert tab.errors == []


def test_the_receipt_prints_alone_with_its_qr_codes(tabs: list[Tab], chromium: Browser, city: City) -> None:
    code = city.doc["short_delivery_receipt_code"]
    tab = open_tab(tabs, chromium, city)
    page = tab.open(f"/trace/{code}")
    page.emulate_media(media="print")
    assert page.locator("#receipt").is_visible()
    assert page.locator("#receipt svg.qr").first.is_visible()
    for hidden in ("header.site", "#summary", "ol.timeline", "#receipt button"):
        assert not page.locator(hidden).first.is_visible(), hidden
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(SCREENSHOTS / "receipt.zh-CN.pdf"))


def test_the_console_signs_no_batch_whose_stored_file_was_changed(tabs: list[Tab], chromium: Browser, city: City,
                                                                  key_files: KeyFiles, tmp_path: Path) -> None:
    """The batch file the gateway stored, altered in flight: the page finds that it is not the file
    the offer names (its CID), says so by name, and signs nothing."""
    from cityledger_demo import REGULATOR, uscc

    serial = int.from_bytes(os.urandom(3), "big")
    batch = tmp_path / "batch.csv"
    batch.write_text("uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"
                     f"{uscc('330104', serial)},1,2026-11-02,,0,Listed as abnormal,,public\n", encoding="utf-8")
    tab = open_tab(tabs, chromium, city)
    tab.sign_in(key_files.keystore(REGULATOR), "en")
    page = tab.page

    def altered(route: Route) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, body=answer.body().replace(b'"severity":1', b'"severity":0'))

    page.route(f"{city.gateway}/v1/payloads/*", altered)
    page.select_option("#batch-form select[name=batch-category]", "3")
    page.set_input_files("#batch-form input[name=batch]", str(batch))
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#batch-form[data-batch], #batch-stage[data-stage='console.batch.failed']", state="attached",
                           timeout=WAIT_MS)
    assert page.get_attribute("#batch-stage", "data-stage") == "console.batch.failed"
    assert "payload" in page.inner_text("#credit-activity")
    assert page.locator("#credit-activity .tx-result[data-call='Credit.anchorBatch']").count() == 0


def y4m_of_qr(svg_path: str, size: int, out: Path, width: int = 320, height: int = 240) -> Path:
    """A one-frame Y4M video (what Chromium's fake camera plays) of a QR code drawn from the
    receipt's own <svg>: its path is one 1×1 square per dark module."""
    dark = {(int(x), int(y)) for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", svg_path)}
    scale = min(width, height) // size
    left, top = (width - size * scale) // 2, (height - size * scale) // 2
    luma = bytearray(b"\xff" * (width * height))
    for x, y in dark:
        for dy in range(scale):
            start = (top + y * scale + dy) * width + left + x * scale
            luma[start:start + scale] = b"\x00" * scale
    chroma = b"\x80" * (width * height // 4)
    out.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + bytes(luma) + chroma + chroma)
    return out


def test_a_receipt_qr_code_held_up_to_the_camera_opens_that_trace(chromium: Browser, city: City,
                                                                 tmp_path: Path) -> None:
    """Chromium's fake camera plays a picture of a receipt's QR code; the home page's camera
    scanner reads it and opens the trace (getUserMedia on this origin: CSP and Permissions-Policy)."""
    code = city.doc["short_delivery_receipt_code"]
    tab = new_tab(chromium, city.gateway)
    try:
        page = tab.open(f"/trace/{code}")
        qr = page.locator("#receipt svg.qr").first
        size = int(str(qr.get_attribute("viewBox")).split()[2])
        video = y4m_of_qr(str(qr.locator("path").get_attribute("d")), size, tmp_path / "qr.y4m")
    finally:
        tab.context.close()
    camera = chromium.browser_type.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        context = camera.new_context(viewport={"width": 375, "height": 812})
        context.grant_permissions(["camera"], origin=city.gateway)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(city.gateway + "/")
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=WAIT_MS)
        with page.expect_navigation(url=f"**/trace/{code}", timeout=WAIT_MS):
            page.click(".scanner button")
        page.wait_for_selector("body[data-ready]", state="attached", timeout=WAIT_MS)
        assert page.get_attribute("body", "data-trace-done") == "verified"
        assert errors == []
    finally:
        camera.close()
