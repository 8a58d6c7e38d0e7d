"""Every fix the command line prints offers a command that works as printed, never only
"Settings" (a screen a terminal user may not have): the empty-key fix with the provider's
base URL, a server found at another address, an empty environment key, and every action."""

from __future__ import annotations

import contextlib
import json
import shlex

import keyring
import pytest

from desktop.core.errors import RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.terminal import render
from tests.test_cli import KEY, ROOT, env, name, rd, sim  # noqa: F401 (the CLI tests' fixtures)

#: Parameters of the kind the engine fills in; every action is rendered with them.
PARAMS = {"provider": "lab", "kind": "openai-compatible", "base_url": "http://127.0.0.1:4000/v1", "model": "m",
          "host": "127.0.0.1:4000", "why": "missing", "url": "https://example.com/billing", "seconds": "60",
          "suggest": "120"}


@pytest.mark.parametrize("action", [a for a in FixAction if a not in (FixAction.NONE, FixAction.NOTE)])
@pytest.mark.parametrize("fallback", [None, "ollama/llama3.2"])
@pytest.mark.parametrize("params", [PARAMS, {"provider": "work", "kind": "openai"}], ids=["full", "bare"])
def test_every_fix_in_the_terminal_offers_a_command_and_never_only_settings(action, fallback, params):
    words = render(Fix(action, params).with_fallback(fallback, "meanwhile"))
    assert "Settings" not in words.text, words.text
    assert words.commands or "`ollama " in words.text or "`lms " in words.text, words.text
    for argv in words.commands:  # each parses as the command line it claims to be
        from desktop.cli import build_parser

        filled = [a.replace("PROMPT", "hi").replace("PROVIDER/MODEL", "p/m").replace("SECONDS", "120") for a in argv]
        with contextlib.suppress(SystemExit):
            build_parser().parse_args(filled)
            continue
        pytest.fail(f"does not parse: {argv}")


def test_a_server_found_at_another_address_prints_the_command_that_moves_it():
    from desktop.engine.discovery import _moved_note

    _note, fix = _moved_note("lmstudio", "http://127.0.0.1:1234/v1", "http://localhost:1234/v1", "lmstudio")
    words = render(Fix.coerce(fix))
    assert ("providers", "add", "lmstudio", "--kind", "lmstudio", "--base-url",
            "http://localhost:1234/v1") in words.commands
    assert "Settings" not in words.text


def test_an_empty_environment_key_prints_the_command_that_adds_one(home, monkeypatch):
    from desktop.engine.app import Engine

    monkeypatch.setenv("OPENAI_API_KEY", " ")
    eng = Engine.open(home)
    try:
        with pytest.raises(RouteDeskError) as caught:
            eng.providers_admin.import_env_key("openai")
    finally:
        eng.store.close()
    words = render(caught.value.fix)
    assert ("providers", "add", "openai", "--kind", "openai", "--key-stdin") in words.commands
    assert "OPENAI_API_KEY" in words.text and "Settings" not in words.text


def printed_command(stderr: str) -> list[str]:
    """The ``routedesk ...`` command in the fix line, without the ``echo $KEY |`` in front."""
    fix = next(line for line in stderr.splitlines() if line.startswith("fix:"))
    command = fix.split("`")[1]
    assert command.startswith("echo $KEY | routedesk "), command
    return shlex.split(command.removeprefix("echo $KEY | "))[1:]


@pytest.mark.parametrize("again", [False, True], ids=["new", "existing, without --base-url"])
def test_an_empty_key_prints_a_command_that_works_as_printed(env, name, sim, again):  # noqa: F811
    if again:
        assert rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url",
                  sim.openai_url).returncode == 0
        r = rd(env, "providers", "add", name, "--kind", "openai-compatible", "--key-stdin", stdin="\n")
    else:
        r = rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url", sim.openai_url,
               "--key-stdin", stdin="\n")
    assert r.returncode == 1 and "held no key" in r.stderr
    argv = printed_command(r.stderr)
    assert argv == ["providers", "add", name, "--kind", "openai-compatible", "--base-url", sim.openai_url,
                    "--key-stdin"]
    r = rd(env, *argv, stdin=KEY + "\n")
    assert r.returncode == 0, r.stderr
    assert keyring.get_password("RouteDesk", name) == KEY
    [p] = json.loads(rd(env, "providers", "list", "--json").stdout)["providers"]
    assert (p["name"], p["base_url"], p["has_key"]) == (name, sim.openai_url, True)
    assert rd(env, "ask", "--model", f"{name}/gpt-4o", "hello").returncode == 0


def test_changing_only_the_timeout_keeps_a_servers_address(env, name, sim):  # noqa: F811
    assert rd(env, "providers", "add", name, "--kind", "openai-compatible", "--base-url",
              sim.openai_url).returncode == 0
    r = rd(env, "providers", "add", name, "--kind", "openai-compatible", "--timeout", "90")
    assert r.returncode == 0, r.stderr
    [p] = json.loads(rd(env, "providers", "list", "--json").stdout)["providers"]
    assert (p["base_url"], p["timeout_s"]) == (sim.openai_url, 90.0)
