"""node/, gateway/ and audit/ talk over JSON-RPC and HTTP only: none imports another (STYLE 1).
Operator scripts import nothing from the tests: code both need lives under scripts/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("node", "gateway", "audit")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            found.update(alias.name.split(".")[0] for alias in item.names)
        elif isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
            found.add(item.module.split(".")[0])
    return found


def test_no_package_imports_another() -> None:
    crossings = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for other in set(PACKAGES) - {package}:
                if other in _imports(path):
                    crossings.append(f"{path.relative_to(ROOT)} imports {other}")
    assert crossings == []


def test_scripts_import_nothing_from_the_tests() -> None:
    test_modules = {"tests", "conftest", "helpers"} | {p.stem for p in (ROOT / "tests").rglob("test_*.py")}
    crossings = [f"{path.relative_to(ROOT)} imports {name}"
                 for path in (ROOT / "scripts").glob("*.py")
                 for name in sorted(_imports(path) & test_modules)]
    assert crossings == []
    source = (ROOT / "scripts" / "gas_table.py").read_text()
    assert '"tests"' not in source  # nor puts a tests directory on sys.path


def test_the_check_itself_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import audit.mpt\nfrom gateway import app\nfrom .local import y\n")
    assert _imports(sample) == {"audit", "gateway"}
