"""Signed transactions from execution-API JSON back to their EIP-2718 encodings.

The transaction trie (Yellow Paper 4.3) commits to these encodings, so re-encoding every
transaction of a block and rebuilding the trie proves that the node's JSON is the block's
content. Types: legacy (EIP-155), 1 (EIP-2930), 2 (EIP-1559), 4 (EIP-7702). Blob transactions
(type 3) are refused by CityLedger's node and not produced by the contracts' users.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rlp

from gateway.chain.codec import hex_bytes, hex_int
from gateway.errors import ChainDataInvalid


def _to(tx: Mapping[str, Any], where: str) -> bytes:
    return b"" if tx.get("to") is None else hex_bytes(tx["to"], f"{where}.to")


def _access_list(tx: Mapping[str, Any], where: str) -> list[Any]:
    return [
        [hex_bytes(entry["address"], f"{where}.accessList"),
         [hex_bytes(k, f"{where}.accessList") for k in entry["storageKeys"]]]
        for entry in tx.get("accessList") or []
    ]


def _signature(tx: Mapping[str, Any], where: str) -> list[int]:
    parity = tx.get("yParity", tx.get("v"))
    return [hex_int(parity, f"{where}.yParity"), hex_int(tx["r"], f"{where}.r"), hex_int(tx["s"], f"{where}.s")]


def encode_transaction(tx: Mapping[str, Any]) -> bytes:
    """The EIP-2718 encoding of a signed transaction given as execution-API JSON."""
    where = f"transaction {tx.get('hash')}"
    try:
        tx_type = hex_int(tx.get("type", "0x0"), f"{where}.type")
        common = [hex_int(tx["nonce"], f"{where}.nonce")]
        data = hex_bytes(tx.get("input", tx.get("data", "0x")), f"{where}.input")
        if tx_type == 0:
            body = [*common, hex_int(tx["gasPrice"], f"{where}.gasPrice"), hex_int(tx["gas"], f"{where}.gas"),
                    _to(tx, where), hex_int(tx["value"], f"{where}.value"), data,
                    hex_int(tx["v"], f"{where}.v"), hex_int(tx["r"], f"{where}.r"), hex_int(tx["s"], f"{where}.s")]
            return bytes(rlp.encode(body))
        chain_id = hex_int(tx["chainId"], f"{where}.chainId")
        if tx_type == 1:
            fields = [chain_id, *common, hex_int(tx["gasPrice"], f"{where}.gasPrice"),
                      hex_int(tx["gas"], f"{where}.gas"), _to(tx, where), hex_int(tx["value"], f"{where}.value"),
                      data, _access_list(tx, where), *_signature(tx, where)]
        elif tx_type in (2, 4):
            fields = [chain_id, *common, hex_int(tx["maxPriorityFeePerGas"], f"{where}.maxPriorityFeePerGas"),
                      hex_int(tx["maxFeePerGas"], f"{where}.maxFeePerGas"), hex_int(tx["gas"], f"{where}.gas"),
                      _to(tx, where), hex_int(tx["value"], f"{where}.value"), data, _access_list(tx, where)]
            if tx_type == 4:
                fields.append([
                    [hex_int(a["chainId"], where), hex_bytes(a["address"], where), hex_int(a["nonce"], where),
                     hex_int(a["yParity"], where), hex_int(a["r"], where), hex_int(a["s"], where)]
                    for a in tx.get("authorizationList") or []
                ])
            fields.extend(_signature(tx, where))
        else:
            raise ChainDataInvalid(f"{where}.type", f"transaction type {tx_type} is not supported")
        return bytes([tx_type]) + bytes(rlp.encode(fields))
    except KeyError as exc:
        raise ChainDataInvalid(where, f"missing field {exc}") from exc
