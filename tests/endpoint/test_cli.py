"""``routedesk clients`` and ``routedesk serve`` as a user runs them, and the endpoint's
spend in ``routedesk spend --json``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from desktop.cli import main
from tests.endpoint.conftest import ISSUED

ROOT = Path(__file__).resolve().parents[2]


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_clients_add_prints_the_token_once_and_list_never_shows_it(home, capsys):
    added = run_json(capsys, "clients", "add", "vscode", "--budget", "5", "--json")
    token = added["token"]
    ISSUED.add(token)
    assert token.startswith("rdk-") and added["name"] == "vscode" and added["budget_usd"] == 5.0
    listed = run_json(capsys, "clients", "list", "--json")["clients"]
    assert [(c["name"], c["budget_usd"], c["month_usd"], c["last_used_at"]) for c in listed] == [
        ("vscode", 5.0, 0.0, None)]
    assert token not in json.dumps(listed)
    db = (home / "routedesk.sqlite3").read_bytes() + b"".join(
        p.read_bytes() for p in home.glob("routedesk.sqlite3-*"))
    assert token.encode() not in db  # only its hash is kept

    assert main(["clients", "add", "vscode"]) == 1  # the name is taken
    assert "already a client called 'vscode'" in capsys.readouterr().err
    assert main(["clients", "budget", "vscode", "none"]) == 0
    assert "no budget" in capsys.readouterr().out
    assert main(["clients", "remove", "vscode"]) == 0
    assert "stops working now" in capsys.readouterr().out
    assert run_json(capsys, "clients", "list", "--json") == {"clients": []}
    assert main(["clients", "remove", "vscode"]) == 1
    assert "no client called 'vscode'" in capsys.readouterr().err
    assert main(["clients", "add", "bad/name"]) == 1 and "can't be a client's name" in capsys.readouterr().err
    assert main(["clients", "add", "x", "--budget", "-3"]) == 1 and "budget" in capsys.readouterr().err


async def test_spend_json_has_by_client(endpoint, sim, capsys):
    ref = str(endpoint.ref("openai", "gpt-4o"))
    other = endpoint.client(endpoint.add_client("script"))
    await endpoint.client().chat.completions.create(model=ref, messages=[{"role": "user", "content": "hi"}])
    await other.chat.completions.create(model=ref, messages=[{"role": "user", "content": "hi"}])
    await other.chat.completions.create(model="weak", messages=[{"role": "user", "content": "hi"}])
    summary = endpoint.engine.spend.summary().to_dict()
    by = {c["client"]: c for c in summary["by_client"]}
    assert set(by) == {"script", "tests"}
    assert by["script"]["requests"] == 2 and by["tests"]["requests"] == 1
    assert by["script"]["cost_usd"] == by["tests"]["cost_usd"] > 0  # the weak answer was free
    assert by["script"]["month_usd"] == by["script"]["cost_usd"]
    assert summary["total_usd"] == by["script"]["cost_usd"] + by["tests"]["cost_usd"]


def test_serve_listens_answers_and_stops_on_sigterm(home, sim, capsys):
    added = run_json(capsys, "clients", "add", "curl", "--json")
    ISSUED.add(added["token"])
    env = {**os.environ, "ROUTEDESK_HOME": str(home), "OLLAMA_HOST": sim.base_url, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening at http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() else "")
        url = line.strip().rsplit(" ", 1)[-1]
        headers = {"Authorization": f"Bearer {added['token']}"}
        models = httpx.get(f"{url}/models", headers=headers, timeout=10).json()
        assert [m["id"] for m in models["data"]][:3] == ["auto", "strong", "weak"]
        r = httpx.post(f"{url}/chat/completions", headers=headers, timeout=10,
                       json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "misconfigured"  # no pair chosen yet
        assert "routedesk use" in r.json()["error"]["message"]
        assert httpx.get(f"{url}/models", timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "curl GET /v1/models 200" in err and "curl POST /v1/chat/completions 503" in err
    assert added["token"] not in err and "Authorization" not in err


def test_serve_on_another_address_says_other_machines_can_reach_it(home, sim, capsys):
    env = {**os.environ, "ROUTEDESK_HOME": str(home), "OLLAMA_HOST": sim.base_url, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "serve", "--host", "0.0.0.0", "--port", "0"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening at http://0.0.0.0:" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    assert "other machines" in err and "127.0.0.1" in err
