"""Error bodies in each provider's own shape, for the classification tests."""

from __future__ import annotations

import json


def oa(message, type_, code, param=None):
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def an(type_, message):
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}})


def orr(code, message, metadata=None):
    err = {"code": code, "message": message}
    if metadata:
        err["metadata"] = metadata
    return json.dumps({"error": err})
