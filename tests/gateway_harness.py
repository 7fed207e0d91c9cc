"""Gateway test harness (fixtures registered in tests/conftest.py): a real node process, the address book ``scripts/deploy`` writes for it, and
the gateway app in-process (``create_app`` through ``httpx.ASGITransport``, lifespan included)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, DevNet, NodeProcess, sealer_process


def _deploy_module() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_contracts", ROOT / "scripts" / "deploy_contracts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_addressbook(node_url: str, genesis: Path, out: Path) -> Path:
    deploy = _deploy_module()
    book = deploy.from_genesis(deploy.Rpc(node_url), genesis)
    out.write_text(json.dumps(book, indent=2))
    return out


@pytest.fixture
def chain(devnet: DevNet) -> Iterator[NodeProcess]:
    proc = sealer_process(devnet, block_time=0.05, ws=False).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def addressbook(chain: NodeProcess, devnet: DevNet, tmp_path: Path) -> Path:
    return write_addressbook(chain.url, devnet.genesis_path, tmp_path / "addressbook.json")


@asynccontextmanager
async def gateway_client(settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app for ``settings`` with its lifespan running, and a client bound to it."""
    from gateway.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield app, client


async def wait_indexed(app: Any, number: int, timeout: float = 30.0) -> None:
    await app.state.services.indexer.wait_for(number, timeout)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
