"""The built verifier (gateway/portal/static/cityledger-verify.js, the file the gateway serves) in
headless Chromium: Debian's /usr/bin/chromium driven by PyPI ``playwright`` (never
``playwright install``). A test page served on loopback by this fixture, under a strict
Content-Security-Policy, imports the built module, verifies every shared bundle vector, the records
of a served trace and a dropped file; the verdicts must equal audit's and the gateway's Python
code's, and no request may leave the page's origin."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from gateway.payloads.cids import cid_text
from gateway.payloads.unixfs import import_bytes
from portal_browser import chromium
from portal_vectors import BUILT, NAMES, VECTORS, js_verdict, python_verdict

__all__ = ["chromium"]

HERE = Path(__file__).parent
CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"
PAYLOAD_SIZES = [0, 1, 262_144, 262_145, 3 * 262_144 + 17]


def payload_bytes(size: int) -> bytes:
    """The same bytes page.mjs makes: (i * 31 + (i >> 10)) & 0xff."""
    return bytes((i * 31 + (i >> 10)) & 0xFF for i in range(size))


def payload_setup() -> list[dict[str, Any]]:
    out = []
    for size in PAYLOAD_SIZES:
        data = payload_bytes(size)
        out.append({"size": size, "cid": cid_text(import_bytes(data).cid), "sha256": "0x" + hashlib.sha256(data).hexdigest()})
    return out


class _Server:
    """A static server on loopback for the test page, the built bundle and the vectors."""

    def __init__(self, setup: dict[str, Any]) -> None:
        routes: dict[str, tuple[Path | bytes, str]] = {
            "/": (HERE / "page.html", "text/html; charset=utf-8"),
            "/page.mjs": (HERE / "page.mjs", "text/javascript"),
            "/vector_runner.mjs": (HERE / "vector_runner.mjs", "text/javascript"),
            "/static/cityledger-verify.js": (BUILT, "text/javascript"),
            "/setup.json": (json.dumps(setup).encode(), "application/json"),
        }
        self.served: list[str] = []
        served = self.served

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                served.append(self.path)
                body: bytes | None = None
                kind = "application/json"
                if self.path in routes:
                    source, kind = routes[self.path]
                    body = source if isinstance(source, bytes) else source.read_bytes()
                elif self.path.startswith("/vectors/"):
                    target = (VECTORS / self.path.removeprefix("/vectors/")).resolve()
                    if target.is_file() and VECTORS.resolve() in target.parents:
                        body = target.read_bytes()
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Security-Policy", CSP)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def browser_run(chromium: Browser) -> Iterator[dict[str, Any]]:
    """Load the page in headless Chromium, wait for it to finish, and return what it found plus
    every request the page made and what the browser logged."""
    setup = {"names": NAMES, "payloads": payload_setup()}
    with _Server(setup) as server:
        page = chromium.new_page()
        try:
            requests: list[str] = []
            blocked: list[str] = []
            errors: list[str] = []

            def route(r: Any) -> None:
                url = r.request.url
                requests.append(url)
                if url == server.origin or url.startswith(server.origin + "/"):
                    r.continue_()
                else:
                    blocked.append(url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.origin + "/")
            page.wait_for_selector("body[data-done]", timeout=60_000)
            state = page.get_attribute("body", "data-done")
            text = page.text_content("#out") or ""
            assert state == "ok", text
            yield {"result": json.loads(text), "requests": requests, "blocked": blocked, "errors": errors,
                   "origin": server.origin, "served": list(server.served)}
        finally:
            page.close()


def test_no_request_leaves_the_origin(browser_run: dict[str, Any]) -> None:
    assert browser_run["blocked"] == []
    assert browser_run["requests"] and all(u.startswith(browser_run["origin"] + "/") or u == browser_run["origin"]
                                           for u in browser_run["requests"])
    assert "/static/cityledger-verify.js" in browser_run["served"]  # the built file, not the sources
    assert not any(path.startswith("/portal_src") for path in browser_run["served"])
    assert browser_run["errors"] == []


@pytest.mark.parametrize("name", NAMES)
def test_chromium_agrees_with_audit(name: str, browser_run: dict[str, Any]) -> None:
    assert js_verdict(browser_run["result"]["vectors"][name]) == python_verdict(name)


def test_chromium_verifies_each_served_trace_record(browser_run: dict[str, Any]) -> None:
    found = browser_run["result"]["records"]
    trace = json.loads((VECTORS / "records" / "trace.json").read_text())
    assert found["derived"]["ok"] and [r["check"] for r in found["derived"]["results"]] == ["genesis", "sealer-change"]
    # Every step the gateway marked verified passes in the browser, decoded as the event it claims.
    assert [e["verified"] for e in trace["events"]] == [True] * len(trace["events"])
    assert [(r["ok"], r["check"], r["event"]) for r in found["records"]] == [(True, "event", e["kind"]) for e in trace["events"]]
    accepted = [r["args"] for r, e in zip(found["records"], trace["events"]) if e["kind"] == "TransferAccepted"]
    # What the page shows (received, lost, reason) is what the proven log says.
    assert [(a["received"], a["sent"] - a["received"], a["lossReason"]) for a in accepted] == [
        (e["received"], e["lost"], e.get("reason", "")) for e in trace["events"] if e["kind"] == "TransferAccepted"]
    # One proof byte changed in flight fails that step by name; so do a wrong claim and a missing set.
    assert (found["tampered"]["ok"], found["tampered"]["check"]) == (False, "receipt-proof")
    assert (found["wrongKind"]["ok"], found["wrongKind"]["check"]) == (False, "log-content")
    assert (found["noSealers"]["ok"], found["noSealers"]["check"]) == (False, "seal")
    assert found["receiptCodeMatches"] and found["shortCode"] == trace["receiptCode"]


def test_chromium_checks_a_dropped_file_like_the_gateway(browser_run: dict[str, Any]) -> None:
    for item, expected in zip(browser_run["result"]["payloads"], payload_setup()):
        assert item["ok"], item
        assert (item["computed"]["cid"], item["computed"]["sha256"], item["computed"]["size"]) == (
            expected["cid"], expected["sha256"], expected["size"])
        if item["size"]:
            assert (item["tamperedOk"], item["tamperedCheck"]) == (False, "payload")
