"""Error bodies in each provider's own shape, for the classification tests; the literal
bodies proxies and routers send (each with its source) live with the simulator, which
serves them, and are re-exported here."""

from __future__ import annotations

import json

from tests.simulator.faults import (
    LITELLM_NO_DB,
    LITELLM_OWN_KEY,
    LITELLM_UPSTREAM_KEY,
    OPENAI_REQUEST_TOO_LARGE,
    OPENROUTER_UPSTREAM_RATE_LIMITED,
)

__all__ = ["oa", "an", "orr", "LITELLM_NO_DB", "LITELLM_OWN_KEY", "LITELLM_UPSTREAM_KEY",
           "OPENAI_REQUEST_TOO_LARGE", "OPENROUTER_UPSTREAM_RATE_LIMITED"]


def oa(message, type_, code, param=None):
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def an(type_, message):
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}})


def orr(code, message, metadata=None):
    err = {"code": code, "message": message}
    if metadata:
        err["metadata"] = metadata
    return json.dumps({"error": err})
