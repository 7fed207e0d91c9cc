"""The CometBFT consensus mode: an ABCI++ application over the py-evm chain (``node.abci.app``),
served on CometBFT's socket protocol (``node.abci.server``) with message classes generated from
CometBFT's .proto files (``node.abci.pb``, ``scripts/gen-abci-proto``)."""
