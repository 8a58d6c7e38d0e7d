"""Fixes are values: produced once, stored as action + parameters, worded by each surface.

Every error kind, for every provider kind, ends with a Fix; the command line words it with
``routedesk`` commands that parse, the plain words (what the window shows) name no command
line, and nothing in the window reads the command line's words back.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import httpx
import pytest

from desktop.cli import build_parser
from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.fixes import NO_FIX, Fix, FixAction
from desktop.engine.explain import explain
from desktop.providers import classify_http_error, classify_transport_error
from desktop.terminal import for_json, render

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KINDS = ["openai", "anthropic", "openrouter", "ollama", "lmstudio", "openai-compatible", "groq"]
BASES = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
         "openrouter": "https://openrouter.ai/api/v1", "ollama": "http://127.0.0.1:11434",
         "lmstudio": "http://127.0.0.1:1234/v1", "openai-compatible": "http://10.0.0.5:8000/v1",
         "groq": "https://api.groq.com/openai/v1"}


def _body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()


def _raw(kind: ErrorKind, pk: str) -> RouteDeskError:
    """The error each kind arrives as from a real failure (a body or an exception)."""
    ctx = {"provider": f"my{pk}", "kind": pk, "model": "model-x", "base_url": BASES[pk]}
    http = {
        ErrorKind.AUTH_INVALID: (401, _body("invalid_api_key", "Incorrect API key provided")),
        ErrorKind.QUOTA_EXHAUSTED: (429, _body("insufficient_quota", "You exceeded your current quota")),
        ErrorKind.RATE_LIMITED: (429, _body("rate_limit_exceeded", "Rate limit reached")),
        ErrorKind.OVERLOADED: (529, _body("overloaded_error", "Overloaded")),
        ErrorKind.SERVER_ERROR: (500, _body("server_error", "The server had an error")),
        ErrorKind.MODEL_NOT_FOUND: (404, _body("model_not_found", "The model does not exist")),
        ErrorKind.CONTEXT_TOO_LONG: (400, _body("context_length_exceeded", "maximum context length")),
        ErrorKind.CONTENT_FILTERED: (400, _body("content_policy_violation", "flagged")),
        ErrorKind.MISCONFIGURED: (404, b"404 page not found"),
        ErrorKind.BAD_RESPONSE: (418, b""),
        ErrorKind.TIMEOUT: (408, b"request timeout"),
    }
    if kind in http:
        status, body = http[kind]
        return classify_http_error(status, {}, body, **ctx)
    exc: BaseException = {
        ErrorKind.UNREACHABLE: httpx.ConnectError("[Errno 111] Connection refused"),
        ErrorKind.INTERRUPTED: httpx.RemoteProtocolError("peer closed connection"),
    }[kind]
    return classify_transport_error(exc, midstream=kind is ErrorKind.INTERRUPTED, **ctx)


CASES = [(k, pk) for k in ErrorKind for pk in PROVIDER_KINDS]


@pytest.mark.parametrize(("kind", "pk"), CASES, ids=[f"{k.value}-{pk}" for k, pk in CASES])
def test_every_kind_renders_as_commands_that_parse(kind, pk):
    raw = _raw(kind, pk)
    assert raw.kind is kind
    err = explain(raw, provider_kind=pk, base_url=BASES[pk], fallback="ollama/llama3.2")
    assert isinstance(err.fix, Fix) and err.fix and err.fix.action is not FixAction.NOTE
    words = render(err.fix)
    assert words.commands, f"{kind}/{pk}: the terminal names no command: {words.text}"
    parser = build_parser()
    for argv in words.commands:
        args = parser.parse_args(list(argv))  # exits (SystemExit) on anything argparse rejects
        assert args.command == argv[0]
        assert f"routedesk {shlex.join(argv)}" in words.text
    # the window's words name no command line, and both keep the fallback promise where one is due
    plain = err.fix.text
    assert "routedesk " not in plain and "--" not in plain, plain
    if err.fix.fallback:
        assert "ollama/llama3.2" in plain and "ollama/llama3.2" in words.text


def test_the_terminal_adds_a_key_with_a_command_that_works():
    fix = Fix(FixAction.ADD_KEY, {"provider": "work", "kind": "openai", "why": "missing",
                                  "key_env": "OPENAI_API_KEY"})
    words = render(fix)
    assert words.text == ("Add the key with `echo $KEY | routedesk providers add work --kind openai --key-stdin` "
                          "(or set OPENAI_API_KEY).")
    assert words.commands == (("providers", "add", "work", "--kind", "openai", "--key-stdin"),)
    assert fix.text == "Add the key in Settings → Providers (or set OPENAI_API_KEY)."
    # a custom address goes along, the preset's own does not
    lab = Fix(FixAction.SET_BASE_URL, {"provider": "lab", "kind": "openai-compatible",
                                       "base_url": "http://10.0.0.5:8000/v1", "needs_key": "no"})
    assert render(lab).commands == (("providers", "add", "lab", "--kind", "openai-compatible",
                                     "--base-url", "http://10.0.0.5:8000/v1"),)


def test_stored_form_round_trips_and_old_rows_read_as_notes():
    fix = Fix(FixAction.PULL_MODEL, {"provider": "ollama", "model": "llama3.2"}).with_fallback("work/gpt-4o")
    info = ErrorInfo("model_not_found", "No llama3.2 here.", fix, provider="ollama", model="llama3.2")
    data = json.loads(json.dumps(info.to_dict()))
    assert data["fix"] == {"action": "pull_model", "params": {"provider": "ollama", "model": "llama3.2",
                                                             "fallback": "work/gpt-4o", "fallback_how": "keeps"}}
    assert ErrorInfo.from_dict(data) == info
    old = ErrorInfo.from_dict({"kind": "timeout", "message": "slow", "fix": "Try again."})
    assert old.fix == Fix(FixAction.NOTE, {"text": "Try again."}) and str(old.fix) == "Try again."
    newer = Fix.from_json({"action": "teleport", "params": {"text": "Beam it."}})
    assert newer.action is FixAction.NOTE and str(newer) == "Beam it."
    assert ErrorInfo("x", "y").fix is NO_FIX and not NO_FIX


def test_the_stored_form_is_redacted():
    key = "sk-proj-AbCdEf0123456789AbCdEf0123456789"
    stored = json.dumps(Fix.note(f"the proxy said key {key} is wrong").to_json())
    assert key not in stored and "[redacted]" in stored


def test_without_fallback_drops_only_the_promise():
    fix = Fix(FixAction.ADD_CREDIT, {"provider": "work", "kind": "openai",
                                     "url": "https://platform.openai.com/settings/organization/billing"})
    promised = fix.with_fallback("ollama/llama3.2")
    assert promised.text == ("Add a payment method at platform.openai.com/settings/organization/billing, "
                             "or RouteDesk will keep answering with ollama/llama3.2.")
    assert promised.without_fallback() == fix
    assert "ollama/llama3.2" not in render(promised.without_fallback()).text


def test_command_json_words_fixes_for_the_terminal_and_keeps_the_value():
    info = ErrorInfo("unreachable", "Ollama isn't running on 127.0.0.1:11434.",
                     Fix(FixAction.START_OLLAMA, {"provider": "ollama", "host": "127.0.0.1:11434"}))
    out = for_json({"error": info.to_dict(), "attempts": [{"model": "ollama/x", "error": info.to_dict()}]})
    assert out["error"]["fix"].startswith("Start it with `ollama serve`, or open the Ollama app.")
    assert "`routedesk probe ollama`" in out["error"]["fix"]
    assert out["error"]["fix_action"] == {"action": "start_ollama",
                                          "params": {"provider": "ollama", "host": "127.0.0.1:11434"}}
    assert out["attempts"][0]["error"]["fix"] == out["error"]["fix"]


def test_no_surface_reads_fix_sentences_back():
    """The window's regexes over the command line's sentences are gone for good."""
    for path in sorted((ROOT / "desktop" / "ui").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "gui_fix" not in text and "_GUI_HINTS" not in text, path
        for line in text.splitlines():
            assert not ("re.compile" in line and "routedesk" in line), f"{path} parses a fix sentence: {line}"
