"""``routedesk route``: how a prompt would be routed, one at a time or in bulk.

Uses the same router and policy as a real message, without sending anything or
recording the score (so trying prompts out does not move the user's calibration).
"""

from __future__ import annotations

import json
from typing import IO, cast

import httpx

from desktop.core.types import ChatMessage
from desktop.engine.app import Engine

__all__ = ["route_one", "route_batch"]


def route_one(prompt: str) -> dict:
    engine = Engine.open(client=cast(httpx.AsyncClient, _NoClient()))
    try:
        decision = engine.decide([ChatMessage("user", prompt)])
        out = decision.to_dict()
        out["pair"] = engine.pair().to_dict()
        return out
    finally:
        engine.store.close()


def route_batch(stdin: IO[str], stdout: IO[str]) -> int:
    """JSON lines ``{"prompt": ...}`` in, ``{"score": ...}`` out, in order. A line that is
    not valid gets ``{"error": ...}`` so the output stays aligned with the input."""
    from desktop.router import load_router

    router = load_router()
    write = stdout.write
    for line in stdin:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            prompt = obj["prompt"] if isinstance(obj, dict) else None
            if not isinstance(prompt, str):
                raise ValueError
        except (ValueError, KeyError):
            write(json.dumps({"error": 'each line must be a JSON object with a "prompt" string'}) + "\n")
            continue
        score = router.score_text(prompt)
        write(json.dumps({"score": round(score.value, 6), "reasons": list(score.reasons)}) + "\n")
    stdout.flush()
    return 0


class _NoClient:
    """``route`` never sends anything; the engine gets a client that cannot."""

    async def aclose(self) -> None:
        return None
