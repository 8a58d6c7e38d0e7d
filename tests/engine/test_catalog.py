"""The model catalog (``routedesk models``) and Ollama pulls: the engine's PullService
(progress as values) and the command line's bar over it (``routedesk pull``)."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

import pytest

from desktop.commands import ProgressBar
from desktop.commands import pull_with_bar as pull_model
from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix
from desktop.core.types import ModelRef
from desktop.engine.catalog import list_models
from tests.engine._health_support import free_port, heng, keys  # noqa: F401


def by_model(rows):
    return {r["model"]: r for r in rows}


async def test_every_model_of_every_provider_with_price_and_details(heng, sim):
    rows, problems = await list_models(heng)
    assert problems == []
    m = by_model(rows)
    assert {"work/gpt-4o", "work/gpt-4o-mini", "ollama/llama3.2:latest", "ollama/qwen2.5-coder:7b",
            "lmstudio/qwen2.5-7b-instruct", "lmstudio/llama-3.2-3b-instruct"} <= set(m)
    gpt = m["work/gpt-4o"]
    assert gpt["price_source"] == "bundled" and gpt["price"]["input_usd_per_mtok"] == "2.5"
    assert gpt["local"] is False and gpt["available"] is True and "bundled" in gpt["price_label"]
    llama = m["ollama/llama3.2:latest"]
    assert llama["local"] and llama["price_source"] == "local" and llama["price"]["input_usd_per_mtok"] == "0"
    assert llama["context_length"] == 131072 and llama["parameter_size"] == "3.2B"
    assert llama["quantization"] == "Q4_K_M" and llama["size_bytes"] > 0
    assert m["lmstudio/qwen2.5-7b-instruct"]["price_source"] == "local"
    for r in rows:
        assert set(r) >= {"model", "provider", "local", "price", "price_label", "price_source", "size_bytes",
                          "parameter_size", "quantization", "context_length"}


async def test_models_appear_and_vanish_as_ollama_changes(heng, sim):
    sim.add_model("ollama", "phi3:mini")
    rows, _ = await list_models(heng)
    assert "ollama/phi3:mini" in by_model(rows)
    sim.remove_model("ollama", "phi3:mini")
    rows, _ = await list_models(heng)
    assert "ollama/phi3:mini" not in by_model(rows)


async def test_pair_and_overrides_are_listed_even_when_unreachable(heng, sim, keys):
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2"))
    heng.store.set_price_override(ModelRef("work", "ft:gpt-4o:custom"), Decimal("3"), Decimal("12"))
    heng.store.set_price_override(ModelRef("ollama", "llama3.2"), Decimal("0.01"), Decimal("0.01"))
    sim.stop()
    rows, problems = await list_models(heng)
    m = by_model(rows)
    assert m["work/gpt-4o"]["available"] is False and m["work/gpt-4o"]["listed_by"] == "pair"
    assert m["work/gpt-4o"]["price_source"] == "bundled"
    assert m["work/ft:gpt-4o:custom"]["price_source"] == "override"
    assert m["work/ft:gpt-4o:custom"]["price"] == {"input_usd_per_mtok": "3", "output_usd_per_mtok": "12",
                                                   "source": "override"}
    assert m["ollama/llama3.2"]["price_source"] == "override"  # the user's override wins over "local"
    kinds = {p["provider"]: p["error"]["kind"] for p in problems}
    assert kinds["work"] == "unreachable" and kinds["ollama"] == "unreachable"
    ollama_problem = next(p for p in problems if p["provider"] == "ollama")["error"]
    assert "ollama serve" in str(Fix.from_json(ollama_problem["fix"]))


async def test_pair_model_that_is_listed_is_not_repeated(heng, sim):
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2"))
    rows, _ = await list_models(heng)
    names = [r["model"] for r in rows]
    assert names.count("work/gpt-4o") == 1
    assert "ollama/llama3.2" not in names  # it is ollama/llama3.2:latest, already listed


async def test_a_rejected_key_is_a_problem_not_a_crash(heng, sim, keys):
    keys.set("work", "sk-nope")
    rows, problems = await list_models(heng)
    assert [p["provider"] for p in problems] == ["work"]
    assert problems[0]["error"]["kind"] == "auth_invalid"
    assert "sk-nope" not in repr(problems)
    assert any(r["provider"] == "ollama" for r in rows)


async def test_absent_lm_studio_is_quiet_unless_used(heng, sim, monkeypatch):
    from dataclasses import replace

    from desktop.providers import PRESETS

    monkeypatch.setitem(PRESETS, "lmstudio", replace(PRESETS["lmstudio"], base_url=f"http://127.0.0.1:{free_port()}/v1"))
    heng.store.remove_provider("lmstudio")
    rows, problems = await list_models(heng)
    assert problems == []
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("lmstudio", "qwen2.5-7b-instruct"))
    rows, problems = await list_models(heng)
    assert [p["provider"] for p in problems] == ["lmstudio"]
    assert by_model(rows)["lmstudio/qwen2.5-7b-instruct"]["available"] is False


# --- pull ------------------------------------------------------------------------------------


async def test_pull_streams_a_progress_bar_and_the_model_appears(heng, sim):
    out = io.StringIO()
    code = await pull_model(heng, ModelRef("ollama", "phi3:mini"), out)
    assert code == 0
    text = out.getvalue()
    assert "pulling manifest" in text and "100.0%" in text and "[" + "#" * 30 + "]" in text
    assert "Pulled phi3:mini" in text
    assert "phi3:mini" in sim.models["ollama"]
    rows, _ = await list_models(heng)
    assert "ollama/phi3:mini" in by_model(rows)


async def test_pull_reports_each_progress_line_to_a_callback(heng, sim):
    seen = []
    await heng.pulls.pull(ModelRef("ollama", "gemma2:2b"), seen.append)
    assert seen[0].status == "pulling manifest" and seen[-1].status == "success"
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


async def test_pull_of_a_name_the_library_does_not_have(heng, sim):
    sim.ollama_registry = {"llama3.2"}
    with pytest.raises(RouteDeskError) as info:
        await pull_model(heng, ModelRef("ollama", "no-such-model"), io.StringIO())
    assert info.value.kind is ErrorKind.MODEL_NOT_FOUND
    assert "ollama.com/library" in str(info.value.fix)


async def test_pull_with_ollama_stopped_says_how_to_start_it(heng, sim):
    sim.stop()
    with pytest.raises(RouteDeskError) as info:
        await pull_model(heng, ModelRef("ollama", "phi3:mini"), io.StringIO())
    assert info.value.kind is ErrorKind.UNREACHABLE and "ollama serve" in str(info.value.fix)


async def test_only_ollama_models_can_be_pulled(heng, sim):
    with pytest.raises(RouteDeskError) as info:
        await pull_model(heng, ModelRef("work", "gpt-4o"), io.StringIO())
    assert info.value.kind is ErrorKind.MISCONFIGURED
    with pytest.raises(RouteDeskError) as info:
        await pull_model(heng, ModelRef("lmstudio", "x"), io.StringIO())
    assert "LM Studio" in str(info.value.fix)


class _Out(io.StringIO):
    """Sets an event once the progress bar is moving (so the test cancels mid-download)."""

    def __init__(self) -> None:
        super().__init__()
        self.moving = asyncio.Event()

    def write(self, s: str) -> int:
        if "%" in s:
            self.moving.set()
        return super().write(s)


async def test_pull_can_be_cancelled_cleanly(heng, sim):
    sim.chunk_delay = 0.05  # the simulator sends progress slowly, as a real download does
    sim.pull_steps = 40
    out = _Out()
    task = asyncio.create_task(pull_model(heng, ModelRef("ollama", "phi3:mini"), out))
    await asyncio.wait_for(out.moving.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "Stopped pulling phi3:mini" in out.getvalue()
    assert "phi3:mini" not in sim.models["ollama"]
    # the engine and its client still work afterwards
    rows, problems = await list_models(heng)
    assert problems == [] and "ollama/llama3.2:latest" in by_model(rows)


def test_progress_bar_on_a_terminal_redraws_one_line():
    from desktop.providers import PullProgress

    out = io.StringIO()
    bar = ProgressBar(out, width=10, tty=True)
    bar.update(PullProgress("pulling abc", 50, 100))
    bar.update(PullProgress("pulling abc", 100, 100))
    bar.finish()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "[#####-----]  50.0%" in text and "[##########] 100.0%" in text


def test_progress_bar_in_a_log_prints_few_lines():
    from desktop.providers import PullProgress

    out = io.StringIO()
    bar = ProgressBar(out, width=10, tty=False)
    for done in range(0, 1001):
        bar.update(PullProgress("pulling abc", done, 1000))
    assert len(out.getvalue().splitlines()) == 11  # one per 10 %


async def test_pull_progress_is_an_async_iterator_for_the_window(heng, sim):
    statuses = [p.status async for p in heng.pulls.progress(ModelRef("ollama", "tinyllama"))]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "tinyllama:latest" in sim.models["ollama"]
