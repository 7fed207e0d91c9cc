"""The charting library served with the audit report is the pinned npm package's own file
(``scripts/vendor-report-assets`` copies it; this fails when the committed copy drifts)."""

from __future__ import annotations

import hashlib
import json

from conftest import ROOT

ASSETS = ROOT / "audit" / "report_assets"


def test_the_vendored_chart_library_is_the_pinned_package() -> None:
    stamp = json.loads((ASSETS / "VENDORED.json").read_text())
    vendored = (ASSETS / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(vendored).hexdigest() == stamp["sha256"]
    package = json.loads((ROOT / "node_modules" / "chart.js" / "package.json").read_text())
    assert package["version"] == stamp["version"] == json.loads((ROOT / "package.json").read_text())["devDependencies"]["chart.js"]
    assert (ROOT / stamp["source"]).read_bytes() == vendored
