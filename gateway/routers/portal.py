"""The web portal: HTML pages and the committed static files under ``gateway/portal/``.

The pages are small shells (title, navigation, language switch, an empty ``<main>``) that load one
built ES module each from ``/static/pages/`` (``scripts/build-portal``; no Node.js at run time).
Everything a page shows as verified is checked in the browser by the portal's verifier against the
trust anchor the browser pinned, never taken from this gateway's word.

Language: Simplified Chinese by default, English with ``?lang=en``; every visible string comes
from one catalogue, ``gateway/portal_src/messages.json`` (built and checked into
``gateway/portal/static/messages.json``), which this module reads for the shell's own strings.

Every response of this router carries a strict Content-Security-Policy (scripts, styles, images
and connections from this origin only, no inline code, no framing) and the usual security headers;
the API's JSON responses are left as they are.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from gateway.deps import ServicesDep
from gateway.errors import GatewayError

router = APIRouter(include_in_schema=False)

PORTAL = Path(__file__).resolve().parents[1] / "portal"
STATIC = PORTAL / "static"
LANGS = ("zh-CN", "en")

#: Only this origin, nothing inline; the camera (getUserMedia) needs no source of its own.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "require-trusted-types-for 'script'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class Page:
    """One portal page: its catalogue key prefix and its built module."""

    name: str
    module: str


PAGES = {page.name: page for page in (
    Page("home", "home"), Page("trace", "trace"), Page("verify", "verify"), Page("credit", "credit"),
    Page("console", "console"), Page("dashboard", "dashboard"),
)}
NAV = (("home", "/"), ("verify", "/verify"), ("credit", "/credit"), ("dashboard", "/dashboard"), ("console", "/console"))


class PortalFileMissing(GatewayError):
    """Raised when a static file the portal asks for is not among the built files."""

    status = 404
    slug = "not-found"


def _build_stamp() -> int:
    """When the built files last changed (``scripts/build-portal`` writes the manifest last): the
    files are read once per build, so a rebuild while the gateway runs shows at the next request."""
    try:
        return (STATIC / "manifest.json").stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=1)
def _catalogue(stamp: int) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads((STATIC / "messages.json").read_text(encoding="utf-8"))
    return data


def catalogue() -> dict[str, dict[str, str]]:
    """The message catalogue as built (``{key: {"zh-CN": …, "en": …}}``)."""
    return _catalogue(_build_stamp())


def message(key: str, lang: str) -> str:
    return catalogue()[key][lang]


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def static_files() -> dict[str, StaticFile]:
    """Every built file, read once per build (a fixed set: nothing outside it is ever served)."""
    return _static_files(_build_stamp())


@lru_cache(maxsize=1)
def _static_files(stamp: int) -> dict[str, StaticFile]:
    out: dict[str, StaticFile] = {}
    for path in sorted(STATIC.rglob("*")):
        if not path.is_file():
            continue
        body = path.read_bytes()
        kind = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".json": "application/json", ".svg": "image/svg+xml"}.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        out[path.relative_to(STATIC).as_posix()] = StaticFile(body, kind or "application/octet-stream",
                                                              '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return out


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def language(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "zh-CN"


def _href(path: str, lang: str) -> str:
    return path + ("?lang=en" if lang == "en" else "")


def _text(key: str, lang: str, tag: str = "span", **attrs: str) -> str:
    """An element whose text is catalogue entry ``key`` (marked for the translation check)."""
    extra = "".join(f' {name.replace("_", "-")}="{html.escape(value)}"' for name, value in attrs.items())
    return f'<{tag} data-i18n="{html.escape(key)}"{extra}>{html.escape(message(key, lang))}</{tag}>'


def render(page: Page, request: Request) -> str:
    """The page's HTML shell in the request's language."""
    lang = language(request)
    other = "en" if lang == "zh-CN" else "zh-CN"
    query = dict(request.query_params)
    query.pop("lang", None)
    if other == "en":
        query["lang"] = "en"
    from urllib.parse import urlencode

    switch = request.url.path + ("?" + urlencode(query) if query else "")
    nav = "".join(
        f'<li><a href="{html.escape(_href(path, lang))}"'
        + (' aria-current="page"' if name == page.name or (page.name == "trace" and name == "home") else "")
        + f'>{_text(f"nav.{name}", lang)}</a></li>' for name, path in NAV)
    title = f"{message(f'page.{page.name}.title', lang)} · {message('site.name', lang)}"
    return (
        "<!doctype html>\n"
        f'<html lang="{lang}" data-page="{page.name}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n'
        '<link rel="stylesheet" href="/static/portal.css">\n'
        f'<script type="module" src="/static/pages/{page.module}.js"></script>\n'
        "</head>\n<body>\n"
        f'<a class="skip" href="#main">{_text("nav.skip", lang)}</a>\n'
        '<header class="site">\n'
        f'<a class="brand" href="{html.escape(_href("/", lang))}">{_text("site.name", lang)}</a>\n'
        f'<nav aria-label="{html.escape(message("nav.label", lang))}"><ul>{nav}</ul></nav>\n'
        f'<a class="lang" href="{html.escape(switch)}" hreflang="{other}" lang="{other}">'
        f'{_text("lang.switch", lang)}</a>\n'
        "</header>\n"
        f'<main id="main" tabindex="-1">\n{_text(f"page.{page.name}.title", lang, "h1")}\n'
        f'<noscript>{_text("noscript", lang, "p")}</noscript>\n'
        '<div id="app"></div>\n</main>\n'
        f'<footer class="site">{_text("footer.note", lang, "p")}<div id="trust-summary"></div></footer>\n'
        "</body>\n</html>\n"
    )


def page_response(name: str, request: Request) -> Response:
    body = render(PAGES[name], request)
    return secured(Response(body, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}))


@router.get("/")
def home(request: Request) -> Response:
    return page_response("home", request)


@router.get("/trace/{receipt_code}")
def trace_page(receipt_code: str, request: Request) -> Response:
    return page_response("trace", request)


@router.get("/verify")
def verify_page(request: Request) -> Response:
    return page_response("verify", request)


@router.get("/credit")
def credit_search(request: Request) -> Response:
    return page_response("credit", request)


@router.get("/credit/{uscc}")
def credit_page(uscc: str, request: Request) -> Response:
    return page_response("credit", request)


@router.get("/console")
def console_page(request: Request) -> Response:
    return page_response("console", request)


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    return page_response("dashboard", request)


@router.get("/portal/addressbook.json")
def addressbook(services: ServicesDep) -> Response:
    """The address book this gateway serves (chain id, genesis hash, contract addresses): what a
    browser pins on first use as its trust anchor, until the user replaces it with their own."""
    doc: Any = json.loads(services.settings.addressbook.read_text())
    if services.comet is not None:
        # On a CometBFT chain the validator set is part of the anchor: commits are checked against it.
        doc["consensus"] = "cometbft"
        doc["cometbft"] = services.comet.anchor()
    return secured(Response(json.dumps(doc, indent=2), media_type="application/json",
                            headers={"Cache-Control": "no-cache"}))


@router.get("/static/{path:path}")
def static(path: str, request: Request) -> Response:
    found = static_files().get(path)
    if found is None:
        raise PortalFileMissing(f"no portal file {path}")
    if request.headers.get("if-none-match") == found.etag:
        return secured(Response(status_code=304, headers={"ETag": found.etag}))
    return secured(Response(found.body, media_type=found.media_type,
                            headers={"ETag": found.etag, "Cache-Control": "no-cache"}))
