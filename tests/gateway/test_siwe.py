"""EIP-4361 messages: the EIP's own example parses and renders back byte for byte."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from gateway.auth.siwe import SiweInvalid, SiweMessage, parse_message, recover_signer

#: The "Example message" of EIP-4361.
EIP_EXAMPLE = """service.org wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def test_eip_example_round_trips() -> None:
    message = parse_message(EIP_EXAMPLE)
    assert message.domain == "service.org" and message.chain_id == 1 and message.nonce == "32891756"
    assert message.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert message.resources == ("ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
                                 "https://example.com/my-web2-claim.json")
    assert message.to_text() == EIP_EXAMPLE


def test_without_statement_and_with_scheme_and_optional_terms() -> None:
    message = SiweMessage(domain="gateway.city:8080", scheme="https", address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                          uri="https://gateway.city:8080/", chain_id=17228, nonce="abcDEF123456",
                          issued_at="2026-11-30T05:00:00Z", expiration_time="2026-11-30T05:10:00Z",
                          not_before="2026-11-30T04:59:00Z", request_id="req-1")
    text = message.to_text()
    assert "\n\n\nURI:" in text  # no statement: address, two empty lines, URI (the ABNF)
    assert parse_message(text) == message


@pytest.mark.parametrize(("change", "term"), [
    (lambda t: t.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756CC2"), "address"),
    (lambda t: t.replace("Version: 1", "Version: 2"), "Version"),
    (lambda t: t.replace("Nonce: 32891756", "Nonce: 123"), "Nonce"),
    (lambda t: t.replace("Chain ID: 1", "Chain ID: one"), "Chain ID"),
    (lambda t: t.replace("Issued At: 2021-09-30T16:25:24Z", "Issued At: yesterday"), "Issued At"),
    (lambda t: t.replace(" wants you", " would like you"), "preamble"),
    (lambda t: t.replace("URI: ", "Url: "), "URI"),
])
def test_each_malformed_term_is_named(change: object, term: str) -> None:
    with pytest.raises(SiweInvalid) as exc:
        parse_message(change(EIP_EXAMPLE))  # type: ignore[operator]
    assert exc.value.field == term


def test_signer_is_recovered_from_a_personal_signature() -> None:
    account = Account.create()
    text = EIP_EXAMPLE.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", account.address)
    signature = Account.sign_message(encode_defunct(text=text), account.key).signature.hex()
    assert recover_signer(text, "0x" + signature.removeprefix("0x")) == account.address
    assert recover_signer(text + " ", "0x" + signature.removeprefix("0x")) != account.address
    with pytest.raises(SiweInvalid):
        recover_signer(text, "0x1234")
