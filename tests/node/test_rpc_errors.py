"""Bad input to the JSON-RPC server: each case gets its precise error object, and the node keeps
serving afterwards (it still answers, and a valid transaction sent after the bad one is mined).

One in-process node serves the whole module (``devchain.py``: a real chain on disk, the sealing
loop in a thread, requests through ``httpx.ASGITransport`` into the node's ASGI app): that the same
node survives every case in turn is part of what is tested. Rejected transactions change no state,
so the cases do not interact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import rlp
from conftest import DevNet, make_devnet
from devchain import DevChain, start_devchain
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_TX_BYTES = 128 * 1024
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TRANSACTION_REJECTED = -32003


@dataclass
class Env:
    devnet: DevNet
    node: DevChain


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    devnet = make_devnet(tmp_path_factory.mktemp("rpc-errors") / "node")
    node, stop = start_devchain(devnet, block_time=0.2)
    try:
        yield Env(devnet, node)
    finally:
        stop()


# --------------------------------------------------------------------------------------- helpers
def post(env: Env, payload: Any) -> httpx.Response:
    return env.node.post(payload)


def post_bytes(env: Env, body: bytes) -> httpx.Response:
    return env.node.post(content=body)


def send_and_wait(env: Env, raw: bytes) -> dict[str, Any]:
    return env.node.receipt(rpc_result(env, "eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))


def request(method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        out["params"] = params
    return out


def error_of(response: httpx.Response, request_id: Any = 1) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == request_id
    assert "result" not in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


def rpc_result(env: Env, method: str, params: list[Any] | None = None) -> Any:
    answer = post(env, request(method, params or [])).json()
    assert "error" not in answer, answer
    return answer["result"]


def sign(account: dict[str, Any] | str, *, chain_id: int | None, nonce: int, gas: int = 100_000,
         to: str | None = None, data: bytes = b"", tx_type: int = 2) -> Any:
    key = account if isinstance(account, str) else account["private_key"]
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": 0, "data": data,
                          "to": to or "0x" + "11" * 20}
    if chain_id is not None:
        tx["chainId"] = chain_id
    if tx_type == 2:
        tx.update(type=2, maxFeePerGas=0, maxPriorityFeePerGas=0)
    else:
        tx.update(gasPrice=0)
    return Account.sign_transaction(tx, key)


def nonce_of(env: Env, address: str) -> int:
    return int(rpc_result(env, "eth_getTransactionCount", [address, "pending"]), 16)


def send_raw(env: Env, raw: bytes) -> httpx.Response:
    return post(env, request("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))


def assert_rejected(env: Env, raw: bytes, reason: str, message: str) -> dict[str, Any]:
    """The transaction is refused with ``message`` (a prefix) and leaves no trace in the pool."""
    error = error_of(send_raw(env, raw))
    assert error["code"] == TRANSACTION_REJECTED, error
    assert error["data"] == {"reason": reason}, error
    assert error["message"].startswith(message), error
    assert rpc_result(env, "eth_getTransactionByHash", ["0x" + keccak(raw).hex()]) is None
    return error


def assert_keeps_serving(env: Env, *rejected_raw: bytes) -> None:
    """The node still answers, a valid transaction sent now is mined, and no rejected transaction
    ended up in the chain."""
    head = int(rpc_result(env, "eth_blockNumber"), 16)
    sender = env.devnet.admin(2)
    signed = sign(sender, chain_id=env.devnet.chain_id, nonce=nonce_of(env, sender["address"]),
                  gas=21_000)
    receipt = send_and_wait(env, signed.raw_transaction)
    assert receipt["status"] == "0x1"
    assert int(receipt["blockNumber"], 16) > head
    for raw in rejected_raw:
        assert rpc_result(env, "eth_getTransactionByHash", ["0x" + keccak(raw).hex()]) is None
        assert rpc_result(env, "eth_getTransactionReceipt", ["0x" + keccak(raw).hex()]) is None


def _with_signature(raw: bytes, *, y_parity: int | None = None, r: int | None = None,
                    s: int | None = None) -> bytes:
    """Re-encode a signed EIP-1559 transaction with some of its signature fields replaced."""
    assert raw[0] == 2
    fields = rlp.decode(raw[1:])
    if y_parity is not None:
        fields[-3] = y_parity.to_bytes(1, "big").lstrip(b"\0")
    if r is not None:
        fields[-2] = r.to_bytes(32, "big").lstrip(b"\0")
    if s is not None:
        fields[-1] = s.to_bytes(32, "big").lstrip(b"\0")
    return b"\x02" + rlp.encode(fields)


# ------------------------------------------------------------------------------- request shape
def test_malformed_json_is_a_parse_error(env: Env) -> None:
    for body in (b'{"jsonrpc": "2.0", "id": 1, "method": ', b"\xff\xfe\x00", b"", b"{'single': 1}"):
        error = error_of(post_bytes(env, body), request_id=None)
        assert error["code"] == -32700, body
        assert error["message"].startswith("parse error: "), error
    assert_keeps_serving(env)


@pytest.mark.parametrize(("payload", "request_id", "message"), [
    (42, None, "invalid request: expected a JSON object"),
    ("eth_chainId", None, "invalid request: expected a JSON object"),
    (None, None, "invalid request: expected a JSON object"),
    ({"id": 3, "method": "eth_chainId"}, 3, 'invalid request: "jsonrpc" must be "2.0"'),
    ({"jsonrpc": "1.0", "id": 3, "method": "eth_chainId"}, 3, 'invalid request: "jsonrpc" must be "2.0"'),
    ({"jsonrpc": "2.0", "id": 4, "method": 123}, 4, 'invalid request: "method" must be a string'),
    ({"jsonrpc": "2.0", "id": 4}, 4, 'invalid request: "method" must be a string'),
    ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"}, None,
     "invalid request: id must be a string, number or null"),
    ([], None, "invalid request: empty batch"),
], ids=["number", "string", "null", "no-jsonrpc", "jsonrpc-1.0", "method-int", "no-method",
        "object-id", "empty-batch"])
def test_invalid_request_objects(env: Env, payload: Any, request_id: Any, message: str) -> None:
    response = post_bytes(env, json.dumps(payload).encode())
    assert response.status_code == 200
    assert response.json() == {"jsonrpc": "2.0", "id": request_id,
                               "error": {"code": -32600, "message": message}}
    assert_keeps_serving(env)


def test_unknown_method(env: Env) -> None:
    for method in ("eth_noSuchThing", "_private", "admin_addPeer", "__init__"):
        error = error_of(post(env, request(method, [])))
        assert error == {"code": -32601, "message": f"the method {method} does not exist/is not available"}
    assert_keeps_serving(env)


@pytest.mark.parametrize(("method", "params", "message"), [
    ("eth_blockNumber", [1], "invalid params: expected 0 parameters, got 1"),
    ("eth_getBalance", [], "invalid params: expected 1 to 2 parameters, got 0"),
    ("eth_getTransactionByHash", ["0x" + "00" * 32, "extra"], "invalid params: expected 1 parameters, got 2"),
    ("eth_getBlockByNumber", ["0xzz", False], "invalid params: block: expected a hex quantity like 0x1a, got '0xzz'"),
    ("eth_getBlockByNumber", ["12", False], "invalid params: block: expected a hex quantity like 0x1a, got '12'"),
    ("eth_getBlockByNumber", ["latest", "yes"], "invalid params: fullTransactions: expected a boolean"),
    ("eth_getTransactionByHash", ["0x1234"], "invalid params: hash: expected 32 bytes, got 2"),
    ("eth_sendRawTransaction", ["0xabc"], "invalid params: transaction: expected 0x-prefixed hex bytes, got '0xabc'"),
    ("eth_call", ["not an object"], "invalid params: transaction: expected an object"),
    ("eth_getLogs", [{"fromBlock": "soon"}], "invalid params: filter.fromBlock: expected a hex quantity"),
    ("eth_getBalance", ["0x" + "11" * 20, "latests"],
     "invalid params: block: expected a hex quantity like 0x1a, got 'latests'"),
    ("eth_getBalance", ["0x1234", "latest"], "invalid params: address: expected a 20-byte hex address"),
], ids=["count-0", "count-min", "count-max", "bad-hex-number", "decimal-number", "bad-bool",
        "short-hash", "odd-hex-data", "call-not-object", "bad-log-range", "bad-block-tag", "short-address"])
def test_invalid_params(env: Env, method: str, params: list[Any], message: str) -> None:
    error = error_of(post(env, request(method, params)))
    assert error["code"] == -32602
    assert error["message"].startswith(message), error
    assert_keeps_serving(env)


def test_params_must_be_an_array(env: Env) -> None:
    error = error_of(post(env, request("eth_getBalance", {"address": "0x" + "11" * 20})))
    assert error == {"code": -32602, "message": "invalid params: params must be an array"}
    assert_keeps_serving(env)


def test_bad_address_checksum(env: Env) -> None:
    address = env.devnet.member(0)["address"]
    letters = [i for i, c in enumerate(address) if i > 1 and c.isalpha()]
    assert letters, "a checksummed address with no letters cannot carry a wrong checksum"
    i = letters[0]
    wrong = address[:i] + address[i].swapcase() + address[i + 1:]
    error = error_of(post(env, request("eth_getBalance", [wrong, "latest"])))
    assert error == {"code": -32602, "message": f"invalid params: address: bad EIP-55 checksum in {wrong}"}
    # All-lower and all-upper hex carry no checksum and are accepted (EIP-55).
    assert rpc_result(env, "eth_getBalance", [address.lower(), "latest"]) == "0x0"
    assert rpc_result(env, "eth_getBalance", ["0x" + address[2:].upper(), "latest"]) == "0x0"
    assert_keeps_serving(env)


def test_oversized_request_body(env: Env) -> None:
    padding = "x" * (MAX_BODY_BYTES + 1)
    body = json.dumps(request("web3_sha3", ["0x00"]) | {"padding": padding}).encode()
    expected = {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32005, "message": f"request body exceeds the limit of {MAX_BODY_BYTES} bytes"}}
    declared = post_bytes(env, body)
    assert declared.status_code == 413
    assert declared.json() == expected

    def chunks() -> Iterator[bytes]:  # no content-length: the limit is enforced while streaming
        for start in range(0, len(body), 1 << 20):
            yield body[start:start + (1 << 20)]

    async def chunked() -> Any:  # an async body: ASGITransport streams it without a length
        for chunk in chunks():
            yield chunk

    streamed = env.node.run(env.node.client.post("/", content=chunked(),
                                                 headers={"content-type": "application/json"}))
    assert streamed.status_code == 413
    assert streamed.json() == expected
    # Just under the limit is served.
    fits = json.dumps(request("web3_sha3", ["0x00"]) | {"padding": "x" * (MAX_BODY_BYTES - 200)})
    assert len(fits) <= MAX_BODY_BYTES
    answer = post_bytes(env, fits.encode()).json()
    assert answer["result"] == "0x" + keccak(b"\0").hex()
    assert_keeps_serving(env)


# ------------------------------------------------------------------------ transaction admission
def test_wrong_chain_id(env: Env) -> None:
    member = env.devnet.member(0)
    signed = sign(member, chain_id=env.devnet.chain_id + 1, nonce=nonce_of(env, member["address"]))
    assert_rejected(env, signed.raw_transaction, "chain_id",
                    f"invalid chain id: transaction is for chain {env.devnet.chain_id + 1}, "
                    f"this is chain {env.devnet.chain_id}")
    legacy = sign(member, chain_id=1, nonce=nonce_of(env, member["address"]), tx_type=0)
    assert_rejected(env, legacy.raw_transaction, "chain_id", "invalid chain id: transaction is for chain 1")
    assert_keeps_serving(env, signed.raw_transaction, legacy.raw_transaction)


def test_unrecoverable_signature(env: Env) -> None:
    member = env.devnet.member(1)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]))
    raws = [
        _with_signature(signed.raw_transaction, r=0),
        _with_signature(signed.raw_transaction, s=0),
        _with_signature(signed.raw_transaction, r=SECP256K1_N),
        _with_signature(signed.raw_transaction, y_parity=2),
    ]
    for raw in raws:
        assert_rejected(env, raw, "signature", "invalid sender: bad signature")
    assert_keeps_serving(env, *raws)


def test_high_s_signature_is_rejected(env: Env) -> None:
    """EIP-2: s must be in the lower half of the curve order; (r, n - s) with the other parity is
    a second valid-looking signature of the same transaction under a different hash."""
    member = env.devnet.member(1)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]))
    fields = rlp.decode(signed.raw_transaction[1:])
    y_parity = int.from_bytes(fields[-3], "big")
    malleated = _with_signature(signed.raw_transaction, y_parity=1 - y_parity, s=SECP256K1_N - signed.s)
    assert keccak(malleated) != signed.hash
    assert_rejected(env, malleated, "signature", "invalid sender: bad signature")

    legacy = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]), tx_type=0)
    fields = rlp.decode(legacy.raw_transaction)
    v = int.from_bytes(fields[6], "big")
    fields[6] = (v + 1 if (v - 35) % 2 == 0 else v - 1).to_bytes(4, "big").lstrip(b"\0")  # other parity
    fields[8] = (SECP256K1_N - legacy.s).to_bytes(32, "big").lstrip(b"\0")
    malleated_legacy = rlp.encode(fields)
    assert_rejected(env, malleated_legacy, "signature", "invalid sender: bad signature")
    assert_keeps_serving(env, malleated, malleated_legacy)


def test_tampered_signature_recovers_a_stranger(env: Env) -> None:
    member = env.devnet.member(2)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]))
    # A different but valid r: the signature recovers to some key nobody registered (or to none).
    raw = _with_signature(signed.raw_transaction, r=signed.r ^ 1)
    error = error_of(send_raw(env, raw))
    assert error["code"] == TRANSACTION_REJECTED
    assert error["data"]["reason"] in ("not_member", "signature"), error
    if error["data"]["reason"] == "not_member":
        assert member["address"].lower() not in error["message"].lower()
        assert error["message"].endswith("is not an active member")
    assert rpc_result(env, "eth_getTransactionByHash", ["0x" + keccak(raw).hex()]) is None
    assert_keeps_serving(env, raw)


def test_nonce_too_low_after_a_mined_transaction(env: Env) -> None:
    member = env.devnet.member(3)
    nonce = nonce_of(env, member["address"])
    first = sign(member, chain_id=env.devnet.chain_id, nonce=nonce, gas=21_000)
    receipt = send_and_wait(env, first.raw_transaction)
    assert receipt["status"] == "0x1"
    again = sign(member, chain_id=env.devnet.chain_id, nonce=nonce, gas=22_000)
    assert_rejected(env, again.raw_transaction, "nonce_too_low",
                    f"nonce too low: next nonce {nonce + 1}, tx nonce {nonce}")
    # Re-sending the very transaction that was mined is refused the same way.
    error = error_of(send_raw(env, first.raw_transaction))
    assert error["data"] == {"reason": "nonce_too_low"}
    assert_keeps_serving(env, again.raw_transaction)
    assert rpc_result(env, "eth_getTransactionByHash", ["0x" + bytes(first.hash).hex()])["blockNumber"] == \
        receipt["blockNumber"]


def test_non_member_sender(env: Env) -> None:
    stranger = Account.create()
    signed = sign(stranger.key.hex(), chain_id=env.devnet.chain_id, nonce=0)
    assert_rejected(env, signed.raw_transaction, "not_member",
                    f"sender {stranger.address.lower()} is not an active member")
    assert_keeps_serving(env, signed.raw_transaction)


def test_unprotected_legacy_transaction(env: Env) -> None:
    member = env.devnet.member(4)
    signed = sign(member, chain_id=None, nonce=nonce_of(env, member["address"]), tx_type=0)
    assert signed.v in (27, 28)  # pre-EIP-155
    assert_rejected(env, signed.raw_transaction, "unprotected",
                    "only replay-protected (EIP-155) transactions allowed over RPC")
    assert_keeps_serving(env, signed.raw_transaction)


def test_gas_below_intrinsic(env: Env) -> None:
    member = env.devnet.member(5)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]), gas=20_999)
    assert_rejected(env, signed.raw_transaction, "intrinsic_gas",
                    "intrinsic gas too low: gas 20999, minimum needed 21000")
    with_data = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]),
                     gas=21_000, data=b"\x01" * 10)
    error = assert_rejected(env, with_data.raw_transaction, "intrinsic_gas",
                            "intrinsic gas too low: gas 21000, minimum needed ")
    assert int(error["message"].rsplit(" ", 1)[1]) > 21_000
    assert_keeps_serving(env, signed.raw_transaction, with_data.raw_transaction)


def test_gas_above_block_gas_limit(env: Env) -> None:
    member = env.devnet.member(5)
    limit = int(rpc_result(env, "eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]), gas=limit + 1)
    assert_rejected(env, signed.raw_transaction, "gas_limit",
                    f"exceeds block gas limit: gas {limit + 1}, block gas limit {limit}")
    assert_keeps_serving(env, signed.raw_transaction)


def test_oversized_transaction(env: Env) -> None:
    member = env.devnet.member(6)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]),
                  gas=30_000_000, data=b"\x01" * (MAX_TX_BYTES + 1024))
    size = len(signed.raw_transaction)
    assert size > MAX_TX_BYTES
    error = assert_rejected(env, signed.raw_transaction, "oversized",
                            f"oversized data: {size} bytes, limit {MAX_TX_BYTES}")
    assert "oversized" in error["message"]
    assert_keeps_serving(env, signed.raw_transaction)


def test_blob_transaction_type_is_refused(env: Env) -> None:
    member = env.devnet.member(6)
    signed = sign(member, chain_id=env.devnet.chain_id, nonce=nonce_of(env, member["address"]))
    # An EIP-4844 envelope: type byte 3 ahead of an RLP body (contents beyond the type are moot).
    fields = rlp.decode(signed.raw_transaction[1:])
    blob_body = fields[:-3] + [b"\x01", [b"\x01" + b"\0" * 31]] + fields[-3:]
    raw = b"\x03" + rlp.encode(blob_body)
    assert_rejected(env, raw, "type", "transaction type not supported: blob transactions (type 3)")
    assert_keeps_serving(env, raw)


def test_malformed_transaction_bytes(env: Env) -> None:
    raws = [b"\x02\xc0", b"\x7f" + b"\0" * 10, rlp.encode([b"\x01", b"\x02"]), b"\xf8"]
    for raw in raws:
        assert_rejected(env, raw, "malformed", "invalid transaction encoding")
    error = error_of(send_raw(env, b""))
    assert error == {"code": TRANSACTION_REJECTED, "message": "empty transaction",
                     "data": {"reason": "malformed"}}
    assert_keeps_serving(env, *raws)


def test_duplicate_and_replacement_while_pending(env: Env) -> None:
    member = env.devnet.member(7)
    nonce = nonce_of(env, member["address"])
    held = sign(member, chain_id=env.devnet.chain_id, nonce=nonce + 1, gas=21_000)
    filler = sign(member, chain_id=env.devnet.chain_id, nonce=nonce, gas=21_000)
    tx_hash = HexBytes(rpc_result(env, "eth_sendRawTransaction", [HexBytes(held.raw_transaction).to_0x_hex()]))
    # (it waits on the nonce gap)
    error = error_of(send_raw(env, held.raw_transaction))
    assert error == {"code": TRANSACTION_REJECTED, "message": f"already known: {HexBytes(tx_hash).to_0x_hex()}",
                     "data": {"reason": "known"}}
    rival = sign(member, chain_id=env.devnet.chain_id, nonce=nonce + 1, gas=22_000)
    assert_rejected(env, rival.raw_transaction, "replacement", "replacement transaction underpriced")
    pending = rpc_result(env, "eth_getTransactionByHash", [HexBytes(tx_hash).to_0x_hex()])
    assert pending["blockHash"] is None
    # Filling the gap gets both mined, exactly once.
    rpc_result(env, "eth_sendRawTransaction", [HexBytes(filler.raw_transaction).to_0x_hex()])
    receipt = env.node.receipt(tx_hash.to_0x_hex())
    assert receipt["status"] == "0x1"
    assert int(rpc_result(env, "eth_getTransactionCount", [member["address"], "latest"]), 16) == nonce + 2
    block = rpc_result(env, "eth_getBlockByNumber", [receipt["blockNumber"], False])
    assert block["transactions"] == [HexBytes(filler.hash).to_0x_hex(), tx_hash.to_0x_hex()]
    assert_keeps_serving(env, rival.raw_transaction)
