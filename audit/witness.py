"""``cityledger audit witness``: cosign a checkpoint only after checking the chain up to it.

A witness (C2SP ``tlog-witness``, run here as a client that pulls checkpoints from the node and
pushes cosignatures to the gateway) keeps, per chain, the last checkpoint it cosigned. For each new
checkpoint of size ``n`` after its last of size ``m`` it checks, in order:

1. the origin is the chain it follows (chain id and genesis hash pinned at first use, or by
   ``--trust``);
2. the header of block ``m − 1`` the node serves now is the one the witness verified before — if
   not, the sealer signed two blocks at one height: both sealed headers are written out as a
   proof of equivocation and nothing is cosigned;
3. every header from ``m`` to ``n − 1`` links to its parent and is sealed by a sealer in force at
   its parent (the set from the genesis state, proven with EIP-1186 against block 0, then every
   ``SealersChanged`` of the blocks whose logs bloom admits one, read from receipts checked against
   the header's receipts root);
4. the RFC 6962 root of the block hashes, extended from its stored compact range, is the
   checkpoint's root, and the node's consistency proof from ``m`` to ``n`` verifies (RFC 9162
   2.1.4.2) — if the sealer signed a tree inconsistent with the one cosigned before, the witness
   finds a leaf the two trees disagree on and writes both checkpoints with the two inclusion proofs
   as a proof of equivocation;
5. the checkpoint is signed by a sealer in force at its last block's parent;

and only then signs an Ed25519 ``cosignature/v1`` (C2SP tlog-cosignature), records the checkpoint
(before anything leaves the process) and submits the cosignature with its key binding to the
gateway (``POST /v1/checkpoints/{size}/cosignatures``).

State: ``<key>.state.json`` (origin, sealer set, last cosigned checkpoint, compact range, last
header) and ``<key>.state.hashes`` (32 bytes per verified block: the old tree's leaves, from which
inclusion proofs for an equivocation proof are cut).
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from eth_hash.auto import keccak

from audit import equivocation, tlog
from audit.chain import ChainDataError, Header, Log, bloom_of, decode_receipt, hexb
from audit.errors import AuditError
from audit.events import EventCodec
from audit.genesis import ARTIFACTS, load_trust_file
from audit.rpc import RpcClient
from audit.state_proof import verify_account_proof
from audit.trie import ordered_trie

KEY_FORMAT = "cityledger-witness-key/1"


class WitnessError(AuditError):
    """Raised when the witness cannot work with what it was given: a key file that is not one, a
    node of another chain than its state pins, a gateway that refuses a cosignature.
    ``reason`` says which."""

    exit_code = 2

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Outcome:
    """What one look at the node ended in."""

    ok: bool
    message: str
    cosigned: int | None = None
    proof: Path | None = None


def chain_origin(rpc: RpcClient) -> tuple[int, Header]:
    """The chain id and the (re-hashed) genesis header the node serves."""
    chain_id = int(rpc.call("eth_chainId"), 16)
    genesis = Header.decode(hexb(rpc.call("debug_getRawHeader", ["0x0"]), "genesis header"))
    return chain_id, genesis


def make_key_file(rpc_url: str, name: str, account_key_hex: str) -> dict[str, Any]:
    """A new Ed25519 cosigning key and its binding signed by the witness account's key."""
    rpc = RpcClient(rpc_url)
    chain_id, genesis = chain_origin(rpc)
    rpc.close()
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    binding = tlog.KeyBinding.make(tlog.origin_for(chain_id, genesis.hash), bytes.fromhex(account_key_hex.removeprefix("0x")),
                                   tlog.WitnessKey(name, public))
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {"format": KEY_FORMAT, "name": name, "ed25519": base64.b64encode(seed).decode(), "binding": binding.to_json()}


def _write_atomic(path: Path, text: str) -> None:
    staging = path.with_suffix(path.suffix + ".partial")
    staging.write_text(text)
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, path)


class Witness:
    """One witness of one chain (module docstring)."""

    def __init__(self, rpc_url: str, gateway: str | None, key_file: Path, state_path: Path, trust: Path | None,
                 proofs_dir: Path, clock: Any = time.time) -> None:
        self.rpc = RpcClient(rpc_url)
        self.gateway = gateway
        self.state_path = state_path
        self.hashes_path = state_path.with_suffix(".hashes")
        self.proofs_dir = proofs_dir
        self.clock = clock
        try:
            key_doc = json.loads(key_file.read_text())
            if key_doc.get("format") != KEY_FORMAT:
                raise ValueError(f"not a {KEY_FORMAT} file")
            self.key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(key_doc["ed25519"]))
            self.binding = tlog.KeyBinding.from_json(key_doc["binding"])
            self.name = str(key_doc["name"])
        except (OSError, ValueError, KeyError, tlog.NoteError) as exc:
            raise WitnessError(f"{key_file}: not a witness key file: {exc}") from exc
        self.trust = load_trust_file(trust) if trust is not None else None
        self.state = json.loads(state_path.read_text()) if state_path.exists() else None

    # ------------------------------------------------------------------ the first look
    def _initial_state(self) -> dict[str, Any]:
        chain_id, genesis = chain_origin(self.rpc)
        origin = tlog.origin_for(chain_id, genesis.hash)
        if origin != self.binding.origin:
            raise WitnessError(f"the node serves {origin}; the witness key is bound for {self.binding.origin}")
        if self.trust is not None:
            if self.trust.chain_id != chain_id or (self.trust.genesis_hash not in (None, genesis.hash)):
                raise WitnessError(f"the node serves {origin}, not the chain of {self.trust}")
            if self.trust.sealers:
                sealers = list(self.trust.sealers)
            else:
                sealers = self._genesis_sealers(genesis)
        else:
            sealers = self._genesis_sealers(genesis)
        self.hashes_path.write_bytes(genesis.hash)
        log = tlog.CompactRange()
        log.append(genesis.hash)
        return {"origin": origin, "chainId": chain_id, "genesisHash": "0x" + genesis.hash.hex(),
                "sealers": ["0x" + s.hex() for s in sealers], "size": 1, "root": log.root().hex(), "note": None,
                "range": log.to_json(), "lastHeader": "0x" + genesis.raw.hex()}

    def _genesis_sealers(self, genesis: Header) -> list[bytes]:
        """The registry's sealer set in the genesis state, proven against block 0's state root
        (EIP-1186; the set's slots from the compiler's storage layout)."""
        doc = self.rpc.call("cityledger_genesis")
        registry = str(doc["registry"]["address"])
        layout = json.loads((ARTIFACTS / "MemberRegistry.json").read_text())["storageLayout"]
        slot = next(int(s["slot"]) for s in layout["storage"] if s["label"] == "_sealers")
        first = self.rpc.call("eth_getProof", [registry, [hex(slot)], "0x0"])
        length = verify_account_proof(genesis.field("stateRoot"), first).slot_value(slot)
        base = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
        answer = self.rpc.call("eth_getProof", [registry, [hex(slot)] + [hex(base + i) for i in range(length)], "0x0"])
        account = verify_account_proof(genesis.field("stateRoot"), answer)
        return [account.slot_value(base + i).to_bytes(32, "big")[12:] for i in range(length)]

    # ------------------------------------------------------------------ one look
    def step(self) -> Outcome:
        """Check the node's newest checkpoint and cosign it if everything holds."""
        if self.state is None:
            self.state = self._initial_state()
            _write_atomic(self.state_path, json.dumps(self.state))
        state = self.state
        answer = self.rpc.call("cityledger_latestCheckpoint")
        if answer is None:
            return Outcome(True, "the node has signed no checkpoint yet")
        note = tlog.parse_note(answer["note"])
        point = tlog.parse_checkpoint(note.text)
        if point.origin != state["origin"]:
            return Outcome(False, f"the checkpoint's origin {point.origin} is not {state['origin']}")
        old_size, old_root = int(state["size"]), bytes.fromhex(state["root"])
        if point.size < old_size:
            return Outcome(True, f"checkpoint {point.size} is older than the last cosigned ({old_size})")
        if point.size == old_size and state.get("note"):
            if point.root != old_root:
                return self._checkpoint_equivocation(note, point)
            return Outcome(True, f"checkpoint {point.size} is already cosigned")
        last = Header.decode(hexb(state["lastHeader"], "lastHeader"))
        now_last = Header.decode(hexb(self.rpc.call("debug_getRawHeader", [hex(last.number)]), "header"))
        if now_last.hash != last.hash:
            return self._header_equivocation(last, now_last)
        sealers = [bytes.fromhex(s[2:]) for s in state["sealers"]]
        log = tlog.CompactRange.from_json(state["range"])
        previous, new_hashes = last, []
        signing_set = sealers
        for start in range(old_size, point.size, 64):
            numbers = range(start, min(point.size, start + 64))
            raws = self.rpc.batch([("debug_getRawHeader", [hex(n)]) for n in numbers])
            for number, raw in zip(numbers, raws):
                header = Header.decode(hexb(raw, f"header {number}"))
                if header.number != number or header.parent_hash != previous.hash:
                    return Outcome(False, f"block {number} does not extend block {previous.number}; not cosigning")
                try:
                    signer = header.sealer()
                except ChainDataError as exc:
                    return Outcome(False, f"block {number}: {exc.reason}; not cosigning")
                if signer not in sealers:
                    return Outcome(False, f"block {number} is sealed by 0x{signer.hex()}, not a sealer in force; not cosigning")
                signing_set = sealers  # the set in force at this block's parent signs a checkpoint ending here
                sealers = self._sealer_changes(header, sealers)
                log.append(header.hash)
                new_hashes.append(header.hash)
                previous = header
        if log.root() != point.root:
            return Outcome(False, f"checkpoint {point.size} claims root {point.root.hex()}, the sealed headers give "
                                  f"{log.root().hex()}; not cosigning")
        if state.get("note"):
            proof = [hexb(h, "consistency hash") for h in self.rpc.call("cityledger_consistencyProof", [hex(old_size), hex(point.size)])]
            try:
                tlog.verify_consistency(old_size, point.size, old_root, point.root, proof)
            except tlog.TreeProofError as exc:
                self._append_hashes(new_hashes)
                outcome = self._checkpoint_equivocation(note, point)
                return Outcome(False, f"consistency proof from {old_size}: {exc.reason}. {outcome.message}", proof=outcome.proof)
        try:
            tlog.verify_sealer_signature(note, signing_set)
        except tlog.NoteError as exc:
            return Outcome(False, f"checkpoint {point.size}: {exc.reason}; not cosigning")
        line = tlog.cosign(note.text, self.name, self.key, int(self.clock()))
        self._append_hashes(new_hashes)
        state.update(size=point.size, root=point.root.hex(), note=note.with_signatures([line]).render(),
                     range=log.to_json(), lastHeader="0x" + previous.raw.hex(), sealers=["0x" + s.hex() for s in sealers])
        _write_atomic(self.state_path, json.dumps(state))
        if self.gateway:
            self._submit(point.size, line)
        return Outcome(True, f"cosigned checkpoint {point.size} (root {base64.b64encode(point.root).decode()})", point.size)

    def _sealer_changes(self, header: Header, sealers: list[bytes]) -> list[bytes]:
        """``SealersChanged`` events of a block whose logs bloom admits one (a bloom has no false
        negatives), read from receipts checked against the header's receipts root."""
        registry = bytes.fromhex(self.binding_registry()[2:])
        codec = EventCodec({"MemberRegistry": registry}, ARTIFACTS)
        topic = keccak(b"SealersChanged(address[])")
        probe = bloom_of([Log(registry, (topic,), b"")])
        bloom = int.from_bytes(header.field("logsBloom"), "big")
        if int.from_bytes(probe, "big") & bloom != int.from_bytes(probe, "big"):
            return sealers
        raws = [hexb(r, "receipt") for r in self.rpc.call("debug_getRawReceipts", [hex(header.number)])]
        if ordered_trie(raws).root != header.field("receiptsRoot"):
            raise WitnessError(f"the receipts of block {header.number} do not give its receipts root")
        for raw in raws:
            receipt = decode_receipt(raw)
            if receipt.status != 1:
                continue
            for log in receipt.logs:
                event = codec.decode(log)
                if event is not None and event.name == "SealersChanged":
                    sealers = [bytes.fromhex(s[2:]) for s in event.args["sealers"]]
        return sealers

    def binding_registry(self) -> str:
        if "registry" not in self.__dict__:
            self.__dict__["registry"] = str(self.rpc.call("cityledger_genesis")["registry"]["address"])
        return str(self.__dict__["registry"])

    def _append_hashes(self, hashes: list[bytes]) -> None:
        with open(self.hashes_path, "ab") as handle:
            handle.write(b"".join(hashes))
            handle.flush()
            os.fsync(handle.fileno())

    def _leaves(self) -> list[bytes]:
        data = self.hashes_path.read_bytes()
        return [data[i:i + 32] for i in range(0, len(data), 32)]

    # ------------------------------------------------------------------ equivocation
    def _write_proof(self, doc: dict[str, Any], label: str) -> Path:
        self.proofs_dir.mkdir(parents=True, exist_ok=True)
        path = self.proofs_dir / f"equivocation-{label}.json"
        _write_atomic(path, json.dumps(doc, indent=1) + "\n")
        return path

    def _header_equivocation(self, seen: Header, served: Header) -> Outcome:
        """Two sealed headers at one height; and when the node also signed a checkpoint of the
        size this witness cosigned with another root, those two checkpoints as a second proof."""
        assert self.state is not None
        doc = equivocation.header_proof(int(self.state["chainId"]), hexb(self.state["genesisHash"], "genesis"),
                                        seen.raw, served.raw, f"witness {self.name}")
        path = self._write_proof(doc, f"block-{seen.number}")
        extra = ""
        if self.state.get("note"):
            answer = self.rpc.call("cityledger_checkpoint", [hex(int(self.state["size"]))])
            if answer is not None:
                note = tlog.parse_note(answer["note"])
                point = tlog.parse_checkpoint(note.text)
                if point.root != bytes.fromhex(self.state["root"]):
                    outcome = self._checkpoint_equivocation(note, point)
                    extra = f"; {outcome.message}"
        return Outcome(False, f"EQUIVOCATION: the node now serves another sealed block {seen.number} than the one this "
                              f"witness verified; proof written to {path}; not cosigning{extra}", proof=path)

    def _checkpoint_equivocation(self, note: tlog.Note, point: tlog.Checkpoint) -> Outcome:
        """Two checkpoints that cannot both be true: same size and two roots, or a leaf on which
        the cosigned tree and the node's new tree disagree (found by asking the node for
        inclusion proofs in the new tree, checked against its signed root)."""
        assert self.state is not None
        old_note = tlog.parse_note(self.state["note"])
        old_sealed = tlog.Note(old_note.text, tuple(s for s in old_note.signatures if s.name == point.origin))
        old_point = tlog.parse_checkpoint(old_note.text)
        chain_id, genesis_hash = int(self.state["chainId"]), hexb(self.state["genesisHash"], "genesis")
        if old_point.size == point.size:
            doc = equivocation.checkpoint_proof(chain_id, genesis_hash, old_sealed.render(), note.render(), f"witness {self.name}")
        else:
            leaves = self._leaves()[:old_point.size]
            found = None
            for start in range(0, old_point.size, 128):
                numbers = range(start, min(old_point.size, start + 128))
                answers = self.rpc.batch([("cityledger_inclusionProof", [hex(i), hex(point.size)]) for i in numbers])
                for i, answer in zip(numbers, answers):
                    leaf = hexb(answer["blockHash"], "blockHash")
                    proof = [hexb(h, "proof") for h in answer["proof"]]
                    if leaf == leaves[i]:
                        continue
                    try:
                        tlog.verify_inclusion(leaf, i, point.size, proof, point.root)
                    except tlog.TreeProofError:
                        continue
                    found = (i, leaf, proof)
                    break
                if found:
                    break
            if found is None:
                return Outcome(False, "the new checkpoint is not consistent with the cosigned one, but the node shows no "
                                      "leaf that differs; not cosigning")
            index, leaf, proof = found
            doc = equivocation.checkpoint_proof(chain_id, genesis_hash, old_sealed.render(), note.render(),
                                                f"witness {self.name}", index, [leaves[index], leaf],
                                                [tlog.inclusion_proof(leaves, index, old_point.size), proof])
        path = self._write_proof(doc, f"checkpoints-{old_point.size}-{point.size}")
        return Outcome(False, f"EQUIVOCATION: the sealer signed checkpoints {old_point.size} and {point.size} that are "
                              f"not consistent; proof written to {path}; not cosigning", proof=path)

    # ------------------------------------------------------------------ the gateway and the loop
    def _submit(self, size: int, line: tlog.SignatureLine) -> None:
        try:
            answer = httpx.post(f"{self.gateway}/v1/checkpoints/{size}/cosignatures",
                                json={"cosignature": line.render(), "binding": self.binding.to_json()}, timeout=30)
        except httpx.HTTPError as exc:
            raise WitnessError(f"the gateway {self.gateway} is unreachable: {exc}") from exc
        if answer.status_code >= 300:
            raise WitnessError(f"the gateway refused the cosignature of checkpoint {size}: {answer.status_code} {answer.text[:300]}")

    def follow(self, interval: float) -> int:
        """Look at the node every ``interval`` seconds until interrupted; exit 1 after an equivocation."""
        try:
            while True:
                outcome = self.step()
                print(outcome.message, flush=True)
                if outcome.proof is not None:
                    return 1
                time.sleep(interval)  # the pace of a polling client, not a synchronisation
        except KeyboardInterrupt:
            return 0

