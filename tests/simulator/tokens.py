"""Token counting and the simulator's replies, deterministic so a client's ledger can be
compared with ``Simulator.usage_log``.

* input tokens  = sum over the messages sent (Anthropic's top-level `system` counts as one
  message) of (number of whitespace-separated words in the message's text + 3);
* output tokens = number of whitespace-separated words in the reply actually produced
  (after `max_tokens` truncation, which cuts the reply to that many words).

Streams send one content chunk per word (with its trailing whitespace), so a reply of N words
is N chunks; `after_chunks` counts these content chunks.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["text_of", "count_input_tokens", "count_output_tokens", "default_reply", "split_chunks", "truncate"]


def text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict):
                if isinstance(p.get("text"), str):
                    parts.append(p["text"])
                elif isinstance(p.get("content"), (str, list)):
                    parts.append(text_of(p["content"]))
        return " ".join(parts)
    return str(content)


def count_input_tokens(messages: list[dict]) -> int:
    """Words across all message contents + 3 per message."""
    return sum(len(text_of(m.get("content")).split()) + 3 for m in messages)


def count_output_tokens(text: str) -> int:
    return len(text.split())


def default_reply(messages: list[dict]) -> str:
    last = ""
    for m in reversed(messages):
        if m.get("role") == "user":
            last = text_of(m.get("content"))
            break
    words = last.split()
    gist = " ".join(words[:12]) if words else "nothing"
    return f"Simulated answer about: {gist}. That is all."


def split_chunks(text: str) -> list[str]:
    """One chunk per word, trailing whitespace attached; leading whitespace goes to the first.
    A whitespace-only text is one chunk; an empty text none."""
    if not text.strip():
        return [text] if text else []
    return re.findall(r"\s*\S+\s*", text)


def truncate(text: str, max_tokens: Any) -> tuple[str, bool]:
    if isinstance(max_tokens, int) and max_tokens >= 0:
        chunks = split_chunks(text)
        if len(chunks) > max_tokens:
            return "".join(chunks[:max_tokens]).rstrip(), True
    return text, False
