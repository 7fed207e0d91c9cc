"""The ``eth`` namespace (execution-apis ``eth_*``)."""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI
from eth_bloom import BloomFilter
from eth_utils import to_checksum_address

from node.chain import LedgerChain
from node.errors import InvalidParams, LimitExceeded, ResourceNotFound
from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.filters import LogCriteria
from node.rpc.formatters import block_json, d, logs_of_block, q, receipt_json, tx_json

MAX_LOG_RANGE = 10_000
MAX_LOGS = 50_000
MAX_FEE_HISTORY = 1_024


def resolve(chain: LedgerChain, ref: str | int | bytes) -> BlockHeaderAPI | None:
    """A block reference to a canonical header, or None when the chain has no such block.

    ``pending``, ``safe`` and ``finalized`` resolve to the head: a block is final once sealed by
    the single authority (checkpoint witnesses come on top of that).
    """
    if isinstance(ref, bytes):
        return chain.header_by_hash(ref)
    if ref == "earliest":
        return chain.header_by_number(0)
    if isinstance(ref, str):
        return chain.head
    return chain.header_by_number(ref)


def require(chain: LedgerChain, ref: str | int | bytes) -> BlockHeaderAPI:
    header = resolve(chain, ref)
    if header is None:
        raise ResourceNotFound(f"header not found: {ref if not isinstance(ref, bytes) else d(ref)}")
    return header


async def chain_id(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return q(ctx.service.chain.chain_id)


async def block_number(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return q(await ctx.service.run(lambda: ctx.service.chain.head.block_number))


async def syncing(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    status = ctx.service.status()
    highest = status.get("upstreamHead")
    if highest is not None and highest > status["head"]:
        return {"startingBlock": q(status.get("startingBlock", 0)), "currentBlock": q(status["head"]),
                "highestBlock": q(highest)}
    return False


async def zero(ctx: RpcContext, params: list[Any]) -> Any:
    """``eth_gasPrice`` and ``eth_maxPriorityFeePerGas``: the base fee is pinned to zero."""
    p.arity(params, 0, 0)
    return q(0)


async def accounts(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return []


async def fee_history(ctx: RpcContext, params: list[Any]) -> Any:
    count_raw, newest_raw, percentiles = p.arity(params, 2, 3)
    count = count_raw if isinstance(count_raw, int) else p.quantity(count_raw, "blockCount")
    newest_ref = p.block_ref(newest_raw, "newestBlock")
    if percentiles is not None and (not isinstance(percentiles, list) or any(
            not isinstance(x, (int, float)) or not 0 <= x <= 100 for x in percentiles)
            or percentiles != sorted(percentiles)):
        raise InvalidParams("rewardPercentiles: expected ascending numbers between 0 and 100")

    def work() -> Any:
        chain = ctx.service.chain
        newest = require(chain, newest_ref)
        n = max(0, min(count, MAX_FEE_HISTORY, newest.block_number + 1))
        oldest = newest.block_number - n + 1
        headers = [chain.header_by_number(i) for i in range(oldest, newest.block_number + 1)]
        out: dict[str, Any] = {
            "oldestBlock": q(max(oldest, 0)),
            "baseFeePerGas": [q(0)] * (n + 1),
            "gasUsedRatio": [h.gas_used / h.gas_limit if h else 0.0 for h in headers],
            "baseFeePerBlobGas": [q(0)] * (n + 1),
            "blobGasUsedRatio": [0.0] * n,
        }
        if percentiles is not None:
            out["reward"] = [[q(0)] * len(percentiles) for _ in range(n)]
        return out

    return await ctx.service.run(work)


def _state_method(getter: str, with_arg: bool) -> Handler:
    async def handler(ctx: RpcContext, params: list[Any]) -> Any:
        if with_arg:
            account_raw, slot_raw, ref_raw = p.arity(params, 2, 3)
            slot = p.storage_key(slot_raw, "slot")
        else:
            account_raw, ref_raw = p.arity(params, 1, 2)
            slot = 0
        account = p.address(account_raw, "address")
        ref = p.block_ref(ref_raw)

        def work() -> Any:
            chain = ctx.service.chain
            state = chain.state_at(require(chain, ref))
            if getter == "balance":
                return q(state.get_balance(account))
            if getter == "code":
                return d(state.get_code(account))
            if getter == "storage":
                return "0x" + state.get_storage(account, slot).to_bytes(32, "big").hex()
            nonce = state.get_nonce(account)
            if ref == "pending":
                nonce = ctx.service.pending_nonce(account, nonce)
            return q(nonce)

        return await ctx.service.run(work)

    return handler


async def call(ctx: RpcContext, params: list[Any]) -> Any:
    obj, ref_raw, overrides = p.arity(params, 1, 3)
    if overrides:
        raise InvalidParams("state overrides are not supported")
    call_obj = p.call_object(obj)
    ref = p.block_ref(ref_raw)

    def work() -> Any:
        chain = ctx.service.chain
        return d(chain.call(call_obj, require(chain, ref)))

    return await ctx.service.run(work)


async def estimate_gas(ctx: RpcContext, params: list[Any]) -> Any:
    obj, ref_raw, overrides = p.arity(params, 1, 3)
    if overrides:
        raise InvalidParams("state overrides are not supported")
    call_obj = p.call_object(obj)
    ref = p.block_ref(ref_raw)

    def work() -> Any:
        chain = ctx.service.chain
        return q(chain.estimate_gas(call_obj, require(chain, ref)))

    return await ctx.service.run(work)


async def send_raw_transaction(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    return d(await ctx.service.send_raw_transaction(p.data(raw, "transaction")))


async def get_transaction_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    tx_hash = p.hash32(raw, "hash")

    def work() -> Any:
        chain = ctx.service.chain
        where = chain.transaction_location(tx_hash)
        if where is None:
            pending = ctx.service.pending_transaction(tx_hash)
            return tx_json(pending) if pending is not None else None
        header = chain.header_by_number(where[0])
        if header is None:
            return None
        block = chain.block(header)
        return tx_json(block.transactions[where[1]], header, where[1])

    return await ctx.service.run(work)


async def get_transaction_receipt(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    tx_hash = p.hash32(raw, "hash")

    def work() -> Any:
        chain = ctx.service.chain
        where = chain.transaction_location(tx_hash)
        if where is None:
            return None
        header = chain.header_by_number(where[0])
        if header is None:
            return None
        block = chain.block(header)
        return receipt_json(block, chain.receipts(block), where[1])

    return await ctx.service.run(work)


def _block_method(by_hash: bool, what: str) -> Handler:
    async def handler(ctx: RpcContext, params: list[Any]) -> Any:
        if what == "block":
            ref_raw, full = p.arity(params, 1, 2)
            if full is not None and not isinstance(full, bool):
                raise InvalidParams("fullTransactions: expected a boolean")
        else:
            (ref_raw,) = p.arity(params, 1, 1)
            full = False
        ref: str | int | bytes = p.hash32(ref_raw, "blockHash") if by_hash else p.block_ref(ref_raw)

        def work() -> Any:
            chain = ctx.service.chain
            header = resolve(chain, ref)
            if header is None:
                return None
            block = chain.block(header)
            if what == "count":
                return q(len(block.transactions))
            return block_json(block, bool(full))

        return await ctx.service.run(work)

    return handler


def parse_log_filter(obj: Any) -> tuple[LogCriteria, bytes | None]:
    if not isinstance(obj, dict):
        raise InvalidParams("filter: expected an object")
    block_hash = p.hash32(obj["blockHash"], "filter.blockHash") if obj.get("blockHash") else None
    if block_hash is not None and (obj.get("fromBlock") or obj.get("toBlock")):
        raise InvalidParams("filter: blockHash cannot be combined with fromBlock/toBlock")
    addresses_raw = obj.get("address")
    addresses: frozenset[str] | None
    if addresses_raw is None:
        addresses = None
    elif isinstance(addresses_raw, list):
        addresses = frozenset(to_checksum_address(p.address(a, "filter.address")).lower() for a in addresses_raw)
    else:
        addresses = frozenset({to_checksum_address(p.address(addresses_raw, "filter.address")).lower()})
    topics_raw = obj.get("topics") or []
    if not isinstance(topics_raw, list) or len(topics_raw) > 4:
        raise InvalidParams("filter.topics: expected a list of at most 4 entries")
    topics: list[frozenset[str] | None] = []
    for i, entry in enumerate(topics_raw):
        if entry is None or entry == []:
            topics.append(None)
        elif isinstance(entry, list):
            topics.append(frozenset(d(p.hash32(t, f"filter.topics[{i}]")) for t in entry))
        else:
            topics.append(frozenset({d(p.hash32(entry, f"filter.topics[{i}]"))}))
    from_block = p.block_ref(obj.get("fromBlock"), "filter.fromBlock")
    to_block = p.block_ref(obj.get("toBlock"), "filter.toBlock")
    if isinstance(from_block, bytes) or isinstance(to_block, bytes):
        raise InvalidParams("filter: fromBlock/toBlock must be numbers or tags")
    return LogCriteria(addresses, topics, from_block, to_block), block_hash


def _bloom_may_match(header: BlockHeaderAPI, crit: LogCriteria) -> bool:
    bloom = BloomFilter(header.bloom)
    if crit.addresses is not None and not any(
            bytes.fromhex(a[2:]) in bloom for a in crit.addresses):
        return False
    for wanted in crit.topics:
        if wanted is not None and not any(bytes.fromhex(t[2:]) in bloom for t in wanted):
            return False
    return True


def find_logs(chain: LedgerChain, crit: LogCriteria, block_hash: bytes | None) -> list[dict[str, Any]]:
    if block_hash is not None:
        header = chain.header_by_hash(block_hash)
        if header is None:
            raise ResourceNotFound(f"unknown block {d(block_hash)}")
        headers = [header]
    else:
        start = require(chain, crit.from_block).block_number
        end = require(chain, crit.to_block).block_number
        if end < start:
            return []
        if end - start + 1 > MAX_LOG_RANGE:
            raise LimitExceeded(f"block range {end - start + 1} exceeds the limit of {MAX_LOG_RANGE}")
        headers = [h for h in (chain.header_by_number(n) for n in range(start, end + 1)) if h]
    out: list[dict[str, Any]] = []
    for header in headers:
        if not _bloom_may_match(header, crit):
            continue
        block = chain.block(header)
        out.extend(log for log in logs_of_block(block, chain.receipts(block)) if crit.matches(log))
        if len(out) > MAX_LOGS:
            raise LimitExceeded(f"query returned more than {MAX_LOGS} logs; narrow the range")
    return out


async def get_logs(ctx: RpcContext, params: list[Any]) -> Any:
    (obj,) = p.arity(params, 1, 1)
    crit, block_hash = parse_log_filter(obj)
    return await ctx.service.run(find_logs, ctx.service.chain, crit, block_hash)


async def new_filter(ctx: RpcContext, params: list[Any]) -> Any:
    (obj,) = p.arity(params, 1, 1)
    crit, block_hash = parse_log_filter(obj)
    if block_hash is not None:
        raise InvalidParams("filter: blockHash is not allowed in eth_newFilter")
    return ctx.filters.add("logs", crit)


async def new_block_filter(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return ctx.filters.add("block")


async def get_filter_changes(ctx: RpcContext, params: list[Any]) -> Any:
    (filter_id,) = p.arity(params, 1, 1)
    if not isinstance(filter_id, str):
        raise InvalidParams("filter id: expected a hex string")
    return ctx.filters.poll(filter_id)


async def get_filter_logs(ctx: RpcContext, params: list[Any]) -> Any:
    (filter_id,) = p.arity(params, 1, 1)
    if not isinstance(filter_id, str):
        raise InvalidParams("filter id: expected a hex string")
    crit = ctx.filters.criteria(filter_id)
    return await ctx.service.run(find_logs, ctx.service.chain, crit, None)


async def uninstall_filter(ctx: RpcContext, params: list[Any]) -> Any:
    (filter_id,) = p.arity(params, 1, 1)
    if not isinstance(filter_id, str):
        raise InvalidParams("filter id: expected a hex string")
    return ctx.filters.remove(filter_id)


async def get_proof(ctx: RpcContext, params: list[Any]) -> Any:
    account_raw, keys_raw, ref_raw = p.arity(params, 2, 3)
    account = p.address(account_raw, "address")
    if not isinstance(keys_raw, list):
        raise InvalidParams("storageKeys: expected a list")
    if len(keys_raw) > 1_000:
        raise LimitExceeded("storageKeys: at most 1000 keys per request")
    slots = [p.storage_key(k, f"storageKeys[{i}]") for i, k in enumerate(keys_raw)]
    ref = p.block_ref(ref_raw)

    def work() -> Any:
        chain = ctx.service.chain
        proof = chain.get_proof(account, slots, require(chain, ref))
        return {
            "address": to_checksum_address(proof["address"]),
            "accountProof": [d(n) for n in proof["accountProof"]],
            "balance": q(proof["balance"]),
            "codeHash": d(proof["codeHash"]),
            "nonce": q(proof["nonce"]),
            "storageHash": d(proof["storageHash"]),
            "storageProof": [
                {"key": "0x" + s["key"].to_bytes(32, "big").hex(), "value": q(s["value"]),
                 "proof": [d(n) for n in s["proof"]]}
                for s in proof["storageProof"]
            ],
        }

    return await ctx.service.run(work)


METHODS: dict[str, Handler] = {
    "eth_chainId": chain_id,
    "eth_blockNumber": block_number,
    "eth_syncing": syncing,
    "eth_gasPrice": zero,
    "eth_maxPriorityFeePerGas": zero,
    "eth_blobBaseFee": zero,
    "eth_accounts": accounts,
    "eth_feeHistory": fee_history,
    "eth_getBalance": _state_method("balance", False),
    "eth_getCode": _state_method("code", False),
    "eth_getTransactionCount": _state_method("nonce", False),
    "eth_getStorageAt": _state_method("storage", True),
    "eth_call": call,
    "eth_estimateGas": estimate_gas,
    "eth_sendRawTransaction": send_raw_transaction,
    "eth_getTransactionByHash": get_transaction_by_hash,
    "eth_getTransactionReceipt": get_transaction_receipt,
    "eth_getBlockByNumber": _block_method(False, "block"),
    "eth_getBlockByHash": _block_method(True, "block"),
    "eth_getBlockTransactionCountByNumber": _block_method(False, "count"),
    "eth_getBlockTransactionCountByHash": _block_method(True, "count"),
    "eth_getLogs": get_logs,
    "eth_newFilter": new_filter,
    "eth_newBlockFilter": new_block_filter,
    "eth_getFilterChanges": get_filter_changes,
    "eth_getFilterLogs": get_filter_logs,
    "eth_uninstallFilter": uninstall_filter,
    "eth_getProof": get_proof,
}
