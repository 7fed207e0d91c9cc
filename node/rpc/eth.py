"""The ``eth`` namespace (execution-apis ``eth_*``): one thin function per method.

Each handler decodes its parameters (``params``), asks the service's async facade, and formats
the domain answer (``formatters``).
"""

from __future__ import annotations

from typing import Any

from node.errors import InvalidParams, LimitExceeded
from node.index import LogFilter
from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.formatters import (
    block_json,
    d,
    fee_history_json,
    log_json,
    proof_json,
    q,
    receipt_json,
    sync_json,
    tx_json,
)

MAX_PROOF_KEYS = 1_000


async def chain_id(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return q(ctx.service.chain_id)


async def block_number(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return q((await ctx.service.head()).block_number)


async def syncing(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return sync_json(await ctx.service.sync_status())


async def gas_price(ctx: RpcContext, params: list[Any]) -> Any:
    """The base fee is pinned to zero and members pay no tip."""
    p.arity(params, 0, 0)
    return q(0)


async def max_priority_fee_per_gas(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return q(0)


async def blob_base_fee(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return q(0)


async def accounts(ctx: RpcContext, params: list[Any]) -> Any:
    """The node holds no member keys."""
    p.arity(params, 0, 0)
    return []


async def fee_history(ctx: RpcContext, params: list[Any]) -> Any:
    count_raw, newest_raw, percentiles = p.arity(params, 2, 3)
    count = count_raw if isinstance(count_raw, int) else p.quantity(count_raw, "blockCount")
    newest = p.block_ref(newest_raw, "newestBlock")
    if percentiles is not None and (not isinstance(percentiles, list) or any(
            not isinstance(x, (int, float)) or not 0 <= x <= 100 for x in percentiles)
            or percentiles != sorted(percentiles)):
        raise InvalidParams("rewardPercentiles: expected ascending numbers between 0 and 100")
    return fee_history_json(await ctx.service.fee_history(count, newest), percentiles)


async def get_balance(ctx: RpcContext, params: list[Any]) -> Any:
    account_raw, ref_raw = p.arity(params, 1, 2)
    return q(await ctx.service.balance(p.address(account_raw, "address"), p.block_ref(ref_raw)))


async def get_code(ctx: RpcContext, params: list[Any]) -> Any:
    account_raw, ref_raw = p.arity(params, 1, 2)
    return d(await ctx.service.code(p.address(account_raw, "address"), p.block_ref(ref_raw)))


async def get_transaction_count(ctx: RpcContext, params: list[Any]) -> Any:
    account_raw, ref_raw = p.arity(params, 1, 2)
    return q(await ctx.service.nonce(p.address(account_raw, "address"), p.block_ref(ref_raw)))


async def get_storage_at(ctx: RpcContext, params: list[Any]) -> Any:
    account_raw, slot_raw, ref_raw = p.arity(params, 2, 3)
    value = await ctx.service.storage_at(p.address(account_raw, "address"), p.storage_key(slot_raw, "slot"),
                                         p.block_ref(ref_raw))
    return "0x" + value.to_bytes(32, "big").hex()


def _call_params(params: list[Any]) -> tuple[dict[str, Any], Any]:
    obj, ref_raw, overrides = p.arity(params, 1, 3)
    if overrides:
        raise InvalidParams("state overrides are not supported")
    return p.call_object(obj), p.block_ref(ref_raw)


async def call(ctx: RpcContext, params: list[Any]) -> Any:
    call_obj, ref = _call_params(params)
    return d(await ctx.service.call(call_obj, ref))


async def estimate_gas(ctx: RpcContext, params: list[Any]) -> Any:
    call_obj, ref = _call_params(params)
    return q(await ctx.service.estimate_gas(call_obj, ref))


async def send_raw_transaction(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    return d(await ctx.service.send_raw_transaction(p.data(raw, "transaction")))


async def get_transaction_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    found = await ctx.service.transaction(p.hash32(raw, "hash"))
    return None if found is None else tx_json(found)


async def get_transaction_receipt(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    found = await ctx.service.receipt(p.hash32(raw, "hash"))
    return None if found is None else receipt_json(found)


async def _transaction_at(ctx: RpcContext, ref: Any, index_raw: Any) -> Any:
    found = await ctx.service.transaction_at(ref, p.quantity(index_raw, "index"))
    return None if found is None else tx_json(found)


async def get_transaction_by_block_number_and_index(ctx: RpcContext, params: list[Any]) -> Any:
    ref_raw, index_raw = p.arity(params, 2, 2)
    return await _transaction_at(ctx, p.block_ref(ref_raw), index_raw)


async def get_transaction_by_block_hash_and_index(ctx: RpcContext, params: list[Any]) -> Any:
    hash_raw, index_raw = p.arity(params, 2, 2)
    return await _transaction_at(ctx, p.hash32(hash_raw, "blockHash"), index_raw)


def _full_flag(value: Any) -> bool:
    if value is not None and not isinstance(value, bool):
        raise InvalidParams("fullTransactions: expected a boolean")
    return bool(value)


async def _block(ctx: RpcContext, ref: Any, full: bool) -> Any:
    if full:
        found = await ctx.service.block_with_transactions(ref)
        return None if found is None else block_json(found[0], found[1])
    view = await ctx.service.block(ref)
    return None if view is None else block_json(view, None)


async def get_block_by_number(ctx: RpcContext, params: list[Any]) -> Any:
    ref_raw, full = p.arity(params, 1, 2)
    return await _block(ctx, p.block_ref(ref_raw), _full_flag(full))


async def get_block_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
    hash_raw, full = p.arity(params, 1, 2)
    return await _block(ctx, p.hash32(hash_raw, "blockHash"), _full_flag(full))


async def get_block_transaction_count_by_number(ctx: RpcContext, params: list[Any]) -> Any:
    (ref_raw,) = p.arity(params, 1, 1)
    view = await ctx.service.block(p.block_ref(ref_raw))
    return None if view is None else q(len(view.transaction_hashes))


async def get_block_transaction_count_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
    (hash_raw,) = p.arity(params, 1, 1)
    view = await ctx.service.block(p.hash32(hash_raw, "blockHash"))
    return None if view is None else q(len(view.transaction_hashes))


def parse_log_filter(obj: Any) -> LogFilter:
    """An execution-apis ``Filter`` object."""
    if not isinstance(obj, dict):
        raise InvalidParams("filter: expected an object")
    block_hash = p.hash32(obj["blockHash"], "filter.blockHash") if obj.get("blockHash") else None
    if block_hash is not None and (obj.get("fromBlock") or obj.get("toBlock")):
        raise InvalidParams("filter: blockHash cannot be combined with fromBlock/toBlock")
    addresses_raw = obj.get("address")
    addresses: frozenset[bytes] | None
    if addresses_raw is None:
        addresses = None
    elif isinstance(addresses_raw, list):
        addresses = frozenset(bytes(p.address(a, "filter.address")) for a in addresses_raw)
    else:
        addresses = frozenset({bytes(p.address(addresses_raw, "filter.address"))})
    topics_raw = obj.get("topics") or []
    if not isinstance(topics_raw, list) or len(topics_raw) > 4:
        raise InvalidParams("filter.topics: expected a list of at most 4 entries")
    topics: list[frozenset[bytes] | None] = []
    for i, entry in enumerate(topics_raw):
        if entry is None or entry == []:
            topics.append(None)
        elif isinstance(entry, list):
            topics.append(frozenset(p.hash32(t, f"filter.topics[{i}]") for t in entry))
        else:
            topics.append(frozenset({p.hash32(entry, f"filter.topics[{i}]")}))
    from_block = p.block_ref(obj.get("fromBlock"), "filter.fromBlock")
    to_block = p.block_ref(obj.get("toBlock"), "filter.toBlock")
    if isinstance(from_block, bytes) or isinstance(to_block, bytes):
        raise InvalidParams("filter: fromBlock/toBlock must be numbers or tags")
    return LogFilter(addresses, tuple(topics), from_block, to_block, block_hash)


async def get_logs(ctx: RpcContext, params: list[Any]) -> Any:
    (obj,) = p.arity(params, 1, 1)
    return [log_json(entry) for entry in await ctx.service.logs(parse_log_filter(obj))]


async def new_filter(ctx: RpcContext, params: list[Any]) -> Any:
    (obj,) = p.arity(params, 1, 1)
    query = parse_log_filter(obj)
    if query.block_hash is not None:
        raise InvalidParams("filter: blockHash is not allowed in eth_newFilter")
    return ctx.filters.add("logs", query)


async def new_block_filter(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return ctx.filters.add("block")


def _filter_id(params: list[Any]) -> str:
    (filter_id,) = p.arity(params, 1, 1)
    if not isinstance(filter_id, str):
        raise InvalidParams("filter id: expected a hex string")
    return filter_id


async def get_filter_changes(ctx: RpcContext, params: list[Any]) -> Any:
    changes = ctx.filters.poll(_filter_id(params))
    return [d(item) if isinstance(item, bytes) else log_json(item) for item in changes]


async def get_filter_logs(ctx: RpcContext, params: list[Any]) -> Any:
    query = ctx.filters.criteria(_filter_id(params))
    return [log_json(entry) for entry in await ctx.service.logs(query)]


async def uninstall_filter(ctx: RpcContext, params: list[Any]) -> Any:
    return ctx.filters.remove(_filter_id(params))


async def get_proof(ctx: RpcContext, params: list[Any]) -> Any:
    account_raw, keys_raw, ref_raw = p.arity(params, 2, 3)
    account = p.address(account_raw, "address")
    if not isinstance(keys_raw, list):
        raise InvalidParams("storageKeys: expected a list")
    if len(keys_raw) > MAX_PROOF_KEYS:
        raise LimitExceeded(f"storageKeys: at most {MAX_PROOF_KEYS} keys per request")
    slots = [p.storage_key(k, f"storageKeys[{i}]") for i, k in enumerate(keys_raw)]
    return proof_json(await ctx.service.proof(account, slots, p.block_ref(ref_raw)))


METHODS: dict[str, Handler] = {
    "eth_chainId": chain_id,
    "eth_blockNumber": block_number,
    "eth_syncing": syncing,
    "eth_gasPrice": gas_price,
    "eth_maxPriorityFeePerGas": max_priority_fee_per_gas,
    "eth_blobBaseFee": blob_base_fee,
    "eth_accounts": accounts,
    "eth_feeHistory": fee_history,
    "eth_getBalance": get_balance,
    "eth_getCode": get_code,
    "eth_getTransactionCount": get_transaction_count,
    "eth_getStorageAt": get_storage_at,
    "eth_call": call,
    "eth_estimateGas": estimate_gas,
    "eth_sendRawTransaction": send_raw_transaction,
    "eth_getTransactionByHash": get_transaction_by_hash,
    "eth_getTransactionReceipt": get_transaction_receipt,
    "eth_getTransactionByBlockNumberAndIndex": get_transaction_by_block_number_and_index,
    "eth_getTransactionByBlockHashAndIndex": get_transaction_by_block_hash_and_index,
    "eth_getBlockByNumber": get_block_by_number,
    "eth_getBlockByHash": get_block_by_hash,
    "eth_getBlockTransactionCountByNumber": get_block_transaction_count_by_number,
    "eth_getBlockTransactionCountByHash": get_block_transaction_count_by_hash,
    "eth_getLogs": get_logs,
    "eth_newFilter": new_filter,
    "eth_newBlockFilter": new_block_filter,
    "eth_getFilterChanges": get_filter_changes,
    "eth_getFilterLogs": get_filter_logs,
    "eth_uninstallFilter": uninstall_filter,
    "eth_getProof": get_proof,
}
