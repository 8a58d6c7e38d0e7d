"""The engine's HTTP client is built when something first needs it, not when the engine
opens (opening is on the window's start-up path; building the client loads httpcore,
anyio and the CA bundle). Sends and probes await ``open_client``, which builds it once in
a worker thread however many wait; whatever path builds it, the engine closes it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx

from desktop.engine.app import Engine
from desktop.storage import KeyStore


async def test_opening_the_engine_builds_no_client_until_one_is_awaited(home: Path) -> None:
    engine = Engine.open(home, keystore=KeyStore())
    try:
        assert engine._client is None
        first, second = await asyncio.gather(engine.open_client(), engine.open_client())
        assert first is second is engine.client
        assert isinstance(first, httpx.AsyncClient)
    finally:
        await engine.aclose()
    assert first.is_closed


async def test_a_client_used_before_the_worker_finished_is_the_one_kept(home: Path, monkeypatch) -> None:
    import desktop.engine.app as engine_app

    built: list[httpx.AsyncClient] = []
    started, release = threading.Event(), threading.Event()

    def build() -> httpx.AsyncClient:
        client = httpx.AsyncClient()
        built.append(client)
        if threading.current_thread() is not threading.main_thread():
            started.set()
            release.wait(10)
        return client

    monkeypatch.setattr(engine_app, "new_http_client", build)
    engine = Engine.open(home, keystore=KeyStore())
    try:
        waiting = asyncio.ensure_future(engine.open_client())
        await asyncio.to_thread(started.wait, 10)  # the worker is building its own
        used = engine.client  # a synchronous caller builds one here, on the loop, meanwhile
        release.set()
        assert await waiting is used
        assert engine.client is used
        spare = next(c for c in built if c is not used)
        assert spare.is_closed
    finally:
        await engine.aclose()
    assert used.is_closed


async def test_a_client_passed_in_is_used_and_left_open(home: Path) -> None:
    client = httpx.AsyncClient()
    engine = Engine.open(home, client=client, keystore=KeyStore())
    try:
        assert await engine.open_client() is client
        assert engine.client is client
    finally:
        await engine.aclose()
    assert not client.is_closed
    await client.aclose()


async def test_closing_an_engine_that_never_needed_a_client_builds_none(home: Path) -> None:
    engine = Engine.open(home, keystore=KeyStore())
    await engine.aclose()
    assert engine._client is None
