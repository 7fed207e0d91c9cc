"""CityLedger audit toolkit: checks what the chain claims without trusting the node.

The package re-implements every rule it checks from the specification (the Ethereum Yellow Paper,
the EIPs) instead of importing the node's code, the way ethereum/execution-specs and py-evm are two
independent implementations judged by the same test vectors. It talks to a node over JSON-RPC only
and never imports ``node``, ``gateway``, py-evm (``eth``) or the ``trie`` package.
"""
