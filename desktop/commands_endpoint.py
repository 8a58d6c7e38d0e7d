"""``routedesk serve`` and ``routedesk clients``: the command-line face of the local
endpoint (``engine.endpoint``) and its client tokens (``engine.clients``). Only input and
output live here; ``add_parsers`` registers the verbs and each sets ``handler``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.terminal import fix_text

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["add_parsers", "run_serve", "run_clients"]

T = TypeVar("T")


def add_parsers(sub: Any) -> None:
    serve = sub.add_parser("serve", help="the local OpenAI-compatible endpoint for other tools on this computer")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this computer only)")
    serve.add_argument("--port", type=int, default=8765)
    serve.set_defaults(handler=run_serve)

    clients = sub.add_parser("clients", help="tokens for the tools that use the local endpoint")
    csub = clients.add_subparsers(dest="action", required=True)
    add = csub.add_parser("add", help="a new token for one tool (printed once)")
    add.add_argument("name")
    add.add_argument("--budget", metavar="USD_PER_MONTH", help="refuse this tool's requests beyond this a month")
    add.add_argument("--json", action="store_true")
    lst = csub.add_parser("list")
    lst.add_argument("--json", action="store_true")
    rm = csub.add_parser("remove", help="revoke a token at once")
    rm.add_argument("name")
    rm.add_argument("--json", action="store_true")
    bud = csub.add_parser("budget", help="change a tool's monthly budget (`none`: no limit)")
    bud.add_argument("name")
    bud.add_argument("usd", metavar="USD_PER_MONTH")
    bud.add_argument("--json", action="store_true")
    clients.set_defaults(handler=run_clients)


def _budget(text: str | None) -> Decimal | None:
    from decimal import InvalidOperation

    if text is None or text.strip().lower() in ("none", "off", ""):
        return None
    try:
        amount = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{text!r} is not a usable monthly budget.",
                             "Give US dollars a month as a plain number, for example 5 or 0.50.")
    return amount


def format_usd(amount: Decimal | None) -> str:
    if amount is None:
        return "price unknown"
    if amount == 0:
        return "$0"
    return f"${amount:.6f}".rstrip("0") if amount < Decimal("0.01") else f"${amount:.2f}"


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False,
                     default=lambda o: float(o) if isinstance(o, Decimal) else str(o)))


def _open() -> Engine:
    from desktop.engine.app import Engine

    return Engine.open()


def _with_engine(fn: Callable[[Engine], T]) -> T:
    engine = _open()
    try:
        return fn(engine)
    finally:
        asyncio.run(engine.aclose())


def _run(fn: Callable[[Engine], Awaitable[T]]) -> T:
    async def runner() -> T:
        engine = _open()
        try:
            return await fn(engine)
        finally:
            await engine.aclose()

    return asyncio.run(runner())


def run_clients(args: Any) -> int:
    def go(engine: Engine) -> int:
        if args.action == "add":
            info, token = engine.clients.add(args.name, _budget(args.budget))
            if args.json:
                _print_json({**info.to_dict(), "token": token})
            else:
                limit = "" if info.budget_usd is None else f" (budget {format_usd(info.budget_usd)} a month)"
                print(f"Client {info.name!r} added{limit}. Its token, shown only this once:\n\n  {token}\n\n"
                      "Give it to the tool as its OpenAI API key, with the base URL from `routedesk serve`.")
            return 0
        if args.action == "remove":
            engine.clients.remove(args.name)
            if args.json:
                _print_json({"removed": args.name})
            else:
                print(f"Client {args.name!r} removed: its token stops working now.")
            return 0
        if args.action == "budget":
            info = engine.clients.set_budget(args.name, _budget(args.usd))
            if args.json:
                _print_json(info.to_dict())
            else:
                limit = "no budget" if info.budget_usd is None else f"a budget of {format_usd(info.budget_usd)} a month"
                print(f"Client {info.name!r} now has {limit}.")
            return 0
        rows = engine.clients.list()
        if args.json:
            _print_json({"clients": [r.to_dict() for r in rows]})
            return 0
        if not rows:
            print("No clients yet. Add one with `routedesk clients add NAME`.")
        for r in rows:
            used = "never used" if r.last_used_at is None else f"last used {r.last_used_at.astimezone():%Y-%m-%d %H:%M}"
            budget = "no budget" if r.budget_usd is None else f"budget {format_usd(r.budget_usd)}"
            print(f"  {r.name:<24} created {r.created_at.astimezone():%Y-%m-%d}  {used:<28} "
                  f"this month {format_usd(r.month_usd)}  {budget}")
        return 0

    return _with_engine(go)


def run_serve(args: Any) -> int:
    from desktop.engine.endpoint_service import exposure_note

    async def go(engine: Engine) -> int:
        def log(entry: Any) -> None:
            what = f" {entry.route} -> {entry.model}" if entry.model else ""
            cost = f" {format_usd(entry.cost_usd)}" if entry.model else ""
            print(f"{entry.client or '-'} {entry.method} {entry.path} {entry.status}{what}{cost}", file=sys.stderr,
                  flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        url = await engine.endpoint.start(args.host, args.port, on_request=log, word_fix=fix_text)
        server = engine.endpoint.server
        note = exposure_note(args.host, server.port if server is not None else args.port)
        if note:
            print(f"warning: {note}", file=sys.stderr, flush=True)
        if not engine.clients.list():
            print("No client has a token yet: add one with `routedesk clients add NAME`.", file=sys.stderr)
        print(f"RouteDesk's endpoint is listening at {url}", flush=True)
        try:
            await stop.wait()
        finally:
            await engine.endpoint.stop()
        print("Stopped.", file=sys.stderr)
        return 0

    return _run(go)
