"""The command line shows the server's own words beside RouteDesk's explanation: `ask --json`
has `error.detail` (and each attempt's), the plain form prints "... said: ..." under the
message. Real processes, the real keyring, the simulator serving a LiteLLM proxy's bodies."""

from __future__ import annotations

import json

from tests.simulator import Fault
from tests.test_cli import KEY, env, name, rd, sim  # noqa: F401

UPSTREAM = "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided"


def test_ask_shows_what_the_proxy_said(env, name, sim):  # noqa: F811
    rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url", sim.openai_url, "--key-stdin",
       stdin=KEY)
    rd(env, "use", "--strong", f"{name}/gpt-4o", "--weak", "ollama/not-pulled:latest")
    sim.inject(Fault("proxy_upstream_auth", protocol="openai", times=None))

    r = rd(env, "ask", "--strong", "--json", "hi")
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["error"]["detail"].startswith(UPSTREAM)
    assert "5678" not in r.stdout  # the echoed key stays redacted
    first, second = out["attempts"]
    assert first["error"]["kind"] == "auth_invalid" and first["error"]["detail"].startswith(UPSTREAM)
    assert "proxy" in first["error"]["message"]
    assert second["error"]["kind"] == "model_not_found" and "not found" in second["error"]["detail"]

    r = rd(env, "ask", "--strong", "hi")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"said: {UPSTREAM}" in r.stderr, r.stderr
    assert "configured in the proxy" in r.stderr  # the fix points at the proxy, not at RouteDesk's key
    assert r.stderr.count(f"said: {UPSTREAM}") == 1  # once, under the attempt that failed


def test_ask_json_error_detail_for_a_readable_proxy_refusal(env, name, sim):  # noqa: F811
    rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url", sim.openai_url, "--key-stdin",
       stdin=KEY)
    sim.inject(Fault("proxy_no_db", protocol="openai", times=None))
    r = rd(env, "ask", "--model", f"{name}/gpt-4o", "--json", "hi")
    out = json.loads(r.stdout)
    (failed,) = [a for a in out["attempts"] if a.get("error")]
    assert failed["error"]["kind"] == "misconfigured" and failed["error"]["detail"] == "No connected db."
    assert "couldn't read" not in failed["error"]["message"]
