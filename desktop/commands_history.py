"""``routedesk import``, ``export`` and ``search``: the command-line face of the history
services in ``desktop.engine.history_*``. Only input and output live here.

``add_parsers`` registers the verbs on the CLI's subparsers; each sets ``handler``,
which ``desktop.cli.main`` calls (errors are RouteDeskErrors, reported like any other).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parsers", "run_import", "run_export", "run_search"]


def add_parsers(sub: Any) -> None:
    imp = sub.add_parser("import", help="import history: a ChatGPT export (.zip or conversations.json), "
                                        "an Open WebUI export, or a RouteDesk JSON export")
    imp.add_argument("file")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=run_import)

    exp = sub.add_parser("export", help="export conversations as Markdown or RouteDesk JSON")
    exp.add_argument("ids", nargs="*", type=_conversation_id, metavar="ID")
    exp.add_argument("--all", action="store_true", help="every conversation")
    exp.add_argument("--format", choices=("markdown", "json"), default="markdown")
    exp.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of the screen")
    exp.set_defaults(handler=run_export)

    srch = sub.add_parser("search", help="full-text search over every conversation")
    srch.add_argument("query", nargs="+")
    srch.add_argument("--json", action="store_true")
    srch.add_argument("--limit", type=int, default=50)
    srch.set_defaults(handler=run_search)


def _conversation_id(text: str) -> int:
    try:
        value = int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a conversation number (see `routedesk history`)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a conversation number (see `routedesk history`)")
    return value


def _store() -> Any:
    from desktop.core.paths import database_path
    from desktop.storage import Store

    return Store(database_path())


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


# --- import ------------------------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    from desktop.engine.history_import import ImportProgress, import_history

    show = not args.json and sys.stderr.isatty()

    def progress(p: ImportProgress) -> None:
        if show:
            print(f"\rImporting… {p.fraction:4.0%}  {p.conversations:,} conversations, {p.messages:,} messages",
                  end="", file=sys.stderr, flush=True)

    store = _store()
    try:
        summary = import_history(store, Path(args.file).expanduser(), progress=progress)
    finally:
        store.close()
        if show:
            print(file=sys.stderr)
    if args.json:
        _print_json(summary.to_dict())
    else:
        print("\n".join(summary.lines()))
    return 0


# --- export ------------------------------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    from desktop.core.errors import ErrorKind, RouteDeskError
    from desktop.engine.history_export import conversations_to_export, export_json, export_markdown, export_to_file

    if args.all and args.ids:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, "Give conversation numbers or --all, not both.",
                             "For example: routedesk export 3 7, or routedesk export --all.")
    if not args.all and not args.ids:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, "Which conversations? Give their numbers or --all.",
                             "For example: routedesk export 3 7 -o chats.md (numbers from `routedesk history`).")
    ids = None if args.all else args.ids
    store = _store()
    try:
        if not args.output:
            write = export_json if args.format == "json" else export_markdown
            write(store, conversations_to_export(store, ids), sys.stdout)
            return 0
        target = Path(args.output).expanduser()
        n = export_to_file(store, ids, target, format=args.format)
    finally:
        store.close()
    print(f"Exported {n:,} conversation{'' if n == 1 else 's'} to {target}.", file=sys.stderr)
    return 0


# --- search ------------------------------------------------------------------------------


def run_search(args: argparse.Namespace) -> int:
    from desktop.engine.history_search import search_history

    query = " ".join(args.query)
    store = _store()
    try:
        results = search_history(store, query, limit=max(1, args.limit))
    finally:
        store.close()
    if args.json:
        _print_json({"query": query, "results": [r.to_dict() for r in results]})
        return 0
    if not results:
        print(f"Nothing matches {query!r}.")
        return 0
    for r in results:
        who = "you" if r.role == "user" else r.role
        print(f"#{r.conversation_id} {r.conversation_title} · {r.created_at.astimezone().strftime('%Y-%m-%d')}")
        print(f"    {who}: {r.snippet}")
    return 0
