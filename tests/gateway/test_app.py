"""The gateway service skeleton: status, metrics, problem+json errors, rate limiting."""

from __future__ import annotations

from pathlib import Path

from conftest import DevNet, NodeProcess
from gateway_harness import gateway_client, gateway_settings, on_anvil, on_cometbft, run, wait_indexed


def test_status_metrics_and_problem_json(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    async def scenario() -> None:
        async with gateway_client(gateway_settings(chain, addressbook, tmp_path)) as (app, client):
            head = int(chain.rpc("eth_blockNumber"), 16)
            await wait_indexed(app, head)
            status = (await client.get("/v1/status")).json()
            assert status["chainId"] == devnet.chain_id
            if on_anvil(chain):  # a chain without seals: the status says so
                assert status["consensus"] == "none" and status["sealers"] == []
            elif on_cometbft(chain):  # commits by the pinned validator set, no sealer
                assert status["consensus"] == "cometbft" and status["sealers"] == []
            else:
                assert status["consensus"] == "cityledger-poa"
                assert status["sealers"] == [devnet.keys["sealer"]["address"].lower()]
            assert status["indexedHeight"] >= head and status["database"] == "sqlite"
            assert status["indexerError"] is None
            metrics = (await client.get("/metrics")).text
            assert "cityledger_gateway_indexed_height" in metrics
            assert 'route="/v1/status"' in metrics
            missing = await client.get("/v1/nothing-here")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert missing.json()["type"].endswith("/not-found")

    run(scenario())


def test_public_rate_limit_answers_429_with_retry_after() -> None:
    from gateway.ratelimit import RateLimited, RateLimiter

    now = [0.0]
    limiter = RateLimiter(3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("10.0.0.1")
    try:
        limiter.check("10.0.0.1")
    except RateLimited as exc:
        assert exc.retry_after == 20  # one token per 20 s at 3 per minute
    else:
        raise AssertionError("the fourth request in a minute was allowed")
    limiter.check("10.0.0.2")  # other clients are not affected
    now[0] += 20
    limiter.check("10.0.0.1")
    assert RateLimiter(0).check("x") is None  # 0 turns it off
