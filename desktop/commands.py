"""What each command-line verb does: collect the arguments, call the engine's services
(``desktop.engine``), print the result. No operation is implemented here; the window
calls the same services. Kept apart from the parser (``cli.py``) so tests can drive it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.engine.price_admin import parse_usd
from desktop.engine.routing_admin import parse_ref
from desktop.terminal import fix_text, for_json, said_line

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["dispatch", "report_error", "parse_usd", "parse_ref", "format_usd", "ProgressBar", "pull_with_bar"]

T = TypeVar("T")


def dispatch(args: Any) -> int:
    handler = _HANDLERS[args.command]
    return handler(args)


# --- output helpers ------------------------------------------------------------------


def report_error(err: RouteDeskError, want_json: bool, attempts: list | None = None) -> int:
    if want_json:
        _print_json({"error": err.info().to_dict(), "attempts": attempts or []})
    else:
        print(f"error: {err.message}", file=sys.stderr)
        if said_line(err):
            print(said_line(err), file=sys.stderr)
        if err.fix:
            print(f"fix:   {fix_text(err.fix)}", file=sys.stderr)
    return 1


def _print_json(obj: Any) -> None:
    print(json.dumps(for_json(obj), indent=2, default=_json_default, ensure_ascii=False))


def _json_default(o):
    if isinstance(o, Decimal):
        return float(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


def format_usd(amount: Decimal | None) -> str:
    if amount is None:
        return "price unknown"
    if amount == 0:
        return "$0"
    if amount < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:.4f}"


def _open_engine(**kwargs: Any) -> Engine:
    from desktop.engine.app import Engine

    return Engine.open(**kwargs)


def _with_engine(fn: Callable[[Engine], T]) -> T:
    """Open an engine, call ``fn(engine)``, close it."""
    engine = _open_engine()
    try:
        return fn(engine)
    finally:
        asyncio.run(engine.aclose())


def _run(coro_fn: Callable[[Engine], Awaitable[T]]) -> T:
    """Open an engine, run ``coro_fn(engine)`` on a fresh loop, close everything."""

    async def runner() -> T:
        engine = _open_engine()
        try:
            return await coro_fn(engine)
        finally:
            await engine.aclose()

    return asyncio.run(runner())


# --- providers -----------------------------------------------------------------------


def _read_key(args: Any, name: str, stored_url: str | None = None) -> str | None:
    """The key piped to ``--key-stdin``. None stdin: the fix is the same command with the key
    piped in, with the base URL given (or the one stored), so it works as printed."""
    if not args.key_stdin:
        return None
    key = sys.stdin.readline().strip()
    if not key:
        from desktop.core.fixes import Fix, FixAction

        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            "--key-stdin was given but standard input held no key.",
            Fix(FixAction.ADD_KEY, {"provider": name, "kind": args.kind, "why": "missing",
                                    "base_url": args.base_url or stored_url or ""}),
            provider=name,
        )
    return key


def _providers(args: Any) -> int:
    from desktop.engine.provider_admin import ProviderChange

    def go(engine: Engine) -> int:
        admin = engine.providers_admin
        if args.action == "add":
            stored = admin.get(args.name, with_key=False)
            # no --base-url on an existing provider of the same kind: keep its address
            kept_url = stored.base_url if stored is not None and stored.kind == args.kind else None
            key = _read_key(args, args.name, kept_url)
            saved = admin.save(ProviderChange(args.name, args.kind, args.base_url or kept_url, key,
                                              timeout_s=args.timeout))
            info = saved.info
            where = " (key saved in the system keyring)" if saved.key_saved else ""
            verb = "Added" if saved.created else "Updated"
            print(f"{verb} {info.name}: {info.display_name} at {info.base_url}{where}.")
            return 0
        if args.action == "rename":
            info = admin.rename(args.old, args.new)
            if args.json:
                _print_json({"renamed": args.old, "to": info.to_dict()})
            else:
                print(f"Renamed {args.old} to {info.name}; its key, prices and the pair moved with it.")
            return 0
        if args.action == "remove":
            admin.remove(args.name)
            if args.json:
                _print_json({"removed": args.name})
            else:
                print(f"Removed {args.name} and its key.")
            return 0
        rows = [p.to_dict() for p in admin.list()]
        if args.json:
            _print_json({"providers": rows})
        elif not rows:
            print("No providers yet. Add one: echo $KEY | routedesk providers add work --kind openai --key-stdin")
        else:
            for r in rows:
                key = {True: "key in keyring", False: "no key", None: "keyring unavailable"}[r["has_key"]]
                print(f"{r['name']:<16} {r['kind']:<18} {r['base_url']}  ({'local' if r['local'] else key})")
        return 0

    return _with_engine(go)


# --- pair, pricing, spend, history ------------------------------------------------------


def _use(args: Any) -> int:
    def go(engine: Engine) -> int:
        pair = engine.routing_admin.update_pair(strong=parse_ref(args.strong) if args.strong else None,
                                                weak=parse_ref(args.weak) if args.weak else None)
        print(f"Strong: {pair.strong or '(not set)'}   Weak: {pair.weak or '(not set)'}")
        return 0

    return _with_engine(go)


def _pricing(args: Any) -> int:
    def go(engine: Engine) -> int:
        prices = engine.price_admin
        if args.action == "set":
            o = prices.set(parse_ref(args.ref), args.input, args.output)
            print(f"{o.ref} now costs ${o.input_per_mtok}/M input and ${o.output_per_mtok}/M output tokens "
                  "(your override).")
            return 0
        if args.action == "unset":
            prices.unset(parse_ref(args.ref))
            print(f"{args.ref} uses its bundled price again.")
            return 0
        rows = [{"model": str(o.ref), "input_usd_per_mtok": str(o.input_per_mtok),
                 "output_usd_per_mtok": str(o.output_per_mtok)} for o in prices.overrides()]
        if args.json:
            _print_json({"overrides": rows})
        else:
            for r in rows:
                print(f"{r['model']:<40} ${r['input_usd_per_mtok']}/M in  ${r['output_usd_per_mtok']}/M out")
            if not rows:
                print("No price overrides.")
        return 0

    return _with_engine(go)


def _spend(args: Any) -> int:
    s = _with_engine(lambda engine: engine.spend.summary())
    if args.json:
        _print_json(s.to_dict())
        return 0
    n = s.messages
    print(f"Spent {format_usd(s.total_usd)} on {n} answer{'' if n == 1 else 's'}; "
          f"always-strong would have cost {format_usd(s.always_strong_usd)} "
          f"(saved {format_usd(s.saved_usd)}). This month: {format_usd(s.month.spent_usd)}.")
    for m in s.by_model:
        extra = f", {m.price_unknown} with unknown price" if m.price_unknown else ""
        answers = "answer" if m.messages == 1 else "answers"
        print(f"  {m.model:<40} {m.messages:>5} {answers:<7}  {m.input_tokens:>8} in  "
              f"{m.output_tokens:>8} out  {format_usd(m.cost_usd)}{extra}")
    if s.by_client:
        print("Through the local endpoint:")
    for c in s.by_client:
        extra = f", {c.estimated} billed on an estimate (the tool left mid-answer)" if c.estimated else ""
        requests = "request" if c.requests == 1 else "requests"
        print(f"  {c.name:<40} {c.requests:>5} {requests:<8} {format_usd(c.cost_usd)}{extra}")
    return 0


def _message_dict(m: Any) -> dict:
    d = {"id": m.id, "role": m.role, "text": m.text, "status": m.status, "created_at": m.created_at}
    if m.role == "assistant":
        d.update({
            "model": None if m.model is None else str(m.model),
            "route": None if m.route is None else m.route.to_dict(),
            "usage": None if m.usage is None else m.usage.to_dict(),
            "cost_usd": None if m.cost_usd is None else float(m.cost_usd),
            "cost_usd_exact": None if m.cost_usd is None else str(m.cost_usd),
            "error": None if m.error is None else m.error.to_dict(),
            "ttft_ms": m.ttft_ms,
            "fallback_used": m.fallback_used,
            "served_model": m.served_model,
            "attempts": [{"model": str(a.ref), "ok": a.ok, **({"error": a.error.to_dict()} if a.error else {})}
                         for a in m.attempts],
        })
    return d


def _history(args: Any) -> int:
    # Engine.open marks answers a killed process left "streaming" as interrupted.
    convs = _with_engine(lambda engine: engine.conversations.history(args.limit))
    out: list[dict[str, Any]] = [
        {"id": h.conversation.id, "title": h.conversation.title, "updated_at": h.conversation.updated_at,
         "messages": [_message_dict(m) for m in h.messages]} for h in convs]
    if args.json:
        _print_json({"conversations": out})
        return 0
    if not out:
        print("No conversations yet. Try: routedesk ask \"Hello\"")
    for c in out:
        print(f"#{c['id']} {c['title']}")
        for m in c["messages"]:
            if m["role"] == "user":
                print(f"  you: {_one_line(m['text'])}")
            else:
                tag = m["model"] or "no model"
                status = "" if m["status"] == "complete" else f" [{m['status']}]"
                print(f"  {tag}{status}: {_one_line(m['text']) or (m['error'] or {}).get('message', '')}")
    return 0


def _one_line(text: str, width: int = 100) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


# --- ask ---------------------------------------------------------------------------------


def _ask(args) -> int:
    from desktop.engine.events import AnswerDelta, AttemptFailed

    prompt = " ".join(args.prompt).strip()
    if not prompt and not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
    if not prompt:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, "There is no message to send.", 'routedesk ask "your question"')
    mode: Any = "auto"
    if args.model:
        mode = parse_ref(args.model)
    elif args.strong:
        mode = "strong"
    elif args.weak:
        mode = "weak"

    def on_event(ev) -> None:
        if args.json:
            return
        if isinstance(ev, AnswerDelta):
            sys.stdout.write(ev.text)
            sys.stdout.flush()
        elif isinstance(ev, AttemptFailed):
            what = "retrying" if ev.will_retry else "moving on"
            print(f"\n[{ev.model}: {ev.error.kind} — {what}]", file=sys.stderr, flush=True)

    async def go(engine):
        conv = args.conversation
        if conv is None and args.cont:
            conv = engine.conversations.latest_id()
        return await engine.send(conv, prompt, mode=mode, on_event=on_event)

    result = _run(go)
    if args.json:
        _print_json(result.to_dict())
        return 0 if result.ok else 1
    if result.text:
        print()
    if result.notice is not None:  # a kept answer the user must know about (cut at its limit)
        print(f"[{result.notice.message} {fix_text(result.notice.fix)}]", file=sys.stderr)
    line = [str(result.model) if result.model else "no model", result.route.choice]
    if result.usage is not None:
        line.append(f"{result.usage.input_tokens} in / {result.usage.output_tokens} out")
    line.append(format_usd(result.cost_usd) if result.usage is not None else "usage not reported")
    if result.ttft_ms is not None:
        line.append(f"first token {result.ttft_ms:.0f} ms")
    print("— " + " · ".join(line), file=sys.stderr)
    shown = set()  # the server's words already printed under an attempt
    if result.fallback_used or (result.status != "complete" and result.attempts):
        for a in result.attempts:
            if a.error is not None:
                print(f"  {a.model}: {a.error.message}", file=sys.stderr)
                if said_line(a.error) and a.error.detail not in shown:
                    print(said_line(a.error, "    "), file=sys.stderr)
                    shown.add(a.error.detail)
    if result.served_model:
        print(f"  {result.served_model} answered for {result.model} (billed as that model)", file=sys.stderr)
    if result.ok:
        return 0
    if result.error is not None:
        print(f"error: {result.error.message}", file=sys.stderr)
        if said_line(result.error) and result.error.detail not in shown:
            print(said_line(result.error), file=sys.stderr)
        if result.error.fix:
            print(f"fix:   {fix_text(result.error.fix)}", file=sys.stderr)
    if result.status in ("interrupted", "stopped"):
        print("The partial answer above is kept in your history; run the command again to retry.", file=sys.stderr)
    return 1


# --- route ---------------------------------------------------------------------------------


def _route(args) -> int:
    from desktop.engine.routing_service import route_batch, route_one

    if args.batch:
        return route_batch(sys.stdin, sys.stdout)
    prompt = " ".join(args.prompt).strip()
    if not prompt:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, "There is no prompt to route.", 'routedesk route "your question"')
    decision = route_one(prompt)
    if args.json:
        _print_json(decision)
    else:
        print(f"{decision['choice']}: {decision['reason']}")
        for r in decision.get("reasons", []):
            print(f"  - {r}")
    return 0


# --- models, probe, pull -------------------------------------------------------------------


def _models(args) -> int:
    async def go(engine):
        from desktop.engine.catalog import list_models

        return await list_models(engine)

    rows, problems = _run(go)
    if args.json:
        _print_json({"models": rows, "problems": problems})
        return 0
    for r in rows:
        print(f"{r['model']:<44} {r['price_label']}")
    for p in problems:
        print(f"{p['provider']}: {p['error']['message']}", file=sys.stderr)
    if not rows and not problems:
        print("No models yet: add a provider, or start Ollama.")
    return 0


def _probe(args) -> int:
    async def go(engine: Engine) -> tuple[list, set[str]]:
        reports = await engine.probes.run(args.name, deep=args.deep)
        return reports, {r.name for r in engine.probes.failing(reports, args.name)}

    reports, failing = _run(go)
    if args.json:
        _print_json({"providers": [r.to_dict() for r in reports], "failing": sorted(failing)})
    else:
        for r in reports:
            latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-"
            print(f"{r.name:<16} {r.status:<13} {latency:>8}  {r.explanation}")
            if r.fix:
                print(f"{'':<16} fix: {fix_text(r.fix)}")
            if r.status not in ("ok", "degraded") and r.name not in failing:
                print(f"{'':<16} (not set up or used, so this is not a problem)")
    return 1 if failing else 0


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


class ProgressBar:
    """A text progress bar for the engine's pull progress values.

    On a terminal it redraws one line (``\\r``); elsewhere (logs, tests) it prints one
    line per status and per 10 % step, so the output stays short.
    """

    def __init__(self, out: TextIO, *, width: int = 30, tty: bool | None = None) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty() if tty is None and hasattr(out, "isatty") else bool(tty)
        self._status: str | None = None
        self._step = -1
        self._drawn = False

    def line(self, status: str, completed: int | None, total: int | None) -> str:
        if total and completed is not None:
            frac = max(0.0, min(1.0, completed / total))
            filled = int(round(frac * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            return f"{status} [{bar}] {frac * 100:5.1f}% {_human(completed)}/{_human(total)}"
        return status

    def update(self, progress: Any) -> None:
        status, completed, total = progress.status, progress.completed, progress.total
        text = self.line(status or "", completed, total)
        if self.tty:
            self.out.write("\r" + text.ljust(79))
            self._drawn = True
        else:
            step = int((completed or 0) * 10 // total) if total and completed is not None else -1
            if status != self._status or step != self._step:
                self.out.write(text + "\n")
            self._step = step
        self._status = status
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.out.write("\n")
            self.out.flush()
        self._drawn = False


async def pull_with_bar(engine: Engine, ref: ModelRef, out: TextIO) -> int:
    """``routedesk pull ollama/NAME``: the engine's pull drawn as a text bar; Ctrl+C
    (cancelling the task) stops cleanly and says what happened. A failure raises
    RouteDeskError (the caller prints its message and fix)."""
    bar = ProgressBar(out)
    try:
        await engine.pulls.pull(ref, bar.update)
    except asyncio.CancelledError:
        bar.finish()
        out.write(f"Stopped pulling {ref.model}. Ollama keeps what it downloaded; run the same command to resume.\n")
        out.flush()
        raise
    except BaseException:
        bar.finish()
        raise
    bar.finish()
    out.write(f"Pulled {ref.model}. Try it: routedesk ask --model {ref} \"Hello\"\n")
    out.flush()
    return 0


def _pull(args: Any) -> int:
    ref = parse_ref(args.ref)
    return _run(lambda engine: pull_with_bar(engine, ref, sys.stderr))


_HANDLERS: dict[str, Callable[[Any], int]] = {
    "providers": _providers,
    "models": _models,
    "use": _use,
    "ask": _ask,
    "route": _route,
    "probe": _probe,
    "pull": _pull,
    "pricing": _pricing,
    "spend": _spend,
    "history": _history,
}
