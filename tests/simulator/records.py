"""What the simulator records: each request, each usage it sent, each fault it applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .faults import Fault

__all__ = ["UsageRecord", "RequestRecord", "FaultRecord"]


@dataclass(frozen=True)
class UsageRecord:
    protocol: str
    model: str
    input_tokens: int
    output_tokens: int


@dataclass
class RequestRecord:
    method: str
    path: str
    json_body: Any
    headers: dict[str, str]
    protocol: str = ""


@dataclass(frozen=True)
class FaultRecord:
    """A fault the server actually applied (for soak tests: compare with what the client saw)."""

    protocol: str
    model: str
    path: str
    fault: Fault
