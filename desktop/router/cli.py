"""``routedesk route`` without the engine: score prompts with the shipped router.

    python -m desktop.router route [--json] [--share 0.3] PROMPT
    python -m desktop.router route --batch < prompts.jsonl   (JSON lines in: {"prompt": ...}
                                                              or {"messages": [...]}; out: one
                                                              JSON object per line)

The application's CLI (``desktop.cli``) can delegate here with ``route_main(argv)``. The
threshold comes from the shipped reference distribution for the given share of strong calls
(no per-user adaptation here: that state belongs to the engine).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from desktop.core.types import ChatMessage

from .model import Router, load_router
from .policy import ShareTargetPolicy

__all__ = ["route_main", "decision_dict"]


def decision_dict(router: Router, policy: ShareTargetPolicy, messages: Sequence[ChatMessage]) -> dict[str, Any]:
    s = router.score(messages)
    d = policy.decide(s, record=False)
    out = d.to_dict()
    out["contributions"] = [
        {"feature": n, "logit": round(c, 4)} for n, c in s.contributions[:6]
    ]
    return out


def _messages(obj: Any) -> list[ChatMessage]:
    if isinstance(obj, str):
        return [ChatMessage("user", obj)]
    if "messages" in obj:
        return [ChatMessage(m.get("role", "user"), str(m.get("content", ""))) for m in obj["messages"]]
    return [ChatMessage("user", str(obj.get("prompt", "")))]


def route_main(argv: Sequence[str] | None = None, stdin: TextIO | None = None,
               stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    ap = argparse.ArgumentParser(prog="routedesk route", description="Score prompts with the router.")
    ap.add_argument("prompt", nargs="*", help="the prompt (default: read stdin)")
    ap.add_argument("--json", action="store_true", help="print the decision as JSON")
    ap.add_argument("--batch", action="store_true", help="JSON lines in, JSON lines out")
    ap.add_argument("--share", type=float, default=0.3, help="target share of strong calls (0-1)")
    ap.add_argument("--weights", default=None, help="folder with weights.npz and manifest.json")
    args = ap.parse_args(argv)
    router = load_router(args.weights)
    policy = ShareTargetPolicy(args.share, router.reference_scores)
    if args.batch:
        for line in stdin:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                stdout.write(json.dumps({"error": f"not JSON: {e.msg}"}) + "\n")
                continue
            out = decision_dict(router, policy, _messages(obj))
            if isinstance(obj, dict) and "id" in obj:
                out["id"] = obj["id"]
            stdout.write(json.dumps(out) + "\n")
        return 0
    text = " ".join(args.prompt) if args.prompt else stdin.read()
    out = decision_dict(router, policy, [ChatMessage("user", text)])
    if args.json:
        stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        stdout.write(f"{out['choice']}  score {out['score']:.3f}  threshold {out['threshold']:.3f}\n")
        stdout.write(out["reason"] + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "route":
        argv = argv[1:]
    return route_main(argv)
