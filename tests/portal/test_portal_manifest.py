"""gateway/portal/static/manifest.json says how the committed bundles were made (STYLE.md item 9):
esbuild's version, the settings, and a SHA-256 for every input and output, all current.
(scripts/check-portal, run by scripts/check, rebuilds and diffs; this names the stale file.)"""

from __future__ import annotations

import hashlib
import json

from conftest import ROOT

STATIC = ROOT / "gateway" / "portal" / "static"


def test_the_manifest_matches_the_files() -> None:
    manifest = json.loads((STATIC / "manifest.json").read_text())
    esbuild = json.loads((ROOT / "node_modules" / "esbuild" / "package.json").read_text())
    assert manifest["tool"] == {"name": "esbuild", "version": esbuild["version"]}
    assert manifest["settings"]["minify"] and manifest["settings"]["sourcemap"] is False
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "gateway" / "portal_src").rglob("*.*js")}
    assert sources <= set(manifest["inputs"]), "a portal source is not in the bundle"
    for path, digest in manifest["inputs"].items():
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == digest, f"{path} changed: run scripts/build-portal"
    assert set(manifest["outputs"]) == {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file()} - {"manifest.json"}
    for name, entry in manifest["outputs"].items():
        data = (STATIC / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
        assert str(ROOT).encode() not in data and b"sourceMappingURL" not in data
