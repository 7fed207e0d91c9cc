"""Import policy of ``audit/`` (STYLE rule 1): it re-implements what it checks — tries, proofs,
headers, seals, the product's rules — so besides the standard library it may import only:

* itself, ``rlp`` (decoding) and ``eth_hash`` / ``eth_utils`` (keccak, hex and checksum helpers);
* cryptographic primitives that must never be hand-written: ``eth_keys`` (secp256k1 public-key
  recovery of seals) and ``cryptography`` (Ed25519 witness cosignatures);
* ``eth_abi``, the Ethereum ABI codec (a specified encoding, not the node's code), to decode logs;
* its tools: ``httpx`` (JSON-RPC and gateway requests), ``click`` and ``rich`` (the CLI).

Never ``node``, ``gateway``, py-evm (``eth``) or the ``trie`` package: a bug there must not be
repeated here."""

import ast
import sys
from pathlib import Path

AUDIT_DIR = Path(__file__).resolve().parents[2] / "audit"
ALLOWED = {"audit", "rlp", "eth_hash", "eth_utils", "eth_keys", "cryptography", "eth_abi", "httpx", "click", "rich"}


def imported_top_level_names(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside audit/
                continue
            names.add((node.module or "").split(".")[0])
    return names


def test_audit_imports_only_the_standard_library_rlp_and_keccak() -> None:
    sources = sorted(AUDIT_DIR.rglob("*.py"))
    assert sources, f"no sources under {AUDIT_DIR}"
    crossings = {
        str(source.relative_to(AUDIT_DIR.parent)): sorted(forbidden)
        for source in sources
        if (forbidden := imported_top_level_names(source) - ALLOWED - sys.stdlib_module_names)
    }
    assert crossings == {}
