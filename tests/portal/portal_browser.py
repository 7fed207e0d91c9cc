"""What the portal's browser tests share: Debian's Chromium driven by PyPI ``playwright`` (launched
by ``executable_path``, never ``playwright install``), the demo city the tests run against, the
members' key files a person would open in the console, and where screenshots go.

The city is the session's demo city (tests/demo_harness.py: ``scripts/start --demo`` run once, real
node and gateway processes), shared with the client's end-to-end tests. Every test adds its own
records (a new donation, a new share request) through the members' client rather than consuming
what the demo left, so the tests run in any order and on a city that other tests also use.

``CITYLEDGER_TEST_CITY=DIR`` points the tests at a demo city already running from data directory
``DIR`` (``scripts/start --demo`` with ``CITYLEDGER_DATA=DIR``; ``CITYLEDGER_TEST_GATEWAY=URL`` when
it was restarted on other ports than ``demo.json`` says) instead of starting one: quicker while
working on the pages. Screenshots go to ``$CITYLEDGER_TEST_ARTIFACTS/screenshots``
(default ``test-artifacts/screenshots``, git-ignored).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from conftest import ROOT
from demo_harness import DemoFiles

CHROMIUM = os.environ.get("CITYLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(os.environ.get("CITYLEDGER_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery staple"
#: Generous: one step waits on proofs checked in the browser and on transactions sealed by the node.
WAIT_MS = 60_000

HEALTH = "Municipal Health Commission"
TRANSPORT = "Municipal Transport Bureau"
RED_CROSS = "City Red Cross Society"
WAREHOUSE = "Central Relief Warehouse"


@dataclass
class City(DemoFiles):
    """The gateway's URL, the demo's facts (``demo.json``) and its development keys file."""

    gateway: str
    data_dir: Path

    def member(self, name: str) -> dict[str, Any]:
        doc = json.loads(self.keys.read_text())
        return dict(next(m for m in doc["members"] + doc["admins"] if m["name"] == name))


@dataclass
class KeyFiles:
    """Files a member opens in the browser: an encrypted keystore and (for payloads) an age key."""

    root: Path
    city: City
    made: dict[str, tuple[Path, Path | None]] = field(default_factory=dict)

    def keystore(self, name: str) -> Path:
        """The member's signing key as an encrypted Ethereum keystore, written by
        ``cityledger demo key-files`` (a small scrypt work factor keeps the tests quick; a real
        keystore takes longer to open and works the same)."""
        return self._write(name)[0]

    def age_key(self, name: str) -> Path:
        age_key = self._write(name)[1]
        assert age_key is not None, f"{name} has no encryption key"
        return age_key

    def _write(self, name: str) -> tuple[Path, Path | None]:
        if name not in self.made:
            from cityledger_up import write_key_files

            self.made[name] = write_key_files(self.city.keys, name, self.root, PASSWORD, scrypt_n=1 << 10)
        return self.made[name]


@dataclass
class Tab:
    """A page in a fresh browser context, with what it requested and what it logged."""

    page: Page
    context: BrowserContext
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def open(self, path: str, lang: str = "zh-CN") -> Page:
        url = self.origin + path
        if lang == "en":
            url += ("&" if "?" in path else "?") + "lang=en"
        self.page.goto(url)
        self.ready()
        return self.page

    def ready(self) -> None:
        """Wait until the page's script has finished (every check on it ran): body[data-ready]."""
        self.page.wait_for_selector("body[data-ready]", state="attached", timeout=WAIT_MS)
        assert self.page.get_attribute("body", "data-ready") == "true", self.page.inner_text("#app")

    def verdict(self, selector: str, within: str = "#app") -> str:
        """Wait until ``selector`` carries its verdict (``data-verified``) or a problem is shown in
        ``within`` (an error answer, a refused transaction); the verdict, or the problem's text."""
        self.page.wait_for_selector(f"{selector}[data-verified], {within} [data-error], {within} .problem",
                                    state="attached", timeout=WAIT_MS)
        found = self.page.get_attribute(selector, "data-verified") if self.page.query_selector(selector) else None
        assert found is not None, self.page.inner_text(within)
        return found

    def off_origin(self) -> list[str]:
        return [u for u in self.requests if not (u == self.origin or u.startswith(self.origin + "/")
                                                 or u.startswith(("blob:", "data:")))]

    def screenshot(self, name: str, lang: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.{lang}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, keystore: Path, lang: str = "zh-CN") -> str:
        """Open the console and sign in with the keystore (decrypted in the page, never sent)."""
        page = self.open("/console", lang)
        page.set_input_files("input[data-role=keystore]", str(keystore))
        page.fill("#signin-form input[type=password]", PASSWORD)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("body[data-signed-in]", state="attached", timeout=WAIT_MS)
        return str(page.get_attribute("body", "data-signed-in"))


def launch(p: Any) -> Browser:
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Chromium for one test module. Module-scoped, not session-scoped: Playwright's sync API runs
    once per thread at a time, and other suites (the audit report's test) start their own."""
    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


def new_tab(browser: Browser, origin: str, *, width: int = 1280, height: int = 900, bypass_csp: bool = False) -> Tab:
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=bypass_csp,
                                  accept_downloads=False, service_workers="block")
    page = context.new_page()
    tab = Tab(page, context, origin)
    page.on("request", lambda r: tab.requests.append(r.url))
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    # A Content-Security-Policy violation is reported to the page as an event; keep each one.
    page.add_init_script(path=str(Path(__file__).with_name("csp_watch.js")))
    page.expose_function("__cspViolation", lambda text: tab.violations.append(text))
    return tab


@pytest.fixture(scope="session")
def city(request: pytest.FixtureRequest) -> City:
    given = os.environ.get("CITYLEDGER_TEST_CITY")
    if given:
        data = Path(given)
        url = os.environ.get("CITYLEDGER_TEST_GATEWAY") or json.loads((data / "demo.json").read_text())["gateway"]
        return City(url, data)
    demo = request.getfixturevalue("demo_city")
    return City(demo.gateway, demo.data_dir)


@pytest.fixture(scope="session")
def key_files(city: City, tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    return KeyFiles(tmp_path_factory.mktemp("portal-keys"), city)


@pytest.fixture
def tabs(chromium: Browser, city: City) -> Iterator[list[Tab]]:
    """Opened tabs (``open_tab``); after the test, none of them asked another origin for anything
    or met a Content-Security-Policy violation."""
    opened: list[Tab] = []
    yield opened
    for tab in opened:
        tab.context.close()
    for tab in opened:
        assert tab.off_origin() == [], tab.off_origin()
        assert tab.violations == [], tab.violations


def open_tab(tabs: list[Tab], chromium: Browser, city: City, **kwargs: Any) -> Tab:
    tab = new_tab(chromium, city.gateway, **kwargs)
    tabs.append(tab)
    return tab
