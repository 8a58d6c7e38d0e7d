"""``providers add --timeout`` as a user meets it: real processes, the real keyring, the
provider simulator holding back its answer. A timed-out request is sent once, and the
error names the limit and prints the command that raises it."""

from __future__ import annotations

import json
import shlex

import keyring

from tests.simulator import Fault
from tests.test_cli import KEY, ROOT, env, name, rd, sim  # noqa: F401 (the CLI tests' fixtures)


def chats(sim) -> int:  # noqa: F811
    return sum(1 for r in sim.requests if r.protocol == "openai" and r.method == "POST")


def test_no_first_token_within_the_timeout_is_sent_once_and_says_how_to_raise_it(env, name, sim):  # noqa: F811
    r = rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url", sim.openai_url,
           "--key-stdin", "--timeout", "1", stdin=KEY + "\n")
    assert r.returncode == 0, r.stderr
    listed = json.loads(rd(env, "providers", "list", "--json").stdout)["providers"]
    assert [p["timeout_s"] for p in listed] == [1.0]
    sim.inject(Fault("stall", protocol="openai", delay=None))  # holds before the first byte
    r = rd(env, "ask", "--model", f"{name}/gpt-4o", "hello there")
    sim.release_stalls()
    assert r.returncode == 1
    assert chats(sim) == 1  # the provider got it exactly once
    assert "retrying" not in r.stderr
    assert "didn't start answering within 1s" in r.stderr
    fix = next(line for line in r.stderr.splitlines() if line.startswith("fix:"))
    command = fix.split("`")[1]
    assert command == (f"routedesk providers add {name} --kind openai-compatible --base-url {sim.openai_url} "
                       "--timeout 2")
    assert "Settings" not in fix and "Traceback" not in r.stderr

    # the printed command works as printed: it keeps the key and raises the limit
    r = rd(env, *shlex.split(command)[1:])
    assert r.returncode == 0, r.stderr
    assert keyring.get_password("RouteDesk", name) == KEY
    listed = json.loads(rd(env, "providers", "list", "--json").stdout)["providers"]
    assert [p["timeout_s"] for p in listed] == [2.0]
    r = rd(env, "ask", "--model", f"{name}/gpt-4o", "hello again")
    assert r.returncode == 0, r.stderr


def test_a_stall_between_words_keeps_the_partial_and_json_names_the_fix(env, name, sim):  # noqa: F811
    rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin",
       "--timeout", "1", stdin=KEY + "\n")
    sim.inject(Fault("stall", protocol="openai", after_chunks=2, delay=None))
    r = rd(env, "ask", "--model", f"{name}/gpt-4o", "--json", "one two three four five")
    sim.release_stalls()
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert chats(sim) == 1
    assert out["status"] == "interrupted" and out["text"]
    assert out["error"]["kind"] == "timeout" and "nothing arrived for 1s" in out["error"]["message"]
    assert out["error"]["fix_action"]["action"] == "raise_timeout"
    assert f"routedesk providers add {name} --kind openai --base-url {sim.openai_url} --timeout 2" in \
        out["error"]["fix"]
