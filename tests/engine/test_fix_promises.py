"""A fix never promises an answer from a model that has just failed (DESIGN.md, error kinds)."""

from __future__ import annotations

from desktop.core.fixes import FixAction
from desktop.terminal import render
from tests.simulator import Fault


async def test_no_model_could_answer_promises_no_fallback_even_after_a_cooldown(engine, sim):
    # 1. The strong model has no credit: the weak one answers, and the fix says it keeps doing so.
    sim.inject(Fault("quota_exhausted", protocol="openai"))
    first = await engine.send(None, "hello", mode="strong")
    assert first.status == "complete"
    promised = first.attempts[0].error.fix
    assert promised.action is FixAction.ADD_CREDIT and promised.fallback == "ollama/llama3.2:latest"

    # 2. Moments later the weak model is gone too; the strong one is skipped while it cools down.
    sim.models["ollama"].clear()
    second = await engine.send(None, "hello again", mode="strong")
    assert second.status == "error"
    skipped, failed = second.attempts
    assert skipped.error is not None and failed.error is not None
    assert failed.error.kind == "model_not_found"
    # Neither the skipped attempt nor the answer's error promises the model that just failed.
    assert not skipped.error.fix.fallback and "llama3.2" not in str(skipped.error.fix)
    assert second.error.message.startswith("No model could answer")
    assert not second.error.fix.fallback
    assert "keep answering" not in str(second.error.fix) and "meanwhile" not in str(second.error.fix)
    assert "keep answering" not in render(second.error.fix).text
