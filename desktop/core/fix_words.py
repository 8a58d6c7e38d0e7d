"""How a fix reads in plain words: the sentence the window shows beside its button, and
what any place without words of its own (a dialog, a log line) says. It names the app's
screens ("Settings → Providers") and other programs' commands (``ollama serve``), never
RouteDesk's command line: that is ``desktop.terminal``'s to say.
"""

from __future__ import annotations

from collections.abc import Callable

from desktop.core.fixes import Fix, FixAction, bare_url

__all__ = ["plain_words", "sentence", "join_promise"]


def sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def join_promise(action: str, fix: Fix) -> str:
    """``action`` followed by the fix's fallback promise, punctuated as one sentence."""
    action = action.strip().rstrip(".")
    promise = fix.fallback_promise
    if not promise:
        return sentence(action)
    if fix.get("fallback_how") == "meanwhile":
        if ";" in action:
            return f"{action}. M{promise[1:]}."
        return f"{action}; {promise}."
    if fix.get("fallback_how") != "instead" and ", or " in action:
        return f"{action}; until then RouteDesk keeps answering with {fix.fallback}."
    return f"{action}, {promise}."


def _hinted(text: str, fix: Fix) -> str:
    hint = fix.get("hint")
    return f"{text} ({hint})" if hint else text


def _retry(f: Fix) -> str:
    text = "Try again" + (f" {f.get('when')}" if f.get("when") else "")
    if f.get("because"):
        text += f"; {f.get('because')}"
    elif f.get("then"):
        text += f"; if it keeps happening, {f.get('then')}"
    return _hinted(text, f)


def _wait(f: Fix) -> str:
    secs = f.get("seconds")
    return _hinted(f"Wait {secs}s and send again" if secs else "Wait a minute and send again", f)


def _add_key(f: Fix) -> str:
    env = f.get("key_env")
    if f.get("why") == "missing":
        made = f"; create one at {bare_url(f.get('keys_url'))}" if f.get("keys_url") else ""
        return "Add the key in Settings → Providers" + (f" (or set {env})" if env else "") + made
    if f.get("local"):
        return "Check the key set for this provider in Settings → Providers, or remove it"
    if f.get("keys_url"):
        return f"Create a new key at {bare_url(f.get('keys_url'))} and paste it in Settings → Providers"
    return "Check the key for this provider in Settings → Providers"


def _settings(f: Fix) -> str:
    text = f.get("lead") or "Check the base URL in Settings → Providers"
    example = f.get("example")
    if example:
        text += f"; {f.get('usually') or 'for example'} {example}"
    return _hinted(text, f)


def _set_base_url(f: Fix) -> str:
    return f"Change the base URL to {f.get('base_url')} in Settings → Providers"


_CREDIT_VERBS = {"openai": "Add a payment method", "anthropic": "Buy credits", "openrouter": "Add credits"}


def _credit(f: Fix) -> str:
    url = f.get("url")
    if url:
        return f"{_CREDIT_VERBS.get(f.get('kind'), 'Add credit')} at {bare_url(url)}"
    return f"Add credit to the account behind {f.get('who') or f.get('provider') or 'this provider'}"


def _pull(f: Fix) -> str:
    return f"Run `ollama pull {f.get('model')}` or pull it in Health, or pick a model you have in Settings"


def _start_ollama(_f: Fix) -> str:
    return "Start it with `ollama serve`, or open the Ollama app"


def _start_local(_f: Fix) -> str:
    return "Start it in LM Studio (Developer → Start Server) or with `lms server start`"


def _load_local(_f: Fix) -> str:
    return "Download or load it in LM Studio, or pick another model in Settings"


def _choose(f: Fix) -> str:
    if f.get("why") == "no_pair":
        return "Pick the strong and weak models in Settings, or a model in the Route menu"
    catalog = f.get("catalog_url")
    if catalog:
        return (f"Check the exact name at {bare_url(catalog)} (it looks like openai/gpt-4o-mini), "
                "or pick another model in Settings")
    return "Check the name for typos (Settings lists what each provider offers), or pick another model in Settings"


def _network(f: Fix) -> str:
    if f.get("check_base_url"):
        return _hinted("Check your internet connection and the base URL in Settings → Providers", f)
    return _hinted("Check your internet connection, then try again", f)


def _raise_timeout(f: Fix) -> str:
    now, suggest = f.get("seconds"), f.get("suggest")
    change = f" from {now} s to {suggest} s" if now and suggest else ""
    text = (f"Allow {f.get('provider') or 'this provider'} more time: raise its Timeout in "
            f"Settings → Providers{change}, then send again")
    return text + (f"; {f.get('because')}" if f.get("because") else "")


_WORDS: dict[FixAction, Callable[[Fix], str]] = {
    FixAction.NONE: lambda f: "",
    FixAction.NOTE: lambda f: f.get("text"),
    FixAction.RETRY: _retry,
    FixAction.WAIT_AND_RETRY: _wait,
    FixAction.ADD_PROVIDER: lambda f: "Add it in Settings → Providers, or pick one of the providers there",
    FixAction.ADD_KEY: _add_key,
    FixAction.OPEN_PROVIDER_SETTINGS: _settings,
    FixAction.SET_BASE_URL: _set_base_url,
    FixAction.ADD_CREDIT: _credit,
    FixAction.PULL_MODEL: _pull,
    FixAction.START_OLLAMA: _start_ollama,
    FixAction.START_LOCAL_SERVER: _start_local,
    FixAction.LOAD_LOCAL_MODEL: _load_local,
    FixAction.CHOOSE_MODELS: _choose,
    FixAction.SHORTEN_CONVERSATION: lambda f: _hinted("Start a new conversation or shorten the message", f),
    FixAction.REPHRASE: lambda f: ("Rephrase the message. RouteDesk doesn't pass it to another model, "
                                   "which would only hide the refusal"),
    FixAction.CHECK_NETWORK: _network,
    FixAction.RETRY_PARTIAL: lambda f: "The partial answer is kept; press Retry to ask again",
    FixAction.RAISE_TIMEOUT: _raise_timeout,
    FixAction.CONTINUE_ANSWER: lambda f: ("Ask it to continue (send “continue”) for the rest, or raise the "
                                          "answer length limit of the model or proxy"),
}


def plain_words(fix: Fix) -> str:
    """The fix as one or two sentences, with its fallback promise."""
    if not fix:
        return ""
    return join_promise(_WORDS[fix.action](fix), fix)
