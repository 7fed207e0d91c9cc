"""``cityledger payload ...``: CIDs, the payload stores, CAR files and encryption to a member.

``payload cid`` is timed with its process start (``scripts/bench-payloads``), so this module and
that command import only the standard library, Click and ``gateway.payloads.unixfs``; everything
else is imported inside the command that needs it (measure with ``python -X importtime``).

Exit codes (``cityledger_cli``): 0 ok; 1 a check failed (a corrupt block, a wrong key, a tampered
ciphertext); 2 bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from gateway.payloads.store import PayloadStore

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STORE = Path("data/payloads")


@click.group(name="payload", context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Payloads: Kubo-identical CIDs, the embedded block store or a Kubo node, CAR files, and
    encryption to a member's X25519 key (age format)."""


_cid_version = click.option("--cid-version", type=click.Choice(["0", "1"]), default="1", show_default=True,
                            help="CIDv1 (base32, raw leaves) or CIDv0 (Qm…, dag-pb leaves).")


def _store_options(command: F) -> F:
    options = [
        click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help=f"Embedded block store directory (the default store, at {DEFAULT_STORE}/)."),
        click.option("--ipfs", "ipfs_url", default=None, metavar="URL",
                     help="Use a Kubo node instead: its RPC API URL, e.g. http://127.0.0.1:5001."),
        click.option("--max-size", type=click.IntRange(min=1), default=256 * 2**20, show_default=True,
                     help="Refuse uploads larger than this many bytes."),
        click.option("--timeout", type=click.FloatRange(min=0.001), default=60.0, show_default=True,
                     help="Seconds to wait for each request to the IPFS node."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _open(store_dir: Path | None, ipfs_url: str | None, max_size: int, timeout: float) -> PayloadStore:
    from gateway.payloads.store import StoreSettings, open_store

    if store_dir is not None and ipfs_url is not None:
        raise click.UsageError("give --store DIR or --ipfs URL, not both")
    if store_dir is None and ipfs_url is None:
        store_dir = DEFAULT_STORE
    return open_store(StoreSettings(store_dir=store_dir, ipfs_url=ipfs_url, max_size=max_size, timeout=timeout))


_in_file = click.Path(exists=True, dir_okay=False, path_type=Path)
_out_file = click.Path(dir_okay=False, writable=True, path_type=Path)


@app.command()
@click.argument("file", type=_in_file)
@_cid_version
def cid(file: Path, cid_version: str) -> None:
    """Print FILE's CID as Kubo computes it; store nothing.

    The CID is the one `ipfs add` gives with the pinned parameters: sha2-256, 256 KiB chunks, a
    balanced DAG of at most 174 links per node, raw leaves for CIDv1."""
    from gateway.payloads.unixfs import file_cid

    click.echo(file_cid(file, 0 if cid_version == "0" else 1))


@app.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@_cid_version
@_store_options
def add(file: Path, cid_version: str, store_dir: Path | None, ipfs_url: str | None, max_size: int,
        timeout: float) -> None:
    """Store FILE and pin it; print its CID. FILE '-' reads standard input."""
    store = _open(store_dir, ipfs_url, max_size, timeout)
    try:
        if str(file) == "-":
            cid = store.put(sys.stdin.buffer, cid_version=0 if cid_version == "0" else 1)
        else:
            with open(file, "rb", buffering=0) as source:
                cid = store.put(source, cid_version=0 if cid_version == "0" else 1)
    finally:
        store.close()
    click.echo(cid)


@app.command()
@click.argument("cid")
@click.option("--out", type=_out_file, default=None,
              help="Write the payload to this file (only once every block is verified); default: standard output.")
@_store_options
def get(cid: str, out: Path | None, store_dir: Path | None, ipfs_url: str | None, max_size: int,
        timeout: float) -> None:
    """Read a payload, every block verified.

    Each block is re-hashed against its CID; a corrupt or missing block fails with the payload's
    CID and the block's named (exit code 1 for a corrupt block)."""
    from gateway.payloads.store import write_payload

    store = _open(store_dir, ipfs_url, max_size, timeout)
    try:
        if out is not None:
            write_payload(store, cid, out)
        else:
            stdout = sys.stdout.buffer
            for piece in store.stream(cid):
                stdout.write(piece)
            stdout.flush()
    finally:
        store.close()


@app.command(name="export-car")
@click.argument("cid")
@click.argument("out", type=_out_file)
@_store_options
def export_car(cid: str, out: Path, store_dir: Path | None, ipfs_url: str | None, max_size: int,
               timeout: float) -> None:
    """Write a payload to a CAR v1 file.

    OUT holds the payload's root and every block (each verified), for `ipfs dag import` on any
    IPFS node."""
    from gateway.payloads.files import atomic_output

    store = _open(store_dir, ipfs_url, max_size, timeout)
    try:
        with atomic_output(out) as temp, open(temp, "wb") as sink:
            size = store.export_car(cid, sink)
    finally:
        store.close()
    click.echo(f"wrote {out} ({size} bytes)", err=True)


@app.command(name="import-car")
@click.argument("car", type=_in_file)
@_store_options
def import_car(car: Path, store_dir: Path | None, ipfs_url: str | None, max_size: int, timeout: float) -> None:
    """Import a CAR v1 file and pin its roots.

    Every block is checked against its CID and every root's DAG must be complete; prints the
    roots."""
    store = _open(store_dir, ipfs_url, max_size, timeout)
    try:
        with open(car, "rb") as source:
            roots = store.import_car(source)
    finally:
        store.close()
    for root in roots:
        click.echo(root)


@app.command()
@_store_options
def pins(store_dir: Path | None, ipfs_url: str | None, max_size: int, timeout: float) -> None:
    """List the pinned payloads of the store."""
    store = _open(store_dir, ipfs_url, max_size, timeout)
    try:
        for root in store.pins():
            click.echo(root)
    finally:
        store.close()


@app.command()
@click.option("--out", type=_out_file, required=True,
              help="The new key file (age format, mode 0600); an existing file is never overwritten.")
def keygen(out: Path) -> None:
    """Make a member's X25519 key pair.

    Writes the secret to a key file (age format) and prints the public key twice: the bytes32 to
    register in MemberRegistry, then the age recipient."""
    from gateway.payloads.encryption import generate_key_pair, write_key_file

    pair = generate_key_pair()
    write_key_file(pair, out)
    click.echo(f"0x{pair.public_key.hex()}")
    click.echo(pair.recipient)


@app.command()
@click.option("--to", "recipient", required=True, metavar="KEY",
              help="The recipient's X25519 public key: 64 hex digits (MemberRegistry bytes32) or an age1… recipient.")
@click.argument("source", type=_in_file)
@click.argument("out", type=_out_file)
def encrypt(recipient: str, source: Path, out: Path) -> None:
    """Encrypt SOURCE to a member's X25519 key into OUT (age format)."""
    from gateway.payloads.encryption import encrypt_file

    encrypt_file(source, out, recipient)


@app.command()
@click.option("--key", "key_file", type=_in_file, required=True,
              help="The recipient's key file (from `payload keygen`, or any age X25519 identity file).")
@click.argument("source", type=_in_file)
@click.argument("out", type=_out_file)
def decrypt(key_file: Path, source: Path, out: Path) -> None:
    """Decrypt the age file SOURCE into OUT.

    OUT appears only if the whole file authenticates; a wrong key or an altered file exits with
    code 1."""
    from gateway.payloads.encryption import decrypt_file, read_key_file

    decrypt_file(source, out, read_key_file(key_file))
