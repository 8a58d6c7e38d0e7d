"""The command-line contract of DESIGN.md, driven as a user drives it: real
processes, the real keyring, real HTTP against the provider simulator."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import keyring
import pytest

from tests.simulator import Fault
from tests.simulator.fixtures import sim  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-key"


@pytest.fixture
def env(tmp_path, sim, keystore):  # noqa: F811
    e = dict(os.environ)
    e["ROUTEDESK_HOME"] = str(tmp_path / "home")
    e["OLLAMA_HOST"] = sim.base_url
    e.pop("ROUTEDESK_DEBUG", None)
    return e


@pytest.fixture
def name():
    n = "work" + uuid.uuid4().hex[:8]
    yield n
    with contextlib.suppress(Exception):
        keyring.delete_password("RouteDesk", n)


def rd(env, *args, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], input=stdin, env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=timeout,
    )


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_key_goes_to_the_keyring_and_nowhere_on_disk(env, name, sim):
    r = rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin",
           stdin=KEY + "\n")
    assert r.returncode == 0, r.stderr
    assert keyring.get_password("RouteDesk", name) == KEY
    listed = json.loads(rd(env, "providers", "list", "--json").stdout)["providers"]
    assert [(p["name"], p["has_key"]) for p in listed] == [(name, True)]
    r = rd(env, "ask", "--model", f"{name}/gpt-4o-mini", "hello")
    assert r.returncode == 0, r.stderr
    home = Path(env["ROUTEDESK_HOME"])
    assert files_containing(home, KEY.encode()) == []
    assert KEY not in r.stdout + r.stderr


def test_no_usable_keyring_is_said_plainly_and_nothing_is_added(env, name, sim):
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    r = rd(env, "providers", "add", name, "--kind", "openai", "--key-stdin", stdin=KEY + "\n")
    assert r.returncode != 0
    assert "keyring" in r.stderr.lower() and "fix:" in r.stderr
    assert "Traceback" not in r.stderr
    listed = json.loads(rd(env, "providers", "list", "--json").stdout)["providers"]
    assert listed == []
    assert files_containing(Path(env["ROUTEDESK_HOME"]), KEY.encode()) == []


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_v1_and_slash(env, name, sim, suffix):
    r = rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url", sim.base_url + suffix,
           "--key-stdin", stdin=KEY)
    assert r.returncode == 0, r.stderr
    r = rd(env, "ask", "--json", "--model", f"{name}/gpt-4o-mini", "hello")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["model"] == f"{name}/gpt-4o-mini"


def test_ask_json_object_and_routing_pair(env, name, sim):
    rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin", stdin=KEY)
    r = rd(env, "use", "--strong", f"{name}/gpt-4o", "--weak", "ollama/llama3.2:latest")
    assert r.returncode == 0, r.stderr
    for flag, expected, choice in (("--strong", f"{name}/gpt-4o", "fixed"),
                                   ("--weak", "ollama/llama3.2:latest", "fixed")):
        out = json.loads(rd(env, "ask", flag, "--json", "hi").stdout)
        assert out["model"] == expected and out["route"]["choice"] == choice
    out = json.loads(rd(env, "ask", "--json", "hi").stdout)
    assert set(out) >= {"text", "model", "route", "usage", "cost_usd", "attempts", "fallback_used"}
    assert set(out["route"]) >= {"choice", "score", "threshold", "reason"}
    # small talk at the default 30 % share goes to the weak model, and says why
    assert out["route"]["choice"] == "weak" and out["model"] == "ollama/llama3.2:latest"
    assert out["route"]["score"] < out["route"]["threshold"] and "weak" in out["route"]["reason"]
    assert set(out["usage"]) == {"input_tokens", "output_tokens"}
    assert out["attempts"] == [{"model": out["model"]}] and out["fallback_used"] is False
    last = sim.usage_log[-1]
    assert (out["usage"]["input_tokens"], out["usage"]["output_tokens"]) == (last.input_tokens, last.output_tokens)


def test_ask_streams_to_the_terminal_as_it_arrives(env, name, sim):
    rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin", stdin=KEY)
    sim.inject(Fault("stall", protocol="openai", after_chunks=2, delay=30))
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "ask", "--model", f"{name}/gpt-4o",
                             "alpha beta gamma delta"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.read(10)  # arrives while the provider is still stalled
        assert first.startswith(b"Simulated")
        assert proc.poll() is None
    finally:
        sim.release_stalls()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_failure_json_lists_attempts_and_exits_nonzero(env, name, sim):
    rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin", stdin=KEY)
    rd(env, "use", "--strong", f"{name}/gpt-4o", "--weak", "ollama/not-pulled:latest")
    sim.inject(Fault("quota_exhausted", protocol="openai", times=2))
    r = rd(env, "ask", "--strong", "--json", "hi")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert set(out["error"]) >= {"kind", "message", "fix"}
    assert [a["error"]["kind"] for a in out["attempts"]] == ["quota_exhausted", "model_not_found"]
    r = rd(env, "ask", "--strong", "hi")  # the plain form: sentences, not JSON or a traceback
    assert r.returncode == 1 and "error:" in r.stderr and "fix:" in r.stderr and "Traceback" not in r.stderr


def test_price_override_changes_cost_and_spend_totals_it(env, name, sim):
    rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin", stdin=KEY)
    r = rd(env, "pricing", "set", f"{name}/gpt-4o", "--input", "1000", "--output", "2000")
    assert r.returncode == 0, r.stderr
    out = json.loads(rd(env, "ask", "--json", "--model", f"{name}/gpt-4o", "hello world").stdout)
    u = out["usage"]
    expected = (Decimal(1000) * u["input_tokens"] + Decimal(2000) * u["output_tokens"]) / Decimal(10**6)
    assert Decimal(out["cost_usd_exact"]) == expected
    local = json.loads(rd(env, "ask", "--json", "--model", "ollama/llama3.2:latest", "hello").stdout)
    assert local["cost_usd"] == 0
    spend = json.loads(rd(env, "spend", "--json").stdout)
    assert Decimal(spend["total_usd_exact"]) == expected
    assert spend["total_usd"] == pytest.approx(float(expected))


@pytest.mark.parametrize("bad", ["-1", "abc", "nan", "inf", "1e9"])
def test_invalid_price_is_refused_and_changes_nothing(env, bad):
    r = rd(env, "pricing", "set", "work/gpt-4o", "--input", bad, "--output", "1")
    assert r.returncode == 1 and "price" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(rd(env, "pricing", "list", "--json").stdout)["overrides"] == []


def test_history_shows_each_answer(env, name, sim):
    rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin", stdin=KEY)
    rd(env, "ask", "--model", f"{name}/gpt-4o", "first question")
    sim.inject(Fault("cut", protocol="openai", after_chunks=2))
    rd(env, "ask", "--continue", "--model", f"{name}/gpt-4o", "second question")
    hist = json.loads(rd(env, "history", "--json").stdout)["conversations"]
    assert len(hist) == 1
    msgs = hist[0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    done, cut = msgs[1], msgs[3]
    assert done["status"] == "complete" and done["model"] == f"{name}/gpt-4o"
    assert done["usage"]["output_tokens"] > 0 and done["cost_usd"] > 0 and done["route"]["choice"] == "fixed"
    assert cut["status"] == "interrupted" and cut["text"] and cut["error"]["kind"] == "interrupted"


def test_unknown_provider_in_use_is_a_clear_error(env):
    r = rd(env, "use", "--strong", "nope/gpt-4o")
    assert r.returncode == 1 and "no provider called 'nope'" in r.stderr


def test_missing_base_url_for_compatible_kind(env, name):
    r = rd(env, "providers", "add", name, "--kind", "openai-compatible", "--key-stdin", stdin=KEY)
    assert r.returncode == 1 and "--base-url" in r.stderr


def test_the_kinds_the_parser_offers_are_the_presets():
    from desktop.cli import KINDS
    from desktop.providers import PRESETS

    assert sorted(KINDS) == sorted(PRESETS)
