"""The ``cityledger`` command: dispatches to the node, gateway and audit command lines.

This dispatcher sits above the three packages, which never import each other.
"""

from __future__ import annotations

import os
import sys

USAGE = """usage: cityledger {node} ...

  node init|run|follow   the chain node (see `cityledger node --help`)
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # eth-hash picks its keccak backend on first use; pysha3 (safe-pysha3) is ~8x faster than
    # the pycryptodome default. Set here, in the entry point, before anything hashes.
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "node":
        from node.cli import main as node_main

        return node_main(args[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
