"""Request headers and keys are never logged: with every logger at DEBUG (httpx, httpcore,
keyring, RouteDesk), a successful stream and a rejected key through each wire protocol leave
no key and no Authorization / x-api-key value in any log record, and none in the error the
user sees."""

from __future__ import annotations

import logging
import re

from desktop.core.types import ModelRef

from .conftest import KEY


async def test_no_header_or_key_in_debug_logs(rig, sim, caplog):
    caplog.set_level(logging.DEBUG)  # root and every logger
    e = rig.engine
    refs = [rig.ref("openai", "gpt-4o-mini"), rig.ref("anthropic", "claude-3-5-haiku-latest"),
            rig.ref("openrouter", "openai/gpt-4o-mini"), ModelRef("ollama", "llama3.2:latest")]
    for ref in refs:
        r = await e.send(None, "hello there", mode=ref)
        assert r.status == "complete", r.error
    sim.valid_keys = {"sk-some-other-key-entirely"}  # every key we send is now rejected (401)
    for ref in refs[:3]:
        e.cooldowns.clear_provider(ref.provider)
        r = await e.send(None, "hello again", mode=ref)
        failed = [a for a in r.attempts if a.error is not None]
        assert failed and failed[0].error.kind == "auth_invalid"
        for a in failed:
            assert KEY not in a.error.message + str(a.error.fix) + str(getattr(a.error, "detail", "") or "")
    text = "\n".join(f"{rec.name}: {rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    assert len(caplog.records) > 10  # the HTTP stack really was logging
    assert KEY not in text
    assert not re.search(r"(?i)(authorization|x-api-key)['\"]?\s*[:=,]\s*['\"]?(bearer\s+)?[a-z0-9]", text), text[:2000]
    # and what is stored holds no key either
    db = (rig.home / "routedesk.sqlite3").read_bytes()
    assert KEY.encode() not in db
