"""The ``cityledger`` command: one Click group whose subcommands live in the three packages.

This dispatcher sits above ``node``, ``gateway`` and ``audit``, which never import each other. Each
subcommand group is a Click group in its own package, imported only when it is invoked, so a
command's start-up cost is its own (``cityledger payload cid`` is benchmarked with its process
start). ``cityledger --help`` lists every group from the table below without importing any.

Exit codes, the same for every subcommand (scripts rely on them):

* 0 — success;
* 1 — the command ran and found a problem (a verification or a check failed, a server refused);
* 2 — bad input: usage errors, invalid files or arguments, a domain error raised by the package;
* 130 — interrupted (Ctrl-C).

Shell completion comes from Click: ``eval "$(_CITYLEDGER_COMPLETE=bash_source cityledger)"``
(``zsh_source`` and ``fish_source`` likewise).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Group:
    """Where a subcommand group lives and how its domain errors are reported."""

    module: str
    #: The Click group's attribute in ``module``.
    attribute: str
    #: ``module:Class`` of the package's root exception: reported as one line, exit code 2 (or
    #: the exception's own ``exit_code`` attribute).
    error: str
    help: str


GROUPS: dict[str, Group] = {
    "node": Group("node.cli", "app", "node.errors:NodeError",
                  "Run a chain node: init a genesis, run the sealer, follow as a verifying replica."),
    "gateway": Group("gateway.cli", "app", "gateway.errors:GatewayError",
                     "Run the gateway: verified queries, the chain index, payloads, the portal."),
    "payload": Group("gateway.payloads.cli", "app", "gateway.errors:GatewayError",
                     "Payloads: Kubo-identical CIDs, block store or Kubo node, CAR files, encryption."),
    "audit": Group("audit.cli", "app", "audit.errors:AuditError",
                   "Audit: verify evidence offline, audit a whole chain with an independent EVM, witness checkpoints."),
    "client": Group("gateway.client.cli", "app", "gateway.errors:GatewayError",
                    "Act as a member with your own key: sign in, share data, hand over supplies, issue credit."),
    "up": Group("cityledger_up", "up", "cityledger_up:UpError",
                "Start the node and the gateway together (and, with --demo, play the demo city)."),
    "demo": Group("cityledger_up", "demo", "cityledger_up:UpError",
                  "Show what the demo city left in DIR/demo.json (receipt codes, USCCs, grants, batches)."),
}


def _resolve(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _load(name: str) -> click.Command:
    group = GROUPS[name]
    command: click.Command = getattr(importlib.import_module(group.module), group.attribute)
    return command


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in GROUPS:
            return None
        return _load(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, GROUPS[name].help) for name in sorted(GROUPS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """CityLedger: a permissioned EVM ledger for a city's data sharing, emergency-supply custody
    and credit records, served with proofs."""


def run(group: str | None, args: list[str]) -> int:
    """Run ``cityledger [group] args`` and return its exit code (see the module docstring)."""
    command: click.Command = cli if group is None else _load(group)
    prog = "cityledger" if group is None else f"cityledger {group}"
    try:
        result = command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        name = group or _group_of(args)
        if name is not None and isinstance(exc, _resolve(GROUPS[name].error)):
            print(f"cityledger {name}: error: {exc}", file=sys.stderr)
            return int(getattr(exc, "exit_code", 2))
        raise
    return int(result) if isinstance(result, int) else 0


def _group_of(args: list[str]) -> str | None:
    for arg in args:
        if not arg.startswith("-"):
            return arg if arg in GROUPS else None
    return None


def main(argv: list[str] | None = None) -> int:
    # eth-hash picks its keccak backend on first use; pysha3 (safe-pysha3) is ~8x faster than
    # the pycryptodome default. Set here, in the entry point, before anything hashes.
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    return run(None, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
