"""What the gateway knows about Ethereum blocks, read over standard JSON-RPC only.

Headers and receipts arrive as execution-API JSON (``eth_getBlockByNumber``,
``eth_getBlockReceipts``) from any client — CityLedger's node, anvil, Besu — and are re-encoded
here into their consensus forms (RLP), so that every hash the gateway serves is recomputed, not
copied from the node's answer.
"""
