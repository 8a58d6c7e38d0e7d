"""Provider simulator: a real HTTP server on 127.0.0.1 imitating OpenAI, Anthropic and Ollama.

    from tests.simulator import Simulator, Fault
    with Simulator() as sim:
        sim.inject(Fault("rate_limited", protocol="openai", retry_after=2))
        ...

server.py holds ``Simulator`` and the usage bookkeeping; tokens.py the token counting and
replies; records.py what it records; faults.py the fault kinds and the providers' literal
error bodies; http_plumbing.py the HTTP server and the handler's common part; openai_wire.py,
anthropic_wire.py and ollama_wire.py one protocol each. README.md has a summary.
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
