"""What each command-line verb does. Kept apart from the parser so the window's
self-test and the tests can call the same code paths."""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.terminal import fix_text, for_json

__all__ = ["dispatch", "report_error", "parse_usd", "format_usd"]


def dispatch(args) -> int:
    handler = _HANDLERS[args.command]
    return handler(args)


# --- output helpers ------------------------------------------------------------------


def report_error(err: RouteDeskError, want_json: bool, attempts: list | None = None) -> int:
    if want_json:
        _print_json({"error": err.info().to_dict(), "attempts": attempts or []})
    else:
        print(f"error: {err.message}", file=sys.stderr)
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


def parse_usd(value: str, what: str) -> Decimal:
    """A price from the user: a finite, non-negative number of dollars."""
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except (InvalidOperation, AttributeError):
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount > 100_000:
        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"{value!r} is not a usable {what} price.",
            "Give US dollars per million tokens as a plain number, for example 0.15 or 2.5.",
        )
    return amount


def parse_ref(text: str) -> ModelRef:
    try:
        return ModelRef.parse(text)
    except ValueError as exc:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, str(exc), "Write it as PROVIDER/MODEL, for example work/gpt-4o-mini.")


def _open_engine(**kwargs):
    from desktop.engine.app import Engine

    return Engine.open(**kwargs)


def _run(coro_fn):
    """Open an engine, run ``coro_fn(engine)`` on a fresh loop, close everything."""

    async def runner():
        engine = _open_engine()
        try:
            return await coro_fn(engine)
        finally:
            await engine.aclose()

    return asyncio.run(runner())


# --- providers -----------------------------------------------------------------------


def _providers(args) -> int:
    from desktop.core.paths import database_path
    from desktop.engine.cooldown import Cooldowns
    from desktop.providers import PRESETS, normalize_base_url
    from desktop.storage import KeyStore, Store

    if args.action == "add":
        preset = PRESETS[args.kind]
        name = args.name.strip()
        if not name or "/" in name or any(c.isspace() for c in name):
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"{args.name!r} can't be a provider name: it must be one word without '/'.",
                "Pick a short name such as work, home or groq.",
            )
        url = args.base_url or preset.base_url
        if not url:
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"A {args.kind} provider needs the address of its API.",
                "Add --base-url, for example --base-url http://127.0.0.1:8000/v1",
            )
        base_url = normalize_base_url(args.kind, url)
        key = None
        if args.key_stdin:
            key = sys.stdin.readline().strip()
            if not key:
                raise RouteDeskError(
                    ErrorKind.MISCONFIGURED,
                    "--key-stdin was given but standard input held no key.",
                    f"Pipe the key in: echo $KEY | routedesk providers add {name} --kind {args.kind} --key-stdin",
                )
        elif preset.needs_key:
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"{preset.display_name} needs an API key.",
                f"Pipe it in: echo $KEY | routedesk providers add {name} --kind {args.kind} --key-stdin",
            )
        store = Store(database_path())
        try:
            if key is not None:
                KeyStore().set(name, key)  # first: with no keyring, nothing is half-added
            existed = store.get_provider(name) is not None
            if existed:
                store.update_provider(name, kind=args.kind, base_url=base_url)
            else:
                store.add_provider(name, args.kind, base_url)
            Cooldowns(store).clear_provider(name)  # a new key or URL gets a fresh chance
        finally:
            store.close()
        where = " (key saved in the system keyring)" if key else ""
        print(f"{'Updated' if existed else 'Added'} {name}: {preset.display_name} at {base_url}{where}.")
        return 0

    store = Store(database_path())
    try:
        if args.action == "list":
            rows = []
            keys = KeyStore()
            for rec in store.list_providers():
                preset = PRESETS.get(rec.kind)
                try:
                    has_key = keys.get(rec.name) is not None
                except RouteDeskError:
                    has_key = None
                rows.append({"name": rec.name, "kind": rec.kind, "base_url": rec.base_url, "has_key": has_key,
                             "local": bool(preset and preset.local)})
            if args.json:
                _print_json({"providers": rows})
            elif not rows:
                print("No providers yet. Add one: echo $KEY | routedesk providers add work --kind openai --key-stdin")
            else:
                for r in rows:
                    key = {True: "key in keyring", False: "no key", None: "keyring unavailable"}[r["has_key"]]
                    print(f"{r['name']:<16} {r['kind']:<18} {r['base_url']}  ({'local' if r['local'] else key})")
            return 0
        if args.action == "remove":
            if store.get_provider(args.name) is None:
                raise RouteDeskError(ErrorKind.MISCONFIGURED, f"There is no provider called {args.name!r}.",
                                     "See them with `routedesk providers list`.")
            store.remove_provider(args.name)
            try:
                KeyStore().delete(args.name)
            except RouteDeskError:
                pass
            if args.json:
                _print_json({"removed": args.name})
            else:
                print(f"Removed {args.name} and its key.")
            return 0
    finally:
        store.close()
    return 2


# --- pair, pricing, spend, history ------------------------------------------------------


def _use(args) -> int:
    if not args.strong and not args.weak:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, "Say which models to use.",
                             "routedesk use --strong PROVIDER/MODEL --weak PROVIDER/MODEL")
    engine = _open_engine()
    try:
        pair = engine.pair()
        strong = parse_ref(args.strong) if args.strong else pair.strong
        weak = parse_ref(args.weak) if args.weak else pair.weak
        for ref in (strong, weak):
            if ref is not None:
                engine.provider_settings(ref.provider)  # unknown provider: a clear error
        engine.set_pair(strong, weak)
        print(f"Strong: {strong or '(not set)'}   Weak: {weak or '(not set)'}")
        return 0
    finally:
        asyncio.run(engine.aclose())


def _pricing(args) -> int:
    from desktop.core.paths import database_path
    from desktop.storage import Store

    store = Store(database_path())
    try:
        if args.action == "set":
            ref = parse_ref(args.ref)
            inp = parse_usd(args.input, "input")
            out = parse_usd(args.output, "output")
            store.set_price_override(ref, inp, out)
            print(f"{ref} now costs ${inp}/M input and ${out}/M output tokens (your override).")
            return 0
        if args.action == "unset":
            store.delete_price_override(parse_ref(args.ref))
            print(f"{args.ref} uses its bundled price again.")
            return 0
        rows = [{"model": str(o.ref), "input_usd_per_mtok": str(o.input_per_mtok),
                 "output_usd_per_mtok": str(o.output_per_mtok)} for o in store.list_price_overrides()]
        if args.json:
            _print_json({"overrides": rows})
        else:
            for r in rows:
                print(f"{r['model']:<40} ${r['input_usd_per_mtok']}/M in  ${r['output_usd_per_mtok']}/M out")
            if not rows:
                print("No price overrides.")
        return 0
    finally:
        store.close()


def spend_summary(store) -> dict:
    entries = store.ledger()
    total = sum((e.cost_usd for e in entries if e.cost_usd is not None), Decimal(0))
    strong = sum((e.strong_cost_usd if e.strong_cost_usd is not None else (e.cost_usd or Decimal(0)) for e in entries), Decimal(0))
    by_model: dict[str, dict] = {}
    unknown = 0
    for e in entries:
        m = by_model.setdefault(str(e.ref), {"model": str(e.ref), "messages": 0, "input_tokens": 0,
                                            "output_tokens": 0, "cost_usd": Decimal(0), "price_unknown": 0})
        m["messages"] += 1
        m["input_tokens"] += e.usage.input_tokens
        m["output_tokens"] += e.usage.output_tokens
        if e.cost_usd is None:
            m["price_unknown"] += 1
            unknown += 1
        else:
            m["cost_usd"] += e.cost_usd
    choices = [e.choice for e in entries if e.choice in ("strong", "weak")]
    return {
        "total_usd": total,
        "total_usd_exact": str(total),
        "always_strong_usd": strong,
        "saved_usd": strong - total,
        "messages": len(entries),
        "strong_share": (choices.count("strong") / len(choices)) if choices else None,
        "unpriced_messages": unknown,
        "by_model": list(by_model.values()),
    }


def _spend(args) -> int:
    from desktop.core.paths import database_path
    from desktop.storage import Store

    store = Store(database_path())
    try:
        s = spend_summary(store)
    finally:
        store.close()
    if args.json:
        _print_json(s)
        return 0
    print(f"Spent {format_usd(s['total_usd'])} on {s['messages']} answer{'' if s['messages'] == 1 else 's'}; "
          f"always-strong would have cost {format_usd(s['always_strong_usd'])} "
          f"(saved {format_usd(s['saved_usd'])}).")
    for m in s["by_model"]:
        extra = f", {m['price_unknown']} with unknown price" if m["price_unknown"] else ""
        answers = "answer" if m["messages"] == 1 else "answers"
        print(f"  {m['model']:<40} {m['messages']:>5} {answers:<7}  {m['input_tokens']:>8} in  "
              f"{m['output_tokens']:>8} out  {format_usd(m['cost_usd'])}{extra}")
    return 0


def _message_dict(m) -> dict:
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
            "attempts": [{"model": str(a.ref), "ok": a.ok, **({"error": a.error.to_dict()} if a.error else {})}
                         for a in m.attempts],
        })
    return d


def _history(args) -> int:
    from desktop.core.paths import database_path
    from desktop.storage import Store

    store = Store(database_path())
    try:
        store.recover_interrupted()  # answers a killed process left "streaming" read as interrupted
        convs = store.list_conversations()[: args.limit]
        out = [{"id": c.id, "title": c.title, "updated_at": c.updated_at,
                "messages": [_message_dict(m) for m in store.messages(c.id)]} for c in convs]
    finally:
        store.close()
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
            convs = engine.store.list_conversations()
            conv = convs[0].id if convs else None
        return await engine.send(conv, prompt, mode=mode, on_event=on_event)

    result = _run(go)
    if args.json:
        _print_json(result.to_dict())
        return 0 if result.status == "complete" else 1
    if result.text:
        print()
    line = [str(result.model) if result.model else "no model", result.route.choice]
    if result.usage is not None:
        line.append(f"{result.usage.input_tokens} in / {result.usage.output_tokens} out")
    line.append(format_usd(result.cost_usd) if result.usage is not None else "usage not reported")
    if result.ttft_ms is not None:
        line.append(f"first token {result.ttft_ms:.0f} ms")
    print("— " + " · ".join(line), file=sys.stderr)
    if result.fallback_used or (result.status != "complete" and result.attempts):
        for a in result.attempts:
            if a.error is not None:
                print(f"  {a.model}: {a.error.message}", file=sys.stderr)
    if result.status == "complete":
        return 0
    if result.error is not None:
        print(f"error: {result.error.message}", file=sys.stderr)
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
    async def go(engine):
        from desktop.engine.health import probe_all

        return await probe_all(engine, only=args.name, deep=args.deep)

    reports = _run(go)
    if args.json:
        _print_json({"providers": [r.to_dict() for r in reports]})
    else:
        for r in reports:
            latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-"
            print(f"{r.name:<16} {r.status:<13} {latency:>8}  {r.explanation}")
            if r.fix:
                print(f"{'':<16} fix: {fix_text(r.fix)}")
    bad = [r for r in reports if r.status not in ("ok", "degraded")]
    return 1 if bad else 0


def _pull(args) -> int:
    async def go(engine):
        from desktop.engine.catalog import pull_model

        return await pull_model(engine, parse_ref(args.ref), sys.stderr)

    return _run(go)


_HANDLERS = {
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
