"""``cityledger client ...``: the members' command line.

A member acts with its own key, which never leaves this machine: every write is a transaction
signed here and relayed by the gateway (``POST /v1/tx``). Every answer's proofs are checked here
(``gateway.client.verify``) before anything is shown as true: receipt-trie and transaction-trie
proofs up to a sealed header, the seal by a sealer of the set ``GET /v1/roles`` names, the proven
log decoded with the client's own ABI; for relayed transactions, the proven transaction is the one
signed here. Commands print what they checked.

Keys: ``--keystore FILE`` (an encrypted Ethereum keystore; the password from ``--password-file``
or a prompt), or for demos ``--dev-keys FILE --member NAME`` (the development keys file, which
also holds the member's X25519 encryption key). ``--encryption-key FILE`` (an age key file) opens
payloads delivered to the member. Sign-in tokens are cached per gateway and account under
``$XDG_CACHE_HOME/cityledger`` (``~/.cache/cityledger``), readable by the user only.

Output is for people by default; ``--json`` on every command prints one JSON document for scripts.
Exit codes: 0 done; 1 the gateway refused, or a check failed; 2 bad input; 130 interrupted.

Only Click and the standard library are imported at start-up (``cityledger client --help`` stays
fast); each command imports what it needs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gateway.client.errors import BadInput

if TYPE_CHECKING:
    from rich.console import Console

    from gateway.client.api import GatewayClient, TxResult
    from gateway.client.keys import MemberKeys
    from gateway.client.verify import Checked

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_GATEWAY = "http://127.0.0.1:8080"
CHECKED = ("Checked here: every proof up to a sealed header (trie proofs, receipt status, the log decoded with the "
           "client's own ABI), and each seal against the sealer set GET /v1/roles names.")


def default_cache_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cityledger"


@dataclass
class Options:
    """The group's options, and the client built from them on first use."""

    gateway: str
    keystore: Path | None
    password_file: Path | None
    dev_keys: Path | None
    member: str | None
    encryption_key: Path | None
    addressbook: Path | None
    cache_dir: Path
    timeout: float
    json: bool = False
    _client: GatewayClient | None = field(default=None, repr=False)

    def keys(self) -> MemberKeys:
        from gateway.client import keys

        if self.keystore is not None and self.dev_keys is not None:
            raise BadInput("give --keystore or --dev-keys, not both")
        if self.keystore is not None:
            if self.password_file is not None:
                try:
                    password = self.password_file.read_text().rstrip("\n")
                except OSError as exc:
                    raise BadInput(f"cannot read {self.password_file}: {exc}") from None
            else:
                password = click.prompt(f"Password for {self.keystore}", hide_input=True, err=True)
            loaded = keys.from_keystore(self.keystore, password)
        elif self.dev_keys is not None:
            if not self.member:
                raise BadInput("--dev-keys needs --member NAME (a name, part of one, an id or an address)")
            loaded = keys.from_dev_keys(self.dev_keys, self.member)
        else:
            raise BadInput("this command acts as a member: give --keystore FILE, or --dev-keys FILE --member NAME")
        if self.encryption_key is not None:
            loaded = keys.with_encryption_key(loaded, self.encryption_key)
        return loaded

    def client(self) -> GatewayClient:
        if self._client is None:
            from gateway.client.api import GatewayClient

            self._client = GatewayClient(self.gateway, self.keys, cache_dir=self.cache_dir,
                                         addressbook=self.addressbook, timeout=self.timeout)
        return self._client


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit(opts: Options, doc: dict[str, Any], human: Callable[[Console], None]) -> None:
    """One JSON document (``--json``) or the human rendering."""
    if opts.json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    else:
        human(_console())


@contextmanager
def progress_bar(opts: Options, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (when it is a terminal); yields the advance function."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = _console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def json_option(command: F) -> F:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.find_object(Options).json = True  # type: ignore[union-attr]
        return value

    return click.option("--json", "as_json", is_flag=True, expose_value=False, callback=callback,
                        help="Print one JSON document (for scripts) instead of tables.")(command)


pass_options = click.make_pass_decorator(Options)


def checked_doc(command: F) -> F:
    """Append what the client checks to a command's help."""
    command.__doc__ = (command.__doc__ or "").rstrip() + "\n\n" + CHECKED
    return command


def tx_lines(console: Console, result: TxResult, headline: str) -> None:
    console.print(f"[bold green]✓[/] {headline}")
    console.print(f"  transaction {result.tx_hash} in block {result.block_number}; "
                  f"{result.proofs} proof(s) checked here (sealed header, trie proofs, seal, the transaction signed here)")


def checked_line(console: Console, checked: Checked) -> None:
    console.print(f"[dim]{checked.proofs} proof(s) checked here against sealed headers and the sealer set[/]")


def when(value: int) -> str:
    from datetime import datetime, timezone

    if not value:
        return "—"
    return datetime.fromtimestamp(int(value), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def handoff(e: dict[str, Any]) -> str:
    """One custody event of a trace, in words."""
    kind, by = e["kind"], member_name(e["by"])
    quantity = f"{int(e.get('quantity') or 0):,}"
    if kind == "LotRegistered":
        return f"registered {quantity} by {by}"
    if kind == "LotSplit":
        return f"{quantity} split off by {by}"
    if kind == "TransferSent":
        return f"{quantity} sent {member_name(e.get('from'))} → {member_name(e.get('to'))}"
    if kind == "TransferAccepted":
        lost = f"; {int(e['lost']):,} lost: {e.get('reason', '')}" if e.get("lost") else ""
        return f"{int(e['received']):,} of {quantity} accepted by {by}{lost}"
    if kind in ("TransferRefused", "TransferRecalled"):
        verb = "refused" if kind == "TransferRefused" else "recalled"
        return f"{quantity} {verb} by {by}: {e.get('reason', '')} (back to the sender)"
    if kind == "LotConsumed":
        return f"{quantity} used by {by}" + (f" (record {e['documents']})" if e.get("documents") else "")
    return f"{kind} {quantity} by {by}" + (f": {e['reason']}" if e.get("reason") else "")


def member_name(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('name') or '?'} (#{value.get('id')})"
    return str(value)


# ---------------------------------------------------------------------------------------- group
@click.group(name="client", context_settings={"help_option_names": ["-h", "--help"]}, help=(
    "Act as a member of the ledger with your own key, which never leaves this machine: every write "
    "is a transaction signed here and relayed by the gateway (POST /v1/tx).\n\n" + CHECKED + " For relayed "
    "transactions, the proven transaction must be the one signed here.\n\n"
    "Keys: --keystore FILE (password from --password-file or a prompt), or for demos --dev-keys FILE "
    "--member NAME. --json on every command prints one JSON document. Exit codes: 0 done, 1 refused by "
    "the gateway or a check failed, 2 bad input, 130 interrupted."))
@click.option("--gateway", envvar="CITYLEDGER_GATEWAY", show_envvar=True, default=DEFAULT_GATEWAY, show_default=True,
              metavar="URL", help="The gateway's public URL (sign-in messages must name its host).")
@click.option("--keystore", envvar="CITYLEDGER_KEYSTORE", show_envvar=True, type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The member's encrypted Ethereum keystore (JSON, Web3 Secret Storage).")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the keystore's password (asked for when not given).")
@click.option("--dev-keys", envvar="CITYLEDGER_DEV_KEYS", show_envvar=True, type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="DEVELOPMENT ONLY: the keys file `cityledger node init --dev` wrote; use with --member.")
@click.option("--member", envvar="CITYLEDGER_MEMBER", show_envvar=True, default=None, metavar="NAME",
              help="With --dev-keys: the member to act as (its name, a unique part of it, its id or its address).")
@click.option("--encryption-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The member's age key file (X25519), to open payloads delivered to it.")
@click.option("--addressbook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Pin the chain: an address book (scripts/deploy, or DIR/gateway/addressbook.json); the gateway's "
                   "must match it. Without it the gateway's GET /v1/contracts is used.")
@click.option("--cache-dir", envvar="CITYLEDGER_CACHE", show_envvar=True,
              type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where sign-in tokens are kept (default $XDG_CACHE_HOME/cityledger or ~/.cache/cityledger).")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds to wait for each gateway request (a relayed write waits for its block).")
@click.pass_context
def app(ctx: click.Context, gateway: str, keystore: Path | None, password_file: Path | None, dev_keys: Path | None,
        member: str | None, encryption_key: Path | None, addressbook: Path | None, cache_dir: Path | None,
        timeout: float) -> None:
    ctx.obj = Options(gateway, keystore, password_file, dev_keys, member, encryption_key, addressbook,
                      cache_dir or default_cache_dir(), timeout)

    def close() -> None:
        if ctx.obj._client is not None:
            ctx.obj._client.close()

    ctx.call_on_close(close)


# ---------------------------------------------------------------------------------------- sign-in
@app.command("sign-in")
@click.option("--force", is_flag=True, help="Sign in again even when a cached token is still valid.")
@json_option
@pass_options
def sign_in(opts: Options, force: bool) -> None:
    """Sign in with the member's key (EIP-4361; the message is checked to name this gateway, this
    account and this chain before it is signed) and cache the token."""
    client = opts.client()
    session = client.sign_in(force=force)
    m = session["member"]
    doc = {"member": m, "expires_at": session["expires_at"], "gateway": client.url}

    def human(c: Console) -> None:
        c.print(f"[bold green]✓[/] signed in as {m['name']} (#{m['id']}, {m['kind']}, {m['level']}) with {m['account']}")
        c.print(f"  roles: {', '.join(m.get('roles', [])) or '—'}; token valid until {when(session['expires_at'])}")

    emit(opts, doc, human)


# ---------------------------------------------------------------------------------------- data sharing
@app.group("datasets", invoke_without_command=True)
@click.option("--owner", type=int, default=None, help="Only datasets of this member id.")
@json_option
@click.pass_context
@checked_doc
def datasets(ctx: click.Context, owner: int | None) -> None:
    """The dataset catalogue (listed by default; `register` publishes one, `accesses` shows who
    accessed one)."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.client import member

    opts: Options = ctx.obj
    doc, checked = member.datasets(opts.client(), owner)

    def human(c: Console) -> None:
        from rich.table import Table

        table = Table("id", "title", "classification", "owner", "supervisor", "schema", title="Datasets")
        for d in doc["items"]:
            table.add_row(str(d["id"]), d["title"], d["classification"], member_name(d["owner"]),
                          member_name(d["supervisor"]) if d.get("supervisor") else "—", d["schemaCid"] or "—")
        c.print(table)
        checked_line(c, checked)

    emit(opts, {**doc, "proofsChecked": checked.proofs}, human)


@datasets.command("register")
@click.argument("title")
@click.option("--classification", type=click.Choice(["public", "internal", "sensitive", "personal"], case_sensitive=False),
              required=True, help="The dataset's classification (personal data needs a supervisor's second approval).")
@click.option("--schema", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The schema document, uploaded and named by its CID.")
@click.option("--schema-cid", default=None, help="The CID of a schema document already stored.")
@json_option
@pass_options
def datasets_register(opts: Options, title: str, classification: str, schema: Path | None, schema_cid: str | None) -> None:
    """Publish a dataset entry (departments only)."""
    from gateway.client import member

    client = opts.client()
    cid = member.documents_cid(client, schema, schema_cid)
    result = member.register_dataset(client, title, classification, cid)
    dataset_id = int(result.event("DatasetRegistered")["datasetId"])
    emit(opts, {"datasetId": dataset_id, **result.to_json()},
         lambda c: tx_lines(c, result, f"dataset {dataset_id} registered: {title}"))


@datasets.command("accesses")
@click.argument("dataset_id", type=int)
@json_option
@pass_options
@checked_doc
def datasets_accesses(opts: Options, dataset_id: int) -> None:
    """Who accessed a dataset, when and why, refusals included (its owner, supervisor, auditors
    and admins). """
    from gateway.client import member

    items, proofs = member.access_log(opts.client(), dataset_id)

    def human(c: Console) -> None:
        from rich.table import Table

        table = Table("grant", "member", "at", "outcome", "count", "reason", title=f"Accesses to dataset {dataset_id}")
        for a in items:
            table.add_row(str(a["grantId"]), member_name(a["member"]), when(a["at"]),
                          f"[red]refused ({a['state']})[/]" if a["refused"] else "[green]access[/]",
                          str(a["accessCount"]), a["reason"])
        c.print(table)
        c.print(f"[dim]{proofs} proof(s) checked here[/]")

    emit(opts, {"items": items, "proofsChecked": proofs}, human)


@app.command("requests")
@click.option("--direction", type=click.Choice(["incoming", "outgoing", "all"]), default="all", show_default=True,
              help="Requests to the member's datasets, from the member, or both.")
@click.option("--status", default=None, help="Only requests in this status (Pending, Granted, Rejected, Revoked…).")
@json_option
@pass_options
@checked_doc
def requests_(opts: Options, direction: str, status: str | None) -> None:
    """Share requests to and from the member, with their terms."""
    client = opts.client()
    params: dict[str, Any] = {"direction": direction}
    if status:
        params["status"] = status
    doc, checked = client.verified("/v1/requests", auth=True, params=params)

    def human(c: Console) -> None:
        from rich.table import Table

        table = Table("id", "dataset", "requester", "status", "fields", "valid until", "accesses", "purpose",
                      title="Share requests")
        for r in doc["items"]:
            table.add_row(str(r["id"]), str(r["datasetId"]), member_name(r["requester"]), r["status"],
                          ", ".join(r["fields"]), when(r["validUntil"]), f"{r['accessCount']}/{r['maxAccesses']}",
                          r["purpose"])
        c.print(table)
        checked_line(c, checked)

    emit(opts, {**doc, "proofsChecked": checked.proofs}, human)


@app.command("request")
@click.argument("dataset_id", type=int)
@click.option("--purpose", required=True, help="What the data is for (signed into the request).")
@click.option("--legal-basis", required=True, help="The law or decision that allows it (signed into the request).")
@click.option("--field", "fields", multiple=True, required=True, help="A field asked for (repeat the option).")
@click.option("--subjects", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The subjects, one identifier per line: only a salted commitment goes on chain; the salt is "
                   "kept in SUBJECTS.commitment.json (or --salt-out).")
@click.option("--salt-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to keep the subject list's salt and commitment (mode 0600).")
@click.option("--valid-from", default="0", show_default=True, help="Start of validity: unix seconds, a date or +Nd.")
@click.option("--valid-until", default="+30d", show_default=True, help="End of validity: unix seconds, a date or +Nd.")
@click.option("--max-accesses", type=click.IntRange(min=1, max=2**32 - 1), default=10, show_default=True,
              help="How many accesses are asked for.")
@click.option("--nonce", type=click.IntRange(min=0), default=None, help="The request's nonce (default: random).")
@json_option
@pass_options
def request(opts: Options, dataset_id: int, purpose: str, legal_basis: str, fields: tuple[str, ...],
            subjects: Path | None, salt_out: Path | None, valid_from: str, valid_until: str, max_accesses: int,
            nonce: int | None) -> None:
    """Ask for a dataset: the ShareRequest is signed as EIP-712 typed data (portable evidence of
    what was asked and why) and submitted by a signed submitRequest transaction."""
    from gateway.client import member

    client = opts.client()
    done = member.submit_request(client, dataset_id, purpose, legal_basis, list(fields), subjects=subjects,
                                 valid_from=member.parse_when(valid_from), valid_until=member.parse_when(valid_until),
                                 max_accesses=max_accesses, nonce=nonce, salt_out=salt_out)

    def human(c: Console) -> None:
        tx_lines(c, done.result, f"request {done.request_id} submitted for dataset {dataset_id}")
        c.print(f"  fields {', '.join(fields)}; until {when(done.request['validUntil'])}; cap {max_accesses}")
        if done.commitment_file:
            c.print(f"  subject list committed; salt kept in {done.commitment_file}")

    emit(opts, {"requestId": done.request_id, "request": done.request,
                "commitmentFile": str(done.commitment_file) if done.commitment_file else None, **done.result.to_json()},
         human)


@app.command("approve")
@click.argument("request_id", type=int)
@click.option("--fields", default=None, help="Narrow to these fields (comma-separated; each must have been asked for).")
@click.option("--valid-until", default=None, help="Narrow the end of validity (unix seconds, a date or +Nd).")
@click.option("--max-accesses", type=click.IntRange(min=1, max=2**32 - 1), default=None,
              help="Lower the access cap.")
@json_option
@pass_options
def approve(opts: Options, request_id: int, fields: str | None, valid_until: str | None, max_accesses: int | None) -> None:
    """Approve a request to the member's dataset, narrowed if asked (the request's own terms from
    its proven events otherwise); a supervisor gives its second approval of personal data."""
    from gateway.client import member

    result = member.approve(opts.client(), request_id,
                            fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None,
                            valid_until=member.parse_when(valid_until) if valid_until else None,
                            max_accesses=max_accesses)
    approved = next((a for _c, n, a in result.events if n in ("RequestApproved", "SupervisorApproved")), {})

    def human(c: Console) -> None:
        tx_lines(c, result, f"request {request_id} approved")
        if "fields" in approved:
            c.print(f"  fields {', '.join(approved['fields'])}; until {when(approved['validUntil'])}; "
                    f"cap {approved['maxAccesses']}")

    emit(opts, {"requestId": request_id, **result.to_json()}, human)


@app.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why (recorded on chain).")
@json_option
@pass_options
def reject(opts: Options, request_id: int, reason: str) -> None:
    """Reject a request to the member's dataset (the owner, or its supervisor)."""
    from gateway.client import member

    result = member.reject(opts.client(), request_id, reason)
    emit(opts, {"requestId": request_id, **result.to_json()}, lambda c: tx_lines(c, result, f"request {request_id} rejected"))


@app.command("revoke")
@click.argument("grant_id", type=int)
@click.option("--reason", required=True, help="Why (recorded on chain).")
@json_option
@pass_options
def revoke(opts: Options, grant_id: int, reason: str) -> None:
    """Revoke a grant on the member's dataset: every later access is refused."""
    from gateway.client import member

    result = member.revoke(opts.client(), grant_id, reason)
    emit(opts, {"grantId": grant_id, **result.to_json()}, lambda c: tx_lines(c, result, f"grant {grant_id} revoked"))


@app.command("deliver")
@click.argument("grant_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@json_option
@pass_options
def deliver(opts: Options, grant_id: int, file: Path) -> None:
    """Deliver a grant's payload: FILE is encrypted here to the requester's registered X25519 key
    (age format), uploaded (its CID and SHA-256 checked against the local ciphertext), and the
    delivery recorded on chain: CID, ciphertext SHA-256, keccak256 of the plaintext."""
    from gateway.client import member

    client = opts.client()
    with progress_bar(opts, "uploading", file.stat().st_size) as advance:
        done = member.deliver(client, grant_id, file, advance)

    def human(c: Console) -> None:
        tx_lines(c, done.result, f"grant {grant_id}: payload delivered, encrypted to {done.recipient}")
        c.print(f"  CID {done.cid}\n  ciphertext SHA-256 {done.ciphertext_hash}\n  plaintext keccak256 {done.plaintext_commitment}")

    emit(opts, {"grantId": grant_id, "cid": done.cid, "ciphertextHash": done.ciphertext_hash,
                "plaintextCommitment": done.plaintext_commitment, **done.result.to_json()}, human)


@app.command("fetch")
@click.argument("grant_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Where to write the plaintext ('-' for standard output); written only after every check passed.")
@click.option("--reason", default="access by the grantee", show_default=True, help="Why (recorded on chain).")
@json_option
@pass_options
def fetch(opts: Options, grant_id: int, out: Path, reason: str) -> None:
    """Fetch a grant's payload: record the access on chain (a same-nonce refusal is signed too, so a
    refused access is recorded), download the ciphertext once, check its CID and SHA-256 against the
    proven delivery, decrypt it with the member's key, check keccak256(plaintext) against the proven
    commitment, then write it."""
    from gateway.client import member

    to_stdout = str(out) == "-"
    if to_stdout and opts.json:
        raise BadInput("--json and --out - both write to standard output; choose one")
    client = opts.client()
    with progress_bar(opts, "downloading", None) as advance:
        got = member.fetch(client, grant_id, None if to_stdout else out, reason, advance,
                           stdout=sys.stdout.buffer if to_stdout else None)
    if to_stdout:
        sys.stdout.flush()
        _console(stderr=True).print(f"[green]✓[/] grant {grant_id}: access {got.access_count} recorded; "
                                    f"{got.size:,} bytes decrypted and checked (CID, SHA-256, plaintext commitment)")
        return

    def human(c: Console) -> None:
        tx_lines(c, got.result, f"grant {grant_id}: access {got.access_count} recorded")
        c.print(f"  {got.size:,} bytes written to {out}; checked: CID {got.cid}, ciphertext SHA-256 and the "
                "plaintext commitment against the proven delivery")

    emit(opts, {"grantId": grant_id, "out": str(out), "size": got.size, "cid": got.cid, "accessCount": got.access_count,
                **got.result.to_json()}, human)


# ---------------------------------------------------------------------------------------- custody
@app.group("lot")
def lot() -> None:
    """Donated supplies: register, hand over, accept or refuse, consume; stock and one lot's history."""


@lot.command("register")
@click.option("--item", required=True, help="Item code: a category code or GS1 GTIN (at most 32 bytes).")
@click.option("--quantity", type=click.IntRange(min=1), required=True, help="Quantity in the base unit.")
@click.option("--unit", required=True, help="The base unit (piece, box…).")
@click.option("--donor", required=True, help="The donor: committed with a fresh salt, never published.")
@click.option("--public-name", default="", help="The donor's name as the public may see it (empty: anonymous).")
@click.option("--documents", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Intake documents, uploaded and named by CID.")
@click.option("--documents-cid", default=None, help="The CID of intake documents already stored.")
@click.option("--expiry", default="0", show_default=True, help="Expiry date of the goods (a date, unix seconds, 0 = none).")
@json_option
@pass_options
def lot_register(opts: Options, item: str, quantity: int, unit: str, donor: str, public_name: str,
                 documents: Path | None, documents_cid: str | None, expiry: str) -> None:
    """Register a donated lot (charities); prints the donor's receipt code."""
    from gateway.client import member

    client = opts.client()
    cid = member.documents_cid(client, documents, documents_cid)
    done = member.register_lot(client, item, quantity, unit, donor, public_name=public_name, documents=cid,
                               expiry=member.parse_when(expiry) if expiry != "0" else 0)

    def human(c: Console) -> None:
        tx_lines(c, done.result, f"lot {done.lot_id} registered: {quantity} {unit} of {item}")
        c.print(f"  receipt code for the donor: [bold]{done.receipt_code}[/]")
        c.print(f"  donor salt (keep it with the donation's papers): {done.donor_salt}")

    emit(opts, {"lotId": done.lot_id, "receiptCode": done.receipt_code, "onChainReceiptCode": done.on_chain_receipt_code,
                "donorSalt": done.donor_salt, **done.result.to_json()}, human)


@lot.command("transfer")
@click.argument("lot_id", type=int)
@click.argument("quantity", type=click.IntRange(min=1))
@click.option("--to", "to", required=True, help="The receiving member: its id, name or a unique part of the name.")
@json_option
@pass_options
def lot_transfer(opts: Options, lot_id: int, quantity: int, to: str) -> None:
    """Hand over QUANTITY of a lot (a part splits off a child lot); the goods are in transit until
    the receiver accepts or refuses."""
    from gateway.client import member

    result, receiver = member.transfer(opts.client(), lot_id, quantity, to)
    sent = result.event("TransferSent")

    def human(c: Console) -> None:
        tx_lines(c, result, f"transfer {sent['transferId']}: {quantity} of lot {lot_id} → {receiver['name']}")
        if sent["lotId"] != lot_id:
            c.print(f"  a part: child lot {sent['lotId']} is in transit")

    emit(opts, {"transferId": sent["transferId"], "lotId": sent["lotId"], "to": receiver, **result.to_json()}, human)


@lot.command("accept")
@click.argument("transfer_id", type=int)
@click.option("--received", type=click.IntRange(min=0), required=True, help="The quantity actually received.")
@click.option("--loss-reason", default="", help="Why less arrived than was sent (needed for a shortfall).")
@json_option
@pass_options
def lot_accept(opts: Options, transfer_id: int, received: int, loss_reason: str) -> None:
    """Accept goods in transit with the quantity actually received; the difference is recorded as
    a loss with its reason."""
    from gateway.client import member

    result = member.accept(opts.client(), transfer_id, received, loss_reason)
    accepted = result.event("TransferAccepted")
    lost = int(accepted["sent"]) - int(accepted["received"])
    emit(opts, {"transferId": transfer_id, "lotId": accepted["lotId"], "received": accepted["received"], "lost": lost,
                **result.to_json()},
         lambda c: tx_lines(c, result, f"transfer {transfer_id} accepted: {accepted['received']} received"
                                       + (f", {lost} lost ({loss_reason})" if lost else "")))


@lot.command("refuse")
@click.argument("transfer_id", type=int)
@click.option("--reason", required=True, help="Why (recorded on chain); the goods go back to the sender.")
@json_option
@pass_options
def lot_refuse(opts: Options, transfer_id: int, reason: str) -> None:
    """Refuse goods in transit: they return to the sender."""
    from gateway.client import member

    result = member.refuse(opts.client(), transfer_id, reason)
    emit(opts, {"transferId": transfer_id, **result.to_json()},
         lambda c: tx_lines(c, result, f"transfer {transfer_id} refused: {reason}"))


@lot.command("consume")
@click.argument("lot_id", type=int)
@click.argument("quantity", type=click.IntRange(min=1))
@click.option("--documents", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The distribution or consumption record, uploaded and named by CID.")
@click.option("--documents-cid", default=None, help="The CID of a document already stored.")
@json_option
@pass_options
def lot_consume(opts: Options, lot_id: int, quantity: int, documents: Path | None, documents_cid: str | None) -> None:
    """Record distribution or consumption at the final recipient (hospitals, charities)."""
    from gateway.client import member

    client = opts.client()
    result = member.consume(client, lot_id, quantity, member.documents_cid(client, documents, documents_cid))
    emit(opts, {"lotId": lot_id, "quantity": quantity, **result.to_json()},
         lambda c: tx_lines(c, result, f"{quantity} of lot {lot_id} consumed"))


@lot.command("show")
@click.argument("lot_id", type=int)
@json_option
@pass_options
@checked_doc
def lot_show(opts: Options, lot_id: int) -> None:
    """One lot and every custody event on it."""
    doc, checked = opts.client().verified(f"/v1/lots/{lot_id}", auth=True)

    def human(c: Console) -> None:
        from rich.table import Table

        c.print(f"lot {doc['id']}: {doc['item']} held by {member_name(doc['holder'])}: original {doc['original']}, "
                f"held {doc['held']}, in transit {doc['inTransit']}, consumed {doc['consumed']}, losses {doc['losses']}")
        table = Table("event", "at", "by", "quantity", "received", "lost", "reason")
        for e in doc["events"]:
            table.add_row(e["kind"], when(e["at"]), member_name(e["by"]), str(e.get("quantity") or ""),
                          str(e.get("received") or ""), str(e.get("lost") or ""), e.get("reason") or "")
        c.print(table)
        checked_line(c, checked)

    emit(opts, {**doc, "proofsChecked": checked.proofs}, human)


@lot.command("stock")
@click.option("--member", "member_id", type=int, default=None, help="Another member's stock (auditors and admins).")
@json_option
@pass_options
def lot_stock(opts: Options, member_id: int | None) -> None:
    """Goods held, per item, and goods in transit to or from the member (the gateway's summary of
    its index; `lot show` and `trace` prove each event behind it)."""
    client = opts.client()
    params = {"member": member_id} if member_id else None
    stock = client.get("/v1/stock", auth=True, params=params)
    transit = client.get("/v1/transit", auth=True, params=params)

    def human(c: Console) -> None:
        from rich.table import Table

        table = Table("holder", "item", "unit", "held", title="Stock")
        for s in stock["byItem"]:
            table.add_row(member_name(s["holder"]), s["item"], s["unit"], f"{s['held']:,}")
        c.print(table)
        moving = Table("transfer", "lot", "quantity", "from", "to", "sent", title="In transit")
        for t in transit["items"]:
            moving.add_row(str(t["transferId"]), str(t["lotId"]), f"{t['quantity']:,}", member_name(t["from"]),
                           member_name(t["to"]), when(t["sentAt"]))
        c.print(moving)

    emit(opts, {"stock": stock, "transit": transit}, human)


# ---------------------------------------------------------------------------------------- public lookups
@app.command("trace")
@click.argument("code")
@json_option
@pass_options
@checked_doc
def trace(opts: Options, code: str) -> None:
    """A donor's receipt code → every handoff of the goods (public: no key needed). The typed
    code must be the short form of the receipt code in the proven registration."""
    from gateway.client import member

    doc, checked = member.trace(opts.client(), code)

    def human(c: Console) -> None:
        t = doc["totals"]
        c.print(f"[bold]{doc['receiptCode']}[/]: {doc['item']} ({doc['unit']}) given by "
                f"{doc['donor']['publicName'] or 'an anonymous donor'} to {member_name(doc['charity'])}")
        c.print(f"donated {t['donated']:,} · consumed {t['consumed']:,} · lost {t['lost']:,} · held {t['held']:,} · "
                f"in transit {t['inTransit']:,}")
        c.print("[bold]every handoff[/]")
        for e in doc["events"]:
            c.print(f"  {when(e['at'])}  lot {e['lotId']}  {handoff(e)}")
        c.print("[bold]where the goods are now[/]")
        for w in doc["whereNow"]:
            c.print(f"  {w['quantity']:,} {w['state']} at {member_name(w['holder'])} (lot {w['lotId']})")
        checked_line(c, checked)

    emit(opts, {**doc, "proofsChecked": checked.proofs}, human)


# ---------------------------------------------------------------------------------------- credit
@app.group("credit")
def credit() -> None:
    """Credit entries: look up a USCC; regulators issue, correct, revoke and anchor batches."""


@credit.command("show")
@click.argument("uscc")
@json_option
@pass_options
@checked_doc
def credit_show(opts: Options, uscc: str) -> None:
    """The public credit entries of an enterprise by its 18-character USCC (GB 32100-2015 check
    character verified here), corrections and revocations in chain order. """
    from gateway.client import member

    doc, checked = member.credit_history(opts.client(), uscc)

    def human(c: Console) -> None:
        from rich.table import Table

        from rich.table import Column

        table = Table(Column("entry", no_wrap=True), Column("action", no_wrap=True), Column("category", no_wrap=True),
                      Column("amount", no_wrap=True, justify="right"), Column("effective", no_wrap=True), "issuer",
                      "replaces", "reason", title=f"Credit entries of {doc['uscc']}")
        for e in doc["entries"]:
            replaces = e.get("replaces") or {}
            replaced = f" → {e['replacedBy']}" if e.get("replacedBy") else ""
            table.add_row(f"{e.get('id') or '—'}{replaced}", e["action"], e["category"], f"¥{int(e['amount']) / 100:,.2f}",
                          when(e["effectiveDate"])[:10], (e["issuer"] or {}).get("name") or "?",
                          str(replaces.get("entryId") or replaces.get("batchId") or ""), e.get("reason", ""))
        c.print(table)
        c.print(f"in force: {', '.join(map(str, doc['current'])) or 'none'}")
        checked_line(c, checked)

    emit(opts, {**doc, "proofsChecked": checked.proofs}, human)


def _record_options(command: F) -> F:
    options = [
        click.option("--severity", type=click.IntRange(0, 255), default=None, help="Severity on the issuer's scale."),
        click.option("--effective", default=None, help="Effective date (a date or unix seconds)."),
        click.option("--expiry", default=None, help="Expiry date (a date or unix seconds; 0 = open-ended)."),
        click.option("--amount", type=click.IntRange(min=0), default=None, help="Amount in fen (1/100 yuan)."),
        click.option("--summary", default=None, help="The decision's summary (its keccak256 goes on chain)."),
        click.option("--evidence", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                     help="The evidence document, uploaded and named by CID."),
        click.option("--evidence-cid", default=None, help="The CID of evidence already stored."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


CATEGORIES = ["License", "Penalty", "Commendation", "AbnormalOperation", "SeriousDishonesty", "ContractDefault"]


@credit.command("issue")
@click.argument("uscc")
@click.option("--category", type=click.Choice(CATEGORIES, case_sensitive=False), required=True,
              help="The entry's category (the regulator must be authorised for it).")
@_record_options
@json_option
@pass_options
def credit_issue(opts: Options, uscc: str, category: str, severity: int | None, effective: str | None,
                 expiry: str | None, amount: int | None, summary: str | None, evidence: Path | None,
                 evidence_cid: str | None) -> None:
    """Issue a public credit entry about USCC (authorised regulators)."""
    from gateway.client import member

    if summary is None or effective is None:
        raise BadInput("an entry needs --summary and --effective")
    client = opts.client()
    record = member.credit_record(uscc, category, severity or 0, member.parse_when(effective),
                                  member.parse_when(expiry) if expiry and expiry != "0" else 0, amount or 0,
                                  member.keccak_text(summary), member.documents_cid(client, evidence, evidence_cid))
    result = member.issue(client, record)
    entry_id = int(result.event("EntryIssued")["entryId"])
    emit(opts, {"entryId": entry_id, **result.to_json()},
         lambda c: tx_lines(c, result, f"credit entry {entry_id} issued about {record['uscc']}"))


@credit.command("correct")
@click.argument("entry_id", type=int)
@click.option("--reason", required=True, help="Why the entry is corrected (public).")
@click.option("--category", type=click.Choice(CATEGORIES, case_sensitive=False), default=None,
              help="A corrected category.")
@_record_options
@json_option
@pass_options
def credit_correct(opts: Options, entry_id: int, reason: str, category: str | None, severity: int | None,
                   effective: str | None, expiry: str | None, amount: int | None, summary: str | None,
                   evidence: Path | None, evidence_cid: str | None) -> None:
    """Correct an entry: a new entry replaces it, the old one's proven content with the given
    fields changed, and the reason; the old entry stays in the history."""
    from gateway.client import member

    client = opts.client()
    cid = member.documents_cid(client, evidence, evidence_cid) if (evidence or evidence_cid) else None
    result = member.correct(client, entry_id, reason, category=category, severity=severity,
                            effectiveDate=member.parse_when(effective) if effective else None,
                            expiryDate=(member.parse_when(expiry) if expiry != "0" else 0) if expiry else None,
                            amount=amount, summaryHash=member.keccak_text(summary) if summary else None,
                            evidenceCid=cid)
    new_id = int(result.event("EntrySuperseded")["entryId"])
    emit(opts, {"entryId": new_id, "replaces": entry_id, **result.to_json()},
         lambda c: tx_lines(c, result, f"entry {entry_id} corrected by entry {new_id}"))


@credit.command("revoke")
@click.argument("entry_id", type=int)
@click.option("--reason", required=True, help="Why the entry is revoked (public).")
@json_option
@pass_options
def credit_revoke(opts: Options, entry_id: int, reason: str) -> None:
    """Revoke an entry (a revocation entry refers to it, with the reason)."""
    from gateway.client import member

    result = member.revoke_entry(opts.client(), entry_id, reason)
    new_id = int(result.event("EntryRevoked")["entryId"])
    emit(opts, {"entryId": new_id, "revokes": entry_id, **result.to_json()},
         lambda c: tx_lines(c, result, f"entry {entry_id} revoked (entry {new_id})"))


@credit.command("batch")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--category", type=click.Choice(CATEGORIES, case_sensitive=False), required=True,
              help="The batch's category (every entry of a batch has it).")
@json_option
@pass_options
def credit_batch(opts: Options, file: Path, category: str) -> None:
    """Anchor a batch of entries from a CSV file (columns uscc, severity, effective_date,
    expiry_date, amount, summary, evidence_cid, visibility). The file is streamed to the gateway's
    batch endpoint; rejected rows are listed by line; the offered anchorBatch call is checked here
    (the batch file is downloaded by its CID, compared with the rows, and its Merkle root rebuilt)
    before it is signed and relayed."""
    from gateway.client.batch import BatchRowsRejected, anchor_csv

    client = opts.client()
    notes: list[str] = []
    try:
        with progress_bar(opts, "uploading", file.stat().st_size) as advance:
            done = anchor_csv(client, file, category, progress=advance, on_local=notes.append)
    except BatchRowsRejected as exc:
        if opts.json:
            click.echo(json.dumps({"rejectedRows": exc.rejected_rows, "rows": exc.rows}, indent=2, ensure_ascii=False))
        else:
            from rich.table import Table

            table = Table("line", "column", "reason", title=f"{exc.rejected_rows} rejected row(s) in {file}")
            for row in exc.rows:
                table.add_row(str(row.get("line")), str(row.get("column") or ""), str(row.get("reason")))
            _console(stderr=True).print(table)
        raise

    def human(c: Console) -> None:
        for note in notes:
            c.print(f"[yellow]note:[/] {note}")
        tx_lines(c, done.result, f"batch {done.batch_id} anchored: {done.entry_count:,} {done.category} entries")
        c.print(f"  root {done.merkle_root}; batch file {done.batch_file_cid} (rebuilt and checked here)")

    emit(opts, {"batchId": done.batch_id, "entryCount": done.entry_count, "category": done.category,
                "merkleRoot": done.merkle_root, "batchFileCid": done.batch_file_cid, "builtBy": done.built_by,
                **done.result.to_json()}, human)


# ---------------------------------------------------------------------------------------- governance
@app.group("governance")
def governance() -> None:
    """Consortium decisions by M-of-N admin approval: propose, approve, list."""


@governance.command("authorise-issuer")
@click.argument("member_ref")
@click.argument("category", type=click.Choice(CATEGORIES, case_sensitive=False))
@click.option("--withdraw", is_flag=True, help="Withdraw the authorisation instead of granting it.")
@json_option
@pass_options
def gov_issuer(opts: Options, member_ref: str, category: str, withdraw: bool) -> None:
    """Propose that a regulator may (or may no longer) issue credit entries of CATEGORY."""
    from gateway.client import member

    client = opts.client()
    target = member.resolve_member(client, member_ref)
    result, proposal = member.propose(client, "Credit", "SetIssuer", ["uint256", "uint8", "bool"],
                                      [int(target["id"]), member.enum_value("Credit.Category", category), not withdraw])
    _proposed(opts, result, proposal, "Credit", f"{'withdraw' if withdraw else 'authorise'} {target['name']} for {category}")


@governance.command("suspend")
@click.argument("member_ref")
@click.option("--reason", required=True, help="Why (recorded on chain).")
@json_option
@pass_options
def gov_suspend(opts: Options, member_ref: str, reason: str) -> None:
    """Propose to suspend a member (its accounts stop acting at the next block once approved)."""
    from gateway.client import member

    client = opts.client()
    target = member.resolve_member(client, member_ref)
    result, proposal = member.propose(client, "MemberRegistry", "SuspendMember", ["uint256", "string"],
                                      [int(target["id"]), reason])
    _proposed(opts, result, proposal, "MemberRegistry", f"suspend {target['name']}")


@governance.command("admit")
@click.option("--name", required=True, help="The new member's name as it will be stored (Chinese and/or English).")
@click.option("--kind", type=click.Choice(["department", "charity", "warehouse", "logistics", "hospital", "regulator",
                                           "auditor", "admin"]), required=True, help="The member's kind.")
@click.option("--level", type=click.Choice(["city", "district", "street"]), default="city", show_default=True,
              help="Jurisdiction level.")
@click.option("--account", "accounts", multiple=True, required=True, help="A signing account (repeat the option).")
@click.option("--encryption-key", "encryption_key", default="0x" + "00" * 32, show_default="none",
              help="The member's X25519 public key (0x + 64 hex digits).")
@json_option
@pass_options
def gov_admit(opts: Options, name: str, kind: str, level: str, accounts: tuple[str, ...], encryption_key: str) -> None:
    """Propose to admit a member."""
    from gateway.client import member

    result, proposal = member.propose(opts.client(), "MemberRegistry", "AdmitMember",
                                      ["string", "uint8", "uint8", "address[]", "bytes32"],
                                      [name, member.enum_value("MemberRegistry.MemberKind", kind),
                                       member.enum_value("MemberRegistry.Level", level), list(accounts),
                                       bytes.fromhex(encryption_key.removeprefix("0x"))])
    _proposed(opts, result, proposal, "MemberRegistry", f"admit {name}")


def _proposed(opts: Options, result: TxResult, proposal: int, contract: str, what: str) -> None:
    from gateway.client.member import executed

    done = executed(result)
    emit(opts, {"contract": contract, "proposalId": proposal, "executed": done, **result.to_json()},
         lambda c: tx_lines(c, result, f"{contract} proposal {proposal}: {what}"
                                       + (" (executed)" if done else " (awaiting approvals)")))


@governance.command("approve")
@click.argument("proposal_id", type=int)
@click.option("--contract", type=click.Choice(["MemberRegistry", "DataSharing", "Credit"]), required=True,
              help="The governed contract the proposal belongs to.")
@json_option
@pass_options
def gov_approve(opts: Options, proposal_id: int, contract: str) -> None:
    """Approve a proposal; the approval that reaches the threshold executes it."""
    from gateway.client import member

    result = member.approve_proposal(opts.client(), contract, proposal_id)
    done = member.executed(result)
    emit(opts, {"contract": contract, "proposalId": proposal_id, "executed": done, **result.to_json()},
         lambda c: tx_lines(c, result, f"{contract} proposal {proposal_id} approved" + (" and executed" if done else "")))


@governance.command("proposals")
@click.option("--pending", is_flag=True, help="Only proposals not executed yet.")
@json_option
@pass_options
def gov_proposals(opts: Options, pending: bool) -> None:
    """Governance proposals of every governed contract, as the gateway indexed them (members only)."""
    doc = opts.client().get("/v1/proposals", auth=True, params={"pending": "true"} if pending else None)

    def human(c: Console) -> None:
        from rich.table import Table

        table = Table("contract", "id", "action", "proposer", "approvals", "executed", title="Proposals")
        for p in doc["items"]:
            table.add_row(p["contract"], str(p["id"]), str(p["action"]), str(p["proposer"]["memberId"]),
                          f"{p['approvals']}/{p['threshold']}", "yes" if p["executed"] else "no")
        c.print(table)

    emit(opts, doc, human)


# ---------------------------------------------------------------------------------------- verify
@app.command("verify-proof")
@click.argument("source")
@json_option
@pass_options
def verify_proof(opts: Options, source: str) -> None:
    """Check a record's proofs, or an evidence bundle, here. SOURCE is a JSON file (a saved gateway
    answer, or a bundle from /v1/evidence/...) or a gateway path starting /v1/ (for example
    /v1/evidence/trace/CODE), fetched from the gateway.
    A record: every proof in it as the other commands check them. A bundle (cityledger-evidence/1):
    the checks of audit/bundle.py — the genesis sealer set from its EIP-1186 state proof under the
    genesis hash the address book pins, every sealer change proven and sealed by the set before it,
    and every event's receipt proof, seal (by the set in force at its parent) and content."""
    from gateway.client.errors import VerificationFailed
    from gateway.client.verify import EVIDENCE_FORMAT, verify_bundle

    client = opts.client()
    if not Path(source).exists() and source.startswith("/v1/"):
        doc = client.get(source)
    else:
        try:
            doc = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot read {source}: {exc}") from None
    if isinstance(doc, dict) and doc.get("format") == EVIDENCE_FORMAT:
        report = verify_bundle(doc, client.book, client.codec)
        results = [{"check": r.check, "subject": r.subject, "ok": r.ok, "detail": r.detail} for r in report.results]

        def human(c: Console) -> None:
            from rich.table import Table

            table = Table("check", "subject", "result", "detail", title=f"Evidence bundle {source}")
            for r in report.results:
                table.add_row(r.check, r.subject, "[green]ok[/]" if r.ok else "[red]FAILED[/]", r.detail)
            c.print(table)
            c.print("[bold green]✓ the bundle verifies[/]" if report.ok else
                    f"[bold red]✗ {len(report.failures)} check(s) failed[/]")

        emit(opts, {"kind": "bundle", "ok": report.ok, "results": results}, human)
        if not report.ok:
            first = report.failures[0] if report.failures else None
            raise VerificationFailed(first.check if first else "format",
                                     f"{first.subject}: {first.detail}" if first else "the bundle proves nothing")
        return
    checked = client.checker.answer(doc)
    if checked.proofs == 0:
        raise VerificationFailed("format", f"{source} holds no proof to check")
    emit(opts, {"kind": "record", "ok": True, "proofsChecked": checked.proofs,
                "events": [{"contract": c, "event": e} for c, e, _ in checked.events]},
         lambda c: c.print(f"[bold green]✓[/] {checked.proofs} proof(s) verify: "
                           + ", ".join(sorted({f'{c_}.{e}' for c_, e, _ in checked.events}))))
