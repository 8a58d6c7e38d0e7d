"""The command line (a contract: DESIGN.md lists it and acceptance checks drive it).

With no arguments it starts the window. Every failure ends in a plain sentence and
a fix on stderr and a non-zero exit; ``--json`` variants print one JSON object.
Tracebacks appear only with ROUTEDESK_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from desktop.core.errors import ErrorKind, RouteDeskError

__all__ = ["main", "build_parser", "CLOSED_PIPE_EXIT"]

#: The presets' kinds (desktop.providers.PRESETS, checked by tests/test_cli.py); spelt out so
#: that parsing the command line, which starts the window too, does not import httpx.
KINDS = ("openai", "anthropic", "openrouter", "ollama", "openai-compatible", "lmstudio", "groq", "together",
         "deepseek", "mistral")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routedesk", description="RouteDesk: chat with LLMs, routed by cost.")
    p.add_argument("--self-test", action="store_true", help="load everything offscreen and exit 0 if it all works")
    sub = p.add_subparsers(dest="command")

    prov = sub.add_parser("providers", help="add, list, rename or remove providers")
    psub = prov.add_subparsers(dest="action", required=True)
    add = psub.add_parser("add", help="add a provider (its key goes to the OS keyring)")
    add.add_argument("name")
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument("--base-url")
    add.add_argument("--key-stdin", action="store_true",
                     help="read the API key from standard input (an existing provider keeps its key without it)")
    add.add_argument("--timeout", type=float, metavar="SECONDS", help="how long to wait for this provider's answer")
    lst = psub.add_parser("list")
    lst.add_argument("--json", action="store_true")
    ren = psub.add_parser("rename", help="rename a provider; its key, prices and the pair follow")
    ren.add_argument("old")
    ren.add_argument("new")
    ren.add_argument("--json", action="store_true")
    rm = psub.add_parser("remove")
    rm.add_argument("name")
    rm.add_argument("--json", action="store_true")

    models = sub.add_parser("models", help="every model known, with its price and where the price comes from")
    models.add_argument("--json", action="store_true")

    use = sub.add_parser("use", help="set the strong/weak pair")
    use.add_argument("--strong")
    use.add_argument("--weak")

    ask = sub.add_parser("ask", help="send a message (routed unless you pick a model)")
    g = ask.add_mutually_exclusive_group()
    g.add_argument("--model")
    g.add_argument("--strong", action="store_true")
    g.add_argument("--weak", action="store_true")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("--continue", dest="cont", action="store_true", help="continue the last conversation")
    ask.add_argument("--conversation", type=int)
    ask.add_argument("prompt", nargs="*")

    route = sub.add_parser("route", help="show how a prompt would be routed")
    route.add_argument("--json", action="store_true")
    route.add_argument("--batch", action="store_true", help='JSON lines {"prompt": ...} on stdin -> {"score": ...}')
    route.add_argument("prompt", nargs="*")

    probe = sub.add_parser("probe", help="check providers now")
    probe.add_argument("name", nargs="?")
    probe.add_argument("--json", action="store_true")
    probe.add_argument("--deep", action="store_true", help="also send one tiny completion (costs a fraction of a cent)")

    pull = sub.add_parser("pull", help="download a local model: routedesk pull ollama/NAME")
    pull.add_argument("ref")

    pricing = sub.add_parser("pricing", help="override a model's price")
    prsub = pricing.add_subparsers(dest="action", required=True)
    pset = prsub.add_parser("set")
    pset.add_argument("ref")
    pset.add_argument("--input", required=True, help="USD per million input tokens")
    pset.add_argument("--output", required=True, help="USD per million output tokens")
    punset = prsub.add_parser("unset")
    punset.add_argument("ref")
    plist = prsub.add_parser("list")
    plist.add_argument("--json", action="store_true")

    spend = sub.add_parser("spend", help="what you have spent, and what always-strong would have cost")
    spend.add_argument("--json", action="store_true")

    hist = sub.add_parser("history", help="conversations and answers")
    hist.add_argument("--json", action="store_true")
    hist.add_argument("--limit", type=int, default=20)

    from desktop.commands_history import add_parsers as add_history_parsers

    add_history_parsers(sub)  # import, export, search
    from desktop.commands_endpoint import add_parsers as add_endpoint_parsers

    add_endpoint_parsers(sub)  # serve, clients
    return p


#: The exit status of a command whose reader went away (128 + SIGPIPE), as a shell reports
#: ``yes | head -1``'s ``yes``.
CLOSED_PIPE_EXIT = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A reader that stops reading (``routedesk history | head -1``) ends
    it quietly with CLOSED_PIPE_EXIT, like any Unix tool, for every command's output."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # what is still buffered meets the closed pipe here, not at exit
        return code
    except BrokenPipeError:
        return _after_closed_pipe()


def _after_closed_pipe() -> int:
    """Point stdout at the null device, so the flush Python does on exit finds nothing to
    complain about (docs.python.org/3/library/signal.html, "Note on SIGPIPE")."""
    import contextlib

    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return CLOSED_PIPE_EXIT


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from desktop.selftest import run_self_test

        return run_self_test()
    if args.command is None:
        from desktop.window_check import WINDOW_CANT_START, window_problem

        problem = window_problem()  # before Qt, whose own answer is an abort
        if problem is not None:
            print(problem, file=sys.stderr)
            return WINDOW_CANT_START
        from desktop.ui.app import run_app

        return run_app(argv)
    from desktop import commands

    want_json = bool(getattr(args, "json", False))
    try:
        handler = getattr(args, "handler", None)
        return handler(args) if handler is not None else commands.dispatch(args)
    except RouteDeskError as err:
        return commands.report_error(err, want_json)
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # the reader went away: not a problem to report (main ends quietly)
    except Exception as exc:  # the last line of defence: a sentence, not a traceback
        if os.environ.get("ROUTEDESK_DEBUG"):
            raise
        unexpected = RouteDeskError(
            ErrorKind.BAD_RESPONSE,
            f"RouteDesk hit an unexpected problem ({type(exc).__name__}).",
            "Run the command again with ROUTEDESK_DEBUG=1 to see the details, and report them.",
        )
        return commands.report_error(unexpected, want_json)
