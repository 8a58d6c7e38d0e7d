"""How the command line words a fix: the plain advice with the ``routedesk`` command that
does it (or checks it), a command that works as printed.

The window shows the same ``Fix`` as a button (``desktop.ui.fix_buttons``); neither reads
the other's words. ``render`` gives the text and the commands it names as argument lists,
so tests can check that every command parses.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from desktop.core.fix_words import join_promise, plain_words, sentence
from desktop.core.fixes import Fix, FixAction, bare_url
from desktop.providers.presets import PRESETS, default_base_url

__all__ = ["TerminalFix", "render", "fix_text", "for_json", "said_line"]

#: A shell prefix that feeds the key to ``--key-stdin`` without putting it in history.
_KEY_PIPE = "echo $KEY | "


@dataclass(frozen=True)
class TerminalFix:
    """What the terminal prints for a fix, and the ``routedesk`` argument lists it names."""

    text: str
    commands: tuple[tuple[str, ...], ...] = ()


class _Words:
    """Collects the commands a sentence names while it is written."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def cmd(self, *argv: str, pipe_key: bool = False) -> str:
        self.commands.append(tuple(argv))
        return f"`{_KEY_PIPE if pipe_key else ''}routedesk {shlex.join(argv)}`"


def _hinted(text: str, f: Fix) -> str:
    hint = f.get("hint")
    return f"{text} ({hint})" if hint else text


def _name(f: Fix) -> str:
    return f.get("provider") or f.get("kind") or "NAME"


def _kind(f: Fix) -> str:
    kind = f.get("kind")
    return kind if kind in PRESETS else "KIND"


def _add(w: _Words, f: Fix, *, base_url: str | None = None, key: bool | None = None) -> str:
    """``routedesk providers add`` for this provider: the URL only when it isn't the preset's."""
    kind = _kind(f)
    argv = ["providers", "add", _name(f), "--kind", kind]
    url = base_url if base_url is not None else f.get("base_url")
    if url and (kind == "KIND" or url.rstrip("/") != (default_base_url(kind) or "").rstrip("/")):
        argv += ["--base-url", url]
    preset = PRESETS.get(kind)
    needs_key = key if key is not None else (preset is None or preset.needs_key)
    if needs_key:
        argv.append("--key-stdin")
    return w.cmd(*argv, pipe_key=needs_key)


def _probe(w: _Words, f: Fix, *, deep: bool = False) -> str:
    argv = ("probe", _name(f), "--deep") if deep else ("probe", _name(f))
    return w.cmd(*argv)


def _checks(w: _Words, f: Fix) -> str:
    return f"{_probe(w, f)} checks it now."


def _add_key(w: _Words, f: Fix) -> str:
    add = _add(w, f, key=True)
    env = f.get("key_env")
    if f.get("why") == "missing":
        made = f"; create one at {bare_url(f.get('keys_url'))}" if f.get("keys_url") else ""
        return f"Add the key with {add}" + (f" (or set {env})" if env else "") + made
    if f.get("local"):
        return f"Check the key set for {_name(f)}: {add} replaces it"
    if f.get("keys_url"):
        return f"Create a new key at {bare_url(f.get('keys_url'))} and store it with {add}"
    return f"Check the key for {_name(f)}; {add} replaces it"


def _settings(w: _Words, f: Fix) -> str:
    text = (f"Check the base URL ({w.cmd('providers', 'list')} shows it; "
            f"{_add(w, f)} changes it)")
    if f.get("example"):
        text += f"; {f.get('usually') or 'for example'} {f.get('example')}"
    hint = f.get("hint")
    return f"{text} ({hint})" if hint else text


def _set_base_url(w: _Words, f: Fix) -> str:
    needs = f.get("needs_key")
    return f"Change the base URL to {f.get('base_url')}: {_add(w, f, key=needs == 'yes' if needs else None)}"


def _pull(w: _Words, f: Fix) -> str:
    model = f.get("model") or "MODEL"
    return f"Run `ollama pull {model}` (or {w.cmd('pull', f'{_name(f)}/{model}')})"


def _choose(w: _Words, f: Fix) -> str:
    if f.get("why") == "no_pair":
        use = w.cmd("use", "--strong", "PROVIDER/MODEL", "--weak", "PROVIDER/MODEL")
        ask = w.cmd("ask", "--model", "PROVIDER/MODEL", "PROMPT")
        return f"Pick the strong and weak models with {use}, or name one with {ask}"
    catalog = f.get("catalog_url")
    if catalog:
        first = f"Check the exact name at {bare_url(catalog)} (it looks like openai/gpt-4o-mini)"
    else:
        first = f"Check the name for typos ({w.cmd('models')} lists what each provider offers)"
    use = w.cmd("use", "--strong", "PROVIDER/MODEL", "--weak", "PROVIDER/MODEL")
    return f"{first}, or pick another model with {use}"


def _load_local(w: _Words, f: Fix) -> str:
    return f"Download or load it in LM Studio ({w.cmd('models')} lists what it has), or pick another model"


def _network(w: _Words, f: Fix) -> str:
    if f.get("check_base_url"):
        return f"Check your internet connection and the base URL ({w.cmd('providers', 'list')} shows it)"
    return "Check your internet connection, then try again"


def _raise_timeout(w: _Words, f: Fix) -> str:
    argv = ["providers", "add", _name(f), "--kind", _kind(f)]
    url = f.get("base_url")
    if url and url.rstrip("/") != (default_base_url(_kind(f)) or "").rstrip("/"):
        argv += ["--base-url", url]
    argv += ["--timeout", f.get("suggest") or "SECONDS"]
    now = f" (the limit is {f.get('seconds')} s now)" if f.get("seconds") else ""
    text = f"Allow {_name(f)} more time with {w.cmd(*argv)}{now}, then ask again"
    return text + (f"; {f.get('because')}" if f.get("because") else "")


#: Per action: the main sentence (before the fallback promise) and an optional tail sentence.
_MAIN: dict[FixAction, Callable[[_Words, Fix], str]] = {
    FixAction.ADD_PROVIDER: lambda w, f: (
        f"Add it with {_add(w, f, key=True)}, or pick one from {w.cmd('providers', 'list')}"),
    FixAction.ADD_KEY: _add_key,
    FixAction.OPEN_PROVIDER_SETTINGS: _settings,
    FixAction.SET_BASE_URL: _set_base_url,
    FixAction.PULL_MODEL: _pull,
    FixAction.CHOOSE_MODELS: _choose,
    FixAction.LOAD_LOCAL_MODEL: _load_local,
    FixAction.CHECK_NETWORK: _network,
    FixAction.SHORTEN_CONVERSATION: lambda w, f: _hinted(
        f"Start a new conversation ({w.cmd('ask', 'PROMPT')}, without --continue) or shorten the message", f),
    FixAction.REPHRASE: lambda w, f: (
        f"Rephrase the message and ask again ({w.cmd('ask', 'PROMPT')}). RouteDesk doesn't pass it to "
        "another model, which would only hide the refusal"),
    FixAction.RETRY_PARTIAL: lambda w, f: (
        f"The partial answer is kept; ask again with {w.cmd('ask', '--continue', 'PROMPT')}"),
    FixAction.RAISE_TIMEOUT: _raise_timeout,
    FixAction.CONTINUE_ANSWER: lambda w, f: (
        f"Get the rest with {w.cmd('ask', '--continue', 'continue')}, or raise the answer length limit "
        "of the model or proxy"),
}
_TAIL: dict[FixAction, Callable[[_Words, Fix], str]] = {
    FixAction.RETRY: _checks,
    FixAction.WAIT_AND_RETRY: _checks,
    FixAction.CHECK_NETWORK: _checks,
    FixAction.START_OLLAMA: _checks,
    FixAction.START_LOCAL_SERVER: _checks,
    FixAction.ADD_CREDIT: lambda w, f: f"{_probe(w, f, deep=True)} checks it afterwards.",
}


def render(fix: Fix) -> TerminalFix:
    """The fix in the command line's words."""
    if not fix:
        return TerminalFix("")
    w = _Words()
    main = _MAIN.get(fix.action)
    text = join_promise(main(w, fix), fix) if main is not None else plain_words(fix)
    tail = _TAIL.get(fix.action)
    if tail is not None:
        text = f"{text} {sentence(tail(w, fix))}"
    return TerminalFix(text, tuple(w.commands))


def fix_text(fix: Fix | None) -> str:
    return "" if fix is None else render(fix).text


def said_line(info: Any, indent: str = "       ") -> str:
    """The server's own words under RouteDesk's explanation ("       OpenAI said: ..."),
    or "" when it said nothing. ``indent`` lines it up with the message above."""
    from desktop.engine.explain import said

    line = said(info)
    return f"{indent}{line}" if line else ""


def for_json(obj: Any) -> Any:
    """``obj`` (a command's JSON answer) with every stored fix ``{"action", "params"}``
    under a ``fix`` key worded for the terminal: ``fix`` becomes the text and
    ``fix_action`` keeps the structured value for scripts."""
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if key == "fix" and isinstance(value, dict) and "action" in value:
                fix = Fix.from_json(value)
                out["fix"] = render(fix).text
                out["fix_action"] = fix.to_json()
            else:
                out[key] = for_json(value)
        return out
    if isinstance(obj, list | tuple):
        return [for_json(v) for v in obj]
    return obj
