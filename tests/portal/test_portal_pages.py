"""Every portal page, as the demo city's gateway serves it, in Simplified Chinese and in English:
the security headers and a Content-Security-Policy that allows this origin only and nothing
inline; an accessibility check by axe-core (npm, injected by the test) with no serious or critical
violation; no horizontal scrolling at phone width (375 px); Chinese drawn with a CJK font of the
system; no catalogue key missing in either language (also checked from the sources, without a
browser). A screenshot of each page in each language is saved (tests/portal/portal_browser.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from conftest import ROOT
from portal_browser import AXE, WAIT_MS, City, KeyFiles, Tab, chromium, city, key_files, open_tab, tabs

__all__ = ["chromium", "city", "key_files", "tabs"]

SOURCES = ROOT / "gateway" / "portal_src"
CATALOGUE = SOURCES / "messages.json"
LANGS = ("zh-CN", "en")


def pages(city: City) -> dict[str, str]:
    doc = city.doc
    return {"home": "/", "trace": f"/trace/{doc['short_delivery_receipt_code']}", "verify": "/verify",
            "credit": f"/credit/{doc['uscc'][0]}", "dashboard": "/dashboard", "console": "/console"}


PAGE_NAMES = ("home", "trace", "verify", "credit", "dashboard", "console")


# ------------------------------------------------------------------------------------ headers
def csp_directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_each_page_is_served_with_a_strict_csp_and_security_headers(name: str, city: City) -> None:
    for lang in LANGS:
        answer = httpx.get(city.gateway + pages(city)[name], params={"lang": "en"} if lang == "en" else None, timeout=30)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        csp = csp_directives(answer.headers["content-security-policy"])
        assert csp["default-src"] == ["'none'"]
        for directive in ("script-src", "style-src", "connect-src", "font-src"):
            assert csp[directive] == ["'self'"], directive  # nothing inline, no other origin
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert csp["require-trusted-types-for"] == ["'script'"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cross-origin-opener-policy"] == "same-origin"
        html = answer.text
        assert f'<html lang="{lang}"' in html
        # No inline script or style, and nothing from another origin.
        assert re.findall(r"<script\b(?![^>]*\bsrc=\"/static/)", html) == []
        assert " style=" not in html and "<style" not in html
        assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == []
        # The language switch leads to the same page in the other language.
        other = "/?lang=en" if name == "home" and lang == "zh-CN" else None
        switch = re.search(r'<a class="lang" href="([^"]+)"', html)
        assert switch is not None
        if other:
            assert switch.group(1) == other
        assert ("lang=en" in switch.group(1)) == (lang == "zh-CN")


def test_static_files_are_the_built_ones_with_the_same_headers(city: City) -> None:
    manifest = json.loads((ROOT / "gateway" / "portal" / "static" / "manifest.json").read_text())
    for name in ("pages/trace.js", "cityledger-verify.js", "portal.css", "messages.json"):
        answer = httpx.get(f"{city.gateway}/static/{name}", timeout=30)
        assert answer.status_code == 200
        assert len(answer.content) == manifest["outputs"][name]["bytes"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" in answer.headers
    assert httpx.get(f"{city.gateway}/static/../pyproject.toml", timeout=30).status_code == 404
    assert httpx.get(f"{city.gateway}/static/nope.js", timeout=30).status_code == 404


# ------------------------------------------------------------------------------------ pages in Chromium
AXE_BLOCKING = ("serious", "critical")


def axe_violations(tab: Tab) -> list[dict[str, Any]]:
    tab.page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = tab.page.evaluate("""async () => {
      const result = await axe.run(document, {resultTypes: ["violations"]});
      if (!result.passes.length) throw new Error("axe-core checked nothing");
      return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
    }""")
    return found


def cjk_fonts(tab: Tab, selector: str) -> list[dict[str, Any]]:
    """The platform fonts Chromium used to draw ``selector``'s text (DevTools protocol)."""
    cdp = tab.context.new_cdp_session(tab.page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts: list[dict[str, Any]] = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return fonts


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_each_page_is_accessible_fits_a_phone_and_has_every_string(name: str, lang: str, tabs: list[Tab],
                                                                 chromium: Browser, city: City) -> None:
    path = pages(city)[name]
    # Desktop: screenshot and axe-core. axe is injected as a script, which the page's own CSP
    # (rightly) refuses, so this one context bypasses the CSP; the phone context below keeps it.
    desk = open_tab(tabs, chromium, city, bypass_csp=True)
    page = desk.open(path, lang)
    assert page.get_attribute("html", "lang") == lang
    assert page.locator("[data-i18n-missing]").count() == 0
    assert "⟦" not in page.inner_text("body")
    desk.screenshot(name, lang)
    blocking = [v for v in axe_violations(desk) if v["impact"] in AXE_BLOCKING]
    assert blocking == [], json.dumps(blocking, indent=1, ensure_ascii=False)
    if lang == "zh-CN":
        fonts = cjk_fonts(desk, "main h1")
        assert fonts and all("CJK" in f["familyName"] or "Noto" in f["familyName"] for f in fonts), fonts
    assert desk.errors == []

    phone = open_tab(tabs, chromium, city, width=375, height=812)
    page = phone.open(path, lang)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at 375 px"
    phone.screenshot(f"{name}.phone", lang)
    # The switch to the other language is on every page and keeps the page.
    switch = page.locator("header.site a.lang")
    switch.click()
    phone.ready()
    assert page.get_attribute("html", "lang") == ("en" if lang == "zh-CN" else "zh-CN")
    assert page.get_attribute("html", "data-page") == ("trace" if name == "trace" else name)


# ------------------------------------------------------------------------------------ catalogue
def catalogue() -> dict[str, dict[str, str]]:
    return dict(json.loads(CATALOGUE.read_text(encoding="utf-8")))


def source_files() -> list[Path]:
    return sorted(p for p in SOURCES.rglob("*.js") if "verify" not in p.relative_to(SOURCES).parts[:1])


def test_every_catalogue_entry_has_both_languages() -> None:
    for key, entry in catalogue().items():
        assert set(entry) == set(LANGS), key
        assert all(isinstance(entry[lang], str) and entry[lang].strip() for lang in LANGS), key
        # The same {placeholders} in both languages.
        assert sorted(re.findall(r"\{(\w+)\}", entry["zh-CN"])) == sorted(re.findall(r"\{(\w+)\}", entry["en"])), key


def literal_keys(texts: dict[str, str], namespaces: set[str]) -> dict[str, str]:
    """Catalogue-like string literals in sources (``tx("trace.lost")``, ``field("console.x", …)``)."""
    used: dict[str, str] = {}
    for where, text in texts.items():
        for key in re.findall(r"""["']([a-z][a-z0-9-]*(?:\.[A-Za-z0-9-]+)+)["']""", text):
            if key.split(".")[0] in namespaces:
                used.setdefault(key, where)
    return used


def missing_keys(used: dict[str, str], known: dict[str, Any]) -> list[str]:
    return sorted(f"{key} ({where})" for key, where in used.items() if key not in known)


def test_every_key_the_sources_use_is_in_the_catalogue() -> None:
    """Every literal key in the page sources (``tx("…")``, ``t("…")``, labels passed to helpers)
    and the gateway's page shells, and every key built from a known set of values."""
    known = catalogue()
    namespaces = {key.split(".")[0] for key in known}
    used = literal_keys({p.name: p.read_text(encoding="utf-8") for p in source_files()}, namespaces)
    shell = (ROOT / "gateway" / "routers" / "portal.py").read_text(encoding="utf-8")
    for key in re.findall(r"""_text\(["']([a-z.-]+)["']""", shell) + re.findall(r"""message\(["']([a-z.-]+)["']""", shell):
        used.setdefault(key, "portal.py")
    from gateway.routers.portal import NAV, PAGES

    for page in PAGES:
        used.setdefault(f"page.{page}.title", "portal.py")
    for nav, _ in NAV:
        used.setdefault(f"nav.{nav}", "portal.py")
    assert len(used) > 300
    # Keys made from values: check names, custody events, totals, alert kinds, member kinds.
    checks = re.search(r"CHECKS = Object.freeze\(\[(.*?)\]\)", (SOURCES / "verify" / "bundle.js").read_text(), re.S)
    assert checks is not None
    for check in [*re.findall(r'"([a-z-]+)"', checks.group(1)), "event", "batch-path", "checkpoint", "inclusion",
                  "cosignature", "unknown"]:
        used.setdefault(f"check.{check}", "verdict.js")
    kinds = re.search(r"const KINDS = \[(.*?)\]", (SOURCES / "pages" / "trace.js").read_text(), re.S)
    assert kinds is not None
    for kind in [*re.findall(r'"(\w+)"', kinds.group(1)), "other"]:
        used.setdefault(f"event.{kind}", "trace.js")
    for total in ("donated", "held", "in-transit", "consumed", "lost"):
        used.setdefault(f"trace.total.{total}", "trace.js")
    for column in ("lot", "item", "held", "since", "actions"):
        used.setdefault(f"console.col.{column}", "custody.js")
    alerts = re.findall(r'"kind": "([a-z-]+)"', (ROOT / "gateway" / "routers" / "custody.py").read_text())
    assert alerts
    for alert in alerts:
        used.setdefault(f"console.alert.{alert}", "custody.js")
    for kind in ("Department", "Charity", "Warehouse", "Logistics", "Hospital", "Regulator", "Auditor", "Admin", "other"):
        used.setdefault(f"kind.{kind}", "console.js")
    assert missing_keys(used, known) == []


def test_the_catalogue_check_fails_on_a_missing_key() -> None:
    """The check above is not vacuous: a key the catalogue lacks is found and named."""
    known = catalogue()
    used = literal_keys({"probe.js": 'box.append(tx("trace.no-such-key"), tx("trace.lost"));'}, {"trace"})
    assert missing_keys(used, known) == ["trace.no-such-key (probe.js)"]


@pytest.mark.parametrize("member", ["Municipal Transport Bureau", "Central Relief Warehouse",
                                    "Market Supervision Administration", "Municipal Audit Bureau (consortium admin)",
                                    "Independent Audit NGO"])
def test_the_signed_in_console_is_accessible_and_fits_a_phone(member: str, tabs: list[Tab], chromium: Browser,
                                                              city: City, key_files: KeyFiles) -> None:
    """The console as each kind of member sees it once signed in (forms, tables, requests): axe-core
    finds no serious or critical violation, and nothing scrolls sideways at 375 px; the dashboard
    then shows the share requests the member may see."""
    tab = open_tab(tabs, chromium, city, width=375, height=812, bypass_csp=True)
    kind = tab.sign_in(key_files.keystore(member))
    page = tab.page
    for section in ("#sharing", "#custody"):
        if page.query_selector(section):
            page.wait_for_selector(f"{section}[data-loaded]", state="attached", timeout=WAIT_MS)
    blocking = [v for v in axe_violations(tab) if v["impact"] in AXE_BLOCKING]
    assert blocking == [], json.dumps(blocking, indent=1, ensure_ascii=False)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the console of {member} scrolls sideways by {overflow} px at 375 px"
    tab.screenshot(f"console-{kind.lower()}.phone", "zh-CN")
    page = tab.open("/dashboard")
    if kind in ("Department", "Auditor") or "admin" in member:
        assert page.locator("#sharing-canvas").count() == 1
    assert tab.errors == []
