"""CityLedger chain node: proof-of-authority blocks on py-evm, stored on disk, served over JSON-RPC.

The node shares no code with ``gateway`` or ``audit``; they talk to it over JSON-RPC only.
"""
