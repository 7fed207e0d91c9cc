"""``cityledger audit``: verify evidence offline, audit a whole chain, witness checkpoints.

Exit codes (``cityledger_cli``): 0 when everything checked holds, 1 when a check failed or a
violation was found, 2 on bad input (unreadable files, a node that is not what the options say).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from audit.errors import AuditError


class BadInput(AuditError):
    """Raised when a command's input cannot be used (a file that is not JSON or not of a known
    format, a key file without a key). ``what`` names the input, ``reason`` the fault."""

    exit_code = 2

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(str(path), f"cannot read JSON: {exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Check what the chain and the gateway claim, with the audit's own code."""


@app.command()
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust", "trust_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A genesis document (pins the genesis sealer set and chain), an address book (pins the genesis "
                   "hash) or a CometBFT genesis.json (pins the validator set that checks commits, and the genesis "
                   "hash); may be repeated.")
@click.option("--witness-key", "witness_keys", multiple=True,
              help="A witness's verifier key (<name>+<key id>+<base64 key>) or a file holding one; cosignatures by "
                   "pinned keys count, and a checkpoint they cosign pins the chain's origin.")
@click.option("--min-cosignatures", type=click.IntRange(min=0), default=0, show_default=True,
              help="Fail unless the bundle's checkpoint carries at least this many valid witness cosignatures.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for machines).")
def verify(document: Path, trust_files: tuple[Path, ...], witness_keys: tuple[str, ...], min_cosignatures: int,
           as_json: bool) -> int:
    """Verify an evidence bundle or a proof of equivocation offline; every failed check is named."""
    from audit.verify import verify_document

    doc = _load_json(document)
    report = verify_document(doc, [_load_json(p) for p in trust_files], _keys(witness_keys), min_cosignatures)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        for result in report.results:
            mark = "ok  " if result.ok else "FAIL"
            click.echo(f"{mark} {result.check:<14} {result.subject}: {result.detail}")
        click.echo(("VALID: " if report.ok else "INVALID: ") + report.summary())
    return 0 if report.ok else 1


def _keys(values: tuple[str, ...]) -> list[Any]:
    from audit import tlog

    keys = []
    for value in values:
        text = value
        if "+" not in value:
            try:
                text = Path(value).read_text().strip()
            except OSError as exc:
                raise BadInput(value, f"neither a vkey nor a readable file: {exc}") from exc
        try:
            keys.append(tlog.parse_vkey(text))
        except tlog.NoteError as exc:
            raise BadInput(value, exc.reason) from exc
    return keys


@app.command()
@click.option("--rpc", required=True, help="JSON-RPC URL of the chain's node (CityLedger node, replica, or anvil).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for report.html, report.json and the evidence files.")
@click.option("--gateway", default=None, help="Gateway URL: its checkpoints and witness cosignatures are checked too.")
@click.option("--ipfs", default=None, help="Kubo RPC API URL to fetch payloads from (every block re-hashed).")
@click.option("--store", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="An embedded payload store directory to read payloads from, instead of --ipfs.")
@click.option("--trust", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The chain's genesis document or address book (default: the node's cityledger_genesis, "
                   "authenticated by re-deriving block 0).")
@click.option("--executor", type=click.Choice(["auto", "t8n", "pyevm"]), default="auto", show_default=True,
              help="Who re-executes blocks: go-ethereum's evm t8n, py-evm in a separate process, or t8n when found.")
@click.option("--evm", default=None, help="Path of go-ethereum's evm binary (default: .tools/bin/evm, then PATH).")
@click.option("--transit-hours", type=float, default=48.0, show_default=True,
              help="Goods in transit longer than this are an anomaly.")
@click.option("--held-days", type=float, default=30.0, show_default=True,
              help="Goods held by a warehouse longer than this are an anomaly.")
@click.option("--loss-ratio", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="A lot whose losses exceed this share of its original quantity is an anomaly.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--cometbft-genesis", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CometBFT network's genesis.json: check each block's commit by its validators in place of a seal.")
def run(rpc: str, out: Path, gateway: str | None, ipfs: str | None, store: Path | None, trust: Path | None,
        executor: str, evm: str | None, transit_hours: float, held_days: float, loss_ratio: float, quiet: bool,
        cometbft_genesis: Path | None) -> int:
    """Audit a whole chain: seals, re-execution, the product's rules, anomalies, payloads; write a report."""
    from audit.rules import Thresholds
    from audit.run import RunOptions, run_audit

    if ipfs and store:
        raise click.UsageError("give --ipfs or --store, not both")
    thresholds = Thresholds(transit_seconds=int(transit_hours * 3600), held_seconds=int(held_days * 86400),
                            loss_ratio=loss_ratio)
    result = run_audit(RunOptions(rpc=rpc, out=out, gateway=gateway, ipfs=ipfs, store=store, trust=trust,
                                  executor=executor, evm=evm, thresholds=thresholds, progress=not quiet,
                                  cometbft_genesis=cometbft_genesis))
    doc = result.doc
    s = doc["summary"]
    click.echo(f"{'PASSED' if result.ok else 'FAILED'}: chain {doc['chain']['chainId']}, {doc['chain']['blocks']} blocks, "
               f"{doc['chain']['transactions']} transactions re-executed by {doc['executor']['name']}; "
               f"{s['violations']} violation(s), {s['anomalies']} anomalies, {s['losses']} loss(es), {s['warnings']} warning(s)")
    for finding in doc["findings"]:
        if finding["severity"] == "violation":
            click.echo(f"  {finding['id']} {finding['rule']}: {finding['message']}", err=True)
    click.echo(f"report: {out / 'report.html'}")
    return 0 if result.ok else 1


@app.command("witness-key")
@click.option("--rpc", required=True, help="JSON-RPC URL of the chain's node (gives the checkpoint origin).")
@click.option("--name", required=True, help="The witness's key name, a schema-less URL (e.g. audit-ngo.example/w1).")
@click.option("--account-key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File holding the hex private key of the witness account (an auditor member's account).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the witness key file (Ed25519 key and the account's signed binding).")
def witness_key(rpc: str, name: str, account_key: Path, out: Path) -> int:
    """Create a witness's Ed25519 cosigning key, bound to its registered witness account."""
    from audit.witness import make_key_file

    doc = make_key_file(rpc, name, account_key.read_text().strip())
    out.write_text(json.dumps(doc, indent=1) + "\n")
    out.chmod(0o600)
    click.echo(doc["binding"]["vkey"])
    return 0


@app.command()
@click.option("--rpc", required=True, help="JSON-RPC URL of the chain's node (or a replica).")
@click.option("--gateway", default=None,
              help="Gateway URL the cosignatures are submitted to (without it they are only kept in the state file).")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The witness key file (cityledger audit witness-key).")
@click.option("--state", "state_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="The witness's state file (default: next to the key file).")
@click.option("--trust", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The chain's genesis document (its sealer set); default: the node's, checked against block 0's hash "
                   "the first time and pinned in the state file.")
@click.option("--equivocation-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where proofs of equivocation are written (default: next to the state file).")
@click.option("--once", is_flag=True, help="Cosign the newest checkpoint once and exit (default: follow the chain).")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between looks at the node.")
def witness(rpc: str, gateway: str | None, key_file: Path, state_file: Path | None, trust: Path | None,
            equivocation_dir: Path | None, once: bool, interval: float) -> int:
    """Verify the chain up to each new checkpoint and only then cosign it (C2SP tlog-witness)."""
    from audit.witness import Witness

    state_path = state_file or key_file.with_suffix(".state.json")
    w = Witness(rpc, gateway, key_file, state_path, trust, equivocation_dir or state_path.parent)
    if once:
        outcome = w.step()
        click.echo(outcome.message)
        return 0 if outcome.ok else 1
    return w.follow(interval)


@app.command()
@click.option("--rpc", required=True, metavar="URL", help="JSON-RPC URL of a CityLedger validator (CometBFT mode).")
@click.option("--cometbft-genesis", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The network's CometBFT genesis.json: pins the validator set whose signatures count.")
@click.option("--from", "start", type=click.IntRange(min=1), default=1, show_default=True, help="First block.")
@click.option("--to", "end", type=click.IntRange(min=1), default=None, help="Last block (default: the head).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for machines).")
def commits(rpc: str, cometbft_genesis: Path, start: int, end: int | None, as_json: bool) -> int:
    """Check that every block is certified by a CometBFT commit: > 2/3 of the genesis validators'
    Ed25519 precommits on a header whose app hash is the block's own hash (in place of the
    proof-of-authority seal check on a CometBFT network)."""
    from audit.commit import CommitError, audit_commits, parse_validators

    genesis = _load_json(cometbft_genesis)
    try:
        trusted = parse_validators(genesis["validators"])
    except (KeyError, TypeError, CommitError) as exc:
        raise BadInput(str(cometbft_genesis), f"not a CometBFT genesis with validators: {exc}") from exc
    results = audit_commits(rpc, trusted, start, end)
    failed = [r for r in results if r.error is not None]
    if as_json:
        click.echo(json.dumps([{"number": r.number, "blockHash": "0x" + r.block_hash.hex(),
                                "status": "failed" if r.error else "certified" if r.verdict else "pending",
                                **({"check": r.error.check, "reason": r.error.reason} if r.error else {}),
                                **({"height": r.verdict.height, "signedPower": r.verdict.signed_power,
                                    "totalPower": r.verdict.total_power} if r.verdict else {})}
                               for r in results], indent=1))
    else:
        for r in results:
            if r.error is not None:
                click.echo(f"FAIL block {r.number} 0x{r.block_hash.hex()}: {r.error}")
            elif r.verdict is not None:
                click.echo(f"ok   block {r.number} 0x{r.block_hash.hex()}: certified at CometBFT height "
                           f"{r.verdict.height} by {r.verdict.signed_power}/{r.verdict.total_power} voting power")
            else:
                click.echo(f"...  block {r.number} 0x{r.block_hash.hex()}: its certifying header is not committed yet")
        click.echo(("VALID: " if not failed else "INVALID: ") +
                   f"{sum(1 for r in results if r.verdict)} certified, {len(failed)} failed, "
                   f"{sum(1 for r in results if not r.verdict and not r.error)} pending")
    return 1 if failed else 0


def main() -> None:  # pragma: no cover - the cityledger entry point runs the group
    sys.exit(app.main(standalone_mode=False))
