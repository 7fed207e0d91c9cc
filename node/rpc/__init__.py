"""The node's standard Ethereum JSON-RPC server: one module per namespace, thin handlers.

Parameters are decoded (``params``) and results formatted (``formatters``) only at this edge;
``server`` is the one place where node errors become JSON-RPC error objects.
"""
