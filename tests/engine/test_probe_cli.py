"""`routedesk probe`, `routedesk models --json` and `routedesk pull`, run in-process
through ``desktop.cli.main`` with a temporary ROUTEDESK_HOME and OLLAMA_HOST pointing at
the provider simulator. LM Studio's default address is moved to a port where nothing
listens (or to the simulator), so the machine running the tests never matters."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from desktop.cli import main
from desktop.providers import PRESETS
from desktop.storage import Store
from tests.engine._health_support import free_port


@pytest.fixture
def cli_home(tmp_path, monkeypatch, sim):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ROUTEDESK_HOME", str(home))
    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    monkeypatch.delenv("ROUTEDESK_DEBUG", raising=False)
    monkeypatch.setitem(PRESETS, "lmstudio",
                        replace(PRESETS["lmstudio"], base_url=f"http://127.0.0.1:{free_port()}/v1"))
    return home


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def set_pair(home, strong: str, weak: str) -> None:
    from desktop.engine.app import PAIR_SETTING

    store = Store(home / "routedesk.sqlite3")
    try:
        store.set_setting(PAIR_SETTING, {"strong": strong, "weak": weak})
    finally:
        store.close()


def test_probe_json_with_ollama_running(cli_home, sim, capsys):
    code, out, _ = run(capsys, "probe", "--json")
    assert code == 0
    providers = {p["name"]: p for p in json.loads(out)["providers"]}
    assert set(providers) == {"ollama"}  # LM Studio isn't running and isn't used: not a problem
    p = providers["ollama"]
    assert p["status"] == "ok" and p["models"] == 2 and p["latency_ms"] is not None
    assert p["version"] == sim.ollama_version and p["error_kind"] is None


def test_probe_stopped_ollama_says_unreachable_and_ollama_serve(cli_home, sim, capsys):
    sim.stop()
    code, out, _ = run(capsys, "probe", "ollama")
    assert code == 1
    assert "down" in out and "isn't running" in out and "ollama serve" in out
    code, out, _ = run(capsys, "probe", "ollama", "--json")
    [p] = json.loads(out)["providers"]
    assert p["status"] == "down" and p["error_kind"] == "unreachable" and "ollama serve" in p["fix"]


def test_probe_model_not_pulled_says_ollama_pull(cli_home, sim, capsys):
    set_pair(cli_home, "ollama/qwen2.5-coder:7b", "ollama/mistral-nemo")
    code, out, _ = run(capsys, "probe", "ollama")
    assert "degraded" in out and "`ollama pull mistral-nemo`" in out
    assert code == 0  # Ollama itself works


def test_probe_unknown_name(cli_home, capsys):
    code, out, _ = run(capsys, "probe", "nosuch", "--json")
    assert code == 1
    [p] = json.loads(out)["providers"]
    assert p["status"] == "misconfigured" and "providers add" in p["fix"]


def test_probe_used_lm_studio_that_is_not_running(cli_home, capsys):
    set_pair(cli_home, "ollama/qwen2.5-coder:7b", "lmstudio/qwen2.5-7b-instruct")
    code, out, _ = run(capsys, "probe", "--json")
    providers = {p["name"]: p for p in json.loads(out)["providers"]}
    assert providers["lmstudio"]["status"] == "down" and "LM Studio" in providers["lmstudio"]["explanation"]
    assert code == 1


def test_models_json_lists_discovered_local_models_at_zero_cost(cli_home, sim, capsys, monkeypatch):
    monkeypatch.setitem(PRESETS, "lmstudio", replace(PRESETS["lmstudio"], base_url=sim.lmstudio_url))
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    data = json.loads(out)
    rows = {r["model"]: r for r in data["models"]}
    assert data["problems"] == []
    llama = rows["ollama/llama3.2:latest"]
    assert llama["local"] and llama["price_source"] == "local" and llama["context_length"] == 131072
    assert llama["parameter_size"] == "3.2B" and llama["quantization"] == "Q4_K_M" and llama["size_bytes"]
    assert rows["lmstudio/qwen2.5-7b-instruct"]["price_source"] == "local"

    sim.add_model("ollama", "phi3:mini")
    code, out, _ = run(capsys, "models", "--json")
    assert "ollama/phi3:mini" in {r["model"] for r in json.loads(out)["models"]}


def test_models_with_ollama_stopped_keeps_the_pair_and_names_the_problem(cli_home, sim, capsys):
    set_pair(cli_home, "ollama/qwen2.5-coder:7b", "ollama/llama3.2")
    sim.stop()
    code, out, err = run(capsys, "models")
    assert code == 0
    assert "ollama/llama3.2" in out and "free" in out
    assert "isn't running" in err


def test_pull_prints_progress_and_the_model_appears(cli_home, sim, capsys):
    code, out, err = run(capsys, "pull", "ollama/phi3:mini")
    assert code == 0
    assert "100.0%" in err and "Pulled phi3:mini" in err
    assert "phi3:mini" in sim.models["ollama"]
    code, out, _ = run(capsys, "models", "--json")
    assert "ollama/phi3:mini" in {r["model"] for r in json.loads(out)["models"]}


def test_pull_failure_is_a_sentence_and_a_fix(cli_home, sim, capsys):
    sim.ollama_registry = {"llama3.2"}
    code, out, err = run(capsys, "pull", "ollama/definitely-not-a-model")
    assert code == 1
    assert "error:" in err and "fix:" in err and "ollama.com/library" in err
    assert "Traceback" not in err


@pytest.mark.keyring
def test_probe_tells_a_rejected_key_from_an_unreachable_host(cli_home, sim, capsys, keystore, key_name):
    store = Store(cli_home / "routedesk.sqlite3")
    try:
        store.add_provider(key_name, "openai", sim.openai_url)
        store.add_provider(key_name + "x", "openai-compatible", f"http://127.0.0.1:{free_port()}/v1")
    finally:
        store.close()
    keystore.set(key_name, "sk-not-valid")
    keystore.set(key_name + "x", "sk-whatever")
    code, out, _ = run(capsys, "probe", "--json")
    providers = {p["name"]: p for p in json.loads(out)["providers"]}
    assert providers[key_name]["error_kind"] == "auth_invalid"
    assert providers[key_name]["status"] == "misconfigured"
    assert providers[key_name + "x"]["error_kind"] == "unreachable"
    assert "sk-not-valid" not in out
    assert code == 1


def test_ctrl_c_stops_a_pull_cleanly(cli_home, sim):
    """A real process and a real SIGINT: the download stops, the user is told, exit 130."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    sim.chunk_delay = 0.05
    sim.pull_steps = 200  # about ten seconds of progress if nobody stops it
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    # a shell that starts the test run in the background (``cmd &`` without job control) makes
    # its children ignore SIGINT, and Python keeps an ignored SIGINT ignored: give the child
    # the terminal's default, as a user's shell does
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "pull", "ollama/phi3:mini"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = []
        for line in proc.stderr:  # blocks until the progress bar moves: no sleeps
            seen.append(line)
            if "%" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(seen) + (rest or "")
    assert proc.returncode == 130
    assert "Stopped pulling phi3:mini" in text
    assert "Traceback" not in text
    assert "phi3:mini" not in sim.models["ollama"]
