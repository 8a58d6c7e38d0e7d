"""Provider simulator: a real HTTP server on 127.0.0.1 imitating OpenAI, Anthropic and Ollama.

    from tests.simulator import Simulator, Fault
    with Simulator() as sim:
        sim.inject(Fault("rate_limited", protocol="openai", retry_after=2))
        ...

See server.py for token counting and usage bookkeeping, faults.py for the fault kinds and the
providers' literal error bodies, README.md for a summary.
"""

from .faults import FAULT_KINDS, HTTP_FAULT_KINDS, STREAM_FAULT_KINDS, Fault, error_response
from .server import (
    DEFAULT_MODELS,
    FaultRecord,
    RequestRecord,
    Simulator,
    UsageRecord,
    count_input_tokens,
    count_output_tokens,
    default_reply,
    split_chunks,
)

__all__ = [
    "Simulator",
    "Fault",
    "UsageRecord",
    "RequestRecord",
    "FaultRecord",
    "FAULT_KINDS",
    "HTTP_FAULT_KINDS",
    "STREAM_FAULT_KINDS",
    "DEFAULT_MODELS",
    "count_input_tokens",
    "count_output_tokens",
    "default_reply",
    "split_chunks",
    "error_response",
]
