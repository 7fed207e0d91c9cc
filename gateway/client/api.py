"""The HTTP side of the members' client: sign-in with a cached token, JSON requests that turn
problem+json answers into :class:`GatewayRefused`, streamed uploads and downloads, and signed
transactions relayed through ``POST /v1/tx`` whose answers are checked here before they are
believed (``gateway.client.verify``).

Sign-in is EIP-4361: the client asks for a challenge, checks that the message names this gateway,
its own account and the chain before signing it (EIP-191 ``personal_sign``), and keeps the token
per gateway and account in the cache directory (files readable by the user only), signing in
again when the token expires or the gateway no longer accepts it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from gateway.client.errors import BadInput, GatewayRefused, GatewayUnreachable, VerificationFailed
from gateway.client.keys import MemberKeys

if TYPE_CHECKING:
    from gateway.client.transactions import Signer, TxBuilder
    from gateway.client.verify import Checked, ProofChecker
    from gateway.contracts import AddressBook, EventCodec

ARTIFACTS = Path(__file__).resolve().parents[2] / "contracts" / "artifacts"
#: Gas limit of the client's transactions. Fees are zero on a CityLedger chain, so a generous limit
#: costs nothing; the heaviest call in the gas table (a governance correction of a batch entry)
#: needs under 1M.
DEFAULT_GAS = 3_000_000
#: Sign in again when a cached token has less than this left, seconds.
TOKEN_MARGIN = 60
CHUNK = 1 << 20

Progress = Callable[[int], None]


class TokenCache:
    """Bearer tokens per gateway and account, one file each, mode 0600 in a 0700 directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, gateway: str, account: str) -> Path:
        key = hashlib.sha256(f"{gateway.rstrip('/')}|{account.lower()}".encode()).hexdigest()[:32]
        return self.directory / "tokens" / f"{key}.json"

    def load(self, gateway: str, account: str, now: float | None = None) -> dict[str, Any] | None:
        """The cached sign-in (token, expires_at, member), or None when absent or about to expire."""
        path = self._path(gateway, account)
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if doc.get("gateway") != gateway.rstrip("/") or str(doc.get("account", "")).lower() != account.lower():
            return None
        if int(doc.get("expires_at", 0)) - TOKEN_MARGIN < (time.time() if now is None else now):
            return None
        return doc

    def store(self, gateway: str, account: str, token: str, expires_at: int, member: dict[str, Any]) -> Path:
        path = self._path(gateway, account)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"gateway": gateway.rstrip("/"), "account": account, "token": token, "expires_at": expires_at,
                       "member": member}, fh)
        os.replace(temp, path)
        return path

    def drop(self, gateway: str, account: str) -> None:
        self._path(gateway, account).unlink(missing_ok=True)


@dataclass
class TxResult:
    """A relayed transaction, after the client checked its proofs: the events are decoded by the
    client from the proven logs, not taken from the gateway's JSON."""

    tx_hash: str
    block_number: int
    contract: str
    function: str
    events: list[tuple[str, str, dict[str, Any]]]
    proofs: int
    answer: dict[str, Any] = field(repr=False, default_factory=dict)

    def event(self, name: str) -> dict[str, Any]:
        """The arguments of the first proven event called ``name``."""
        for _contract, event, args in self.events:
            if event == name:
                return args
        raise VerificationFailed("log-content", f"{self.contract}.{self.function} proved no {name} event")

    def to_json(self) -> dict[str, Any]:
        return {"txHash": self.tx_hash, "blockNumber": self.block_number, "call": f"{self.contract}.{self.function}",
                "events": [{"contract": c, "event": e, "args": a} for c, e, a in self.events],
                "proofsChecked": self.proofs}


class GatewayClient:
    """One member (or nobody, for public lookups) talking to one gateway."""

    def __init__(self, url: str, keys: MemberKeys | Callable[[], MemberKeys] | None = None, *,
                 cache_dir: Path | None = None, addressbook: Path | None = None, timeout: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._keys = keys
        self.cache = TokenCache(cache_dir) if cache_dir is not None else None
        self.pinned_addressbook = addressbook
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=10.0), transport=transport)
        self._session: dict[str, Any] | None = None
        self._book: AddressBook | None = None
        self._poa = True
        self._comet: Any = None
        self._builder: TxBuilder | None = None
        self._codec: EventCodec | None = None
        self._checker: ProofChecker | None = None
        self._signer: Signer | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ keys
    @property
    def keys(self) -> MemberKeys:
        if self._keys is None:
            raise BadInput("this command acts as a member: give --keystore FILE, or --dev-keys FILE --member NAME")
        if not isinstance(self._keys, MemberKeys):
            self._keys = self._keys()
        return self._keys

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            from gateway.client.transactions import Signer

            self._signer = Signer(self.keys.private_key, self.book.chain_id)
        return self._signer

    # ------------------------------------------------------------------ HTTP
    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "type" in body:
            raise GatewayRefused(response.status_code, str(body.get("type")), str(body.get("detail", "")), body)
        raise GatewayRefused(response.status_code, "http-error", response.text[:300] or response.reason_phrase, {})

    def request(self, method: str, path: str, *, auth: bool = False, json_body: Any = None,
                content: Callable[[], Any] | None = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> httpx.Response:
        """One request; a member's request carries its token and is retried once after signing in
        again when the gateway says the token expired or is unknown."""
        for attempt in (0, 1):
            all_headers = dict(headers or {})
            if auth:
                all_headers["Authorization"] = f"Bearer {self.token(force=attempt == 1)}"
            try:
                response = self.http.request(method, path, json=json_body, content=content() if content else None,
                                             params=params, headers=all_headers)
            except httpx.TimeoutException as exc:
                raise GatewayUnreachable(self.url, f"{method} {path} timed out ({exc.__class__.__name__})") from None
            except httpx.HTTPError as exc:
                raise GatewayUnreachable(self.url, f"{method} {path}: {exc}") from None
            if auth and attempt == 0 and response.status_code == 401:
                try:
                    reason = response.json().get("reason")
                except ValueError:
                    reason = None
                if reason in ("expired", "no-token"):
                    self._forget_session()
                    continue
            self._raise_for(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, *, auth: bool = False, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json(self.request("GET", path, auth=auth, params=params), path)

    def post(self, path: str, body: Any, *, auth: bool = False) -> dict[str, Any]:
        return self._json(self.request("POST", path, auth=auth, json_body=body), path)

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            doc = response.json()
        except ValueError:
            raise GatewayUnreachable(self.url, f"{path}: the answer is not JSON") from None
        if not isinstance(doc, dict):
            raise GatewayUnreachable(self.url, f"{path}: expected a JSON object")
        return doc

    # ------------------------------------------------------------------ sign-in
    def _forget_session(self) -> None:
        self._session = None
        if self.cache is not None and self._keys is not None:
            self.cache.drop(self.url, self.keys.address)

    def token(self, force: bool = False) -> str:
        return str(self.sign_in(force=force)["token"])

    def sign_in(self, force: bool = False) -> dict[str, Any]:
        """The session (``token``, ``expires_at``, ``member``): cached, or a new EIP-4361 sign-in."""
        if force:
            self._forget_session()
        if self._session is not None and int(self._session["expires_at"]) - TOKEN_MARGIN > time.time():
            return self._session
        if self.cache is not None and not force:
            cached = self.cache.load(self.url, self.keys.address)
            if cached is not None:
                self._session = cached
                return cached
        from gateway.auth.siwe import SiweInvalid, parse_message

        message = str(self.post("/v1/auth/challenge", {"address": self.keys.address})["message"])
        try:
            terms = parse_message(message)
        except SiweInvalid as exc:
            raise VerificationFailed("sign-in-message", f"the gateway's challenge is not an EIP-4361 message: {exc}") from None
        authority = urlsplit(self.url).netloc
        if terms.domain != authority:
            raise VerificationFailed("sign-in-message", f"the challenge is for {terms.domain!r}, but this gateway is "
                                                        f"{authority!r}: not signing it (use the gateway's public URL)")
        if terms.address.lower() != self.keys.address.lower():
            raise VerificationFailed("sign-in-message", f"the challenge names {terms.address}, not this key's {self.keys.address}")
        if terms.chain_id != self.book.chain_id:
            raise VerificationFailed("sign-in-message", f"the challenge is for chain {terms.chain_id}, not {self.book.chain_id}")
        signed = self.post("/v1/auth/token", {"message": message, "signature": self.signer.sign_message(message)})
        session = {"token": signed["token"], "expires_at": int(signed["expires_at"]), "member": signed["member"]}
        if self.cache is not None:
            self.cache.store(self.url, self.keys.address, session["token"], session["expires_at"], session["member"])
        self._session = session
        return session

    @property
    def member(self) -> dict[str, Any]:
        """The signed-in member as the gateway said at sign-in (``id``, ``name``, ``kind``, ``roles``)."""
        return dict(self.sign_in()["member"])

    # ------------------------------------------------------------------ chain context
    @property
    def book(self) -> AddressBook:
        """The address book: the gateway's (``GET /v1/contracts``), which must match the pinned one
        when ``addressbook`` was given."""
        if self._book is None:
            from gateway.contracts import AddressBook, ConfigurationInvalid

            served = self.get("/v1/contracts")
            try:
                book = AddressBook.from_json(served, f"{self.url}/v1/contracts")
                if self.pinned_addressbook is not None:
                    pinned = AddressBook.load(self.pinned_addressbook)
                    if pinned != book:
                        raise VerificationFailed(
                            "addressbook", f"the gateway serves chain {book.chain_id} from genesis "
                                           f"0x{book.deployment_hash.hex()} with other contracts than the pinned "
                                           f"{self.pinned_addressbook} (chain {pinned.chain_id}, 0x{pinned.deployment_hash.hex()})")
                    book = pinned
            except ConfigurationInvalid as exc:
                raise BadInput(str(exc)) from None
            self._poa = served.get("consensus", "cityledger-poa") == "cityledger-poa"
            if served.get("consensus") == "cometbft":
                from gateway.chain.commit import CometGenesis
                from gateway.errors import ProofInvalid

                anchor = served.get("cometbft") or {}
                try:
                    self._comet = CometGenesis.from_json({"chain_id": anchor["chainId"], "validators": anchor["validators"],
                                                          "app_hash": str(anchor.get("appHash", ""))[2:]})
                except (KeyError, TypeError, ValueError, ProofInvalid) as exc:
                    raise VerificationFailed("commit", f"the gateway names no usable CometBFT validator set: {exc}") from None
            self._book = book
        return self._book

    @property
    def builder(self) -> TxBuilder:
        if self._builder is None:
            from gateway.client.transactions import TxBuilder

            self._builder = TxBuilder(ARTIFACTS, self.book)
        return self._builder

    @property
    def codec(self) -> EventCodec:
        if self._codec is None:
            from gateway.contracts import EventCodec

            self._codec = EventCodec(ARTIFACTS, self.book)
        return self._codec

    @property
    def checker(self) -> ProofChecker:
        """Proof checks against the sealer set ``GET /v1/roles`` names (read once per client)."""
        if self._checker is None:
            from gateway.client.verify import ProofChecker

            roles = self.get("/v1/roles")
            book = self.book
            sealers = [bytes.fromhex(str(a)[2:]) for a in roles.get("sealers", [])]
            self._checker = ProofChecker(book, self.codec, sealers, self._poa, self._comet)
        return self._checker

    def verified(self, path: str, *, auth: bool = False, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], Checked]:
        """``GET path`` and the client's own check of every proof in the answer."""
        doc = self.get(path, auth=auth, params=params)
        return doc, self.checker.answer(doc)

    # ------------------------------------------------------------------ transactions
    def nonce(self) -> int:
        answer = self.get(f"/v1/accounts/{self.keys.address}/nonce")
        if int(answer.get("chainId", self.book.chain_id)) != self.book.chain_id:
            raise VerificationFailed("format", f"the nonce is for chain {answer.get('chainId')}")
        return int(answer["nonce"])

    def sign_call(self, contract: str, function: str, args: list[Any], *, nonce: int, gas: int = DEFAULT_GAS) -> bytes:
        to, data = self.builder.call(contract, function, args)
        return self.signer.sign(to, data, nonce=nonce, gas=gas)

    def check_relayed(self, answer: dict[str, Any], raw: bytes, contract: str, function: str) -> TxResult:
        """Check a relay answer: every event proven, each in the transaction this client signed."""
        from eth_hash.auto import keccak

        if str(answer.get("txHash", "")).lower() != "0x" + keccak(raw).hex():
            raise VerificationFailed("tx-hash", f"the gateway answered for {answer.get('txHash')}, not for the "
                                                f"transaction signed here (0x{keccak(raw).hex()})")
        checked = self.checker.answer({"events": answer.get("events", [])}, transaction=raw)
        if not checked.events:
            raise VerificationFailed("format", f"{contract}.{function}: the answer proves no event")
        return TxResult(str(answer["txHash"]), int(answer["blockNumber"]), contract, function, checked.events,
                        checked.proofs, answer)

    def send(self, contract: str, function: str, *args: Any, gas: int = DEFAULT_GAS) -> TxResult:
        """Sign ``contract.function(*args)`` with the member's key, relay it, check the answer."""
        self.sign_in()
        raw = self.sign_call(contract, function, list(args), nonce=self.nonce(), gas=gas)
        answer = self.post("/v1/tx", {"transaction": "0x" + raw.hex()}, auth=True)
        return self.check_relayed(answer, raw, contract, function)

    # ------------------------------------------------------------------ payloads
    def upload(self, path: Path, progress: Progress | None = None) -> dict[str, Any]:
        """Stream a file to ``POST /v1/payloads``; the answer's CID and SHA-256 are checked against
        the file's own (computed here)."""
        from gateway.payloads.unixfs import file_cid

        def body() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        stored = self._json(self.request("POST", "/v1/payloads", auth=True, content=body,
                                         headers={"Content-Type": "application/octet-stream"}), "/v1/payloads")
        expected_sha = "0x" + sha256_file(path)
        if str(stored.get("sha256")) != expected_sha:
            raise VerificationFailed("payload", f"the gateway stored bytes hashing to {stored.get('sha256')}, "
                                                f"the file hashes to {expected_sha}")
        expected_cid = file_cid(path)
        if str(stored.get("cid")) != expected_cid:
            raise VerificationFailed("payload", f"the gateway names the upload {stored.get('cid')}, its CID is {expected_cid}")
        return stored

    def download(self, path: str, out: Path, *, auth: bool = False, progress: Progress | None = None) -> str:
        """Stream ``GET path`` into ``out``; the SHA-256 of what arrived, 0x-hex."""
        digest = hashlib.sha256()
        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        try:
            with self.http.stream("GET", path, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response)
                with out.open("wb") as fh:
                    for chunk in response.iter_bytes(CHUNK):
                        digest.update(chunk)
                        fh.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
        except httpx.HTTPError as exc:
            raise GatewayUnreachable(self.url, f"GET {path}: {exc}") from None
        return "0x" + digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def keccak_file(path: Path) -> str:
    """keccak256 of a file's bytes, 0x-hex, read in chunks (safe-pysha3's incremental Keccak)."""
    import sha3

    digest = sha3.keccak_256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return "0x" + str(digest.hexdigest())
