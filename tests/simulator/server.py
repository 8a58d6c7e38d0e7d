"""The provider simulator: a real HTTP/1.1 server on 127.0.0.1 speaking the OpenAI,
Anthropic Messages and Ollama wire protocols, with injectable faults.

``Simulator`` is the public face (lifecycle, URLs, faults, records, waiting); the request
handler is assembled from http_plumbing.HandlerBase and one mixin per wire protocol
(openai_wire, anthropic_wire, ollama_wire). Token counting is in tokens.py.

Usage bookkeeping: one UsageRecord is appended when the server has finished writing the bytes
that carry the usage to the client - OpenAI: the non-stream body, or the final usage chunk of
a stream when `stream_options.include_usage` is true; Anthropic: the non-stream body or the
`message_delta` event (which carries output_tokens; input_tokens came in `message_start`);
Ollama: the non-stream body or the final `done: true` line.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Callable

from .anthropic_wire import AnthropicWire
from .faults import ENDING_KINDS, FAULT_KINDS, RELAYED_FAULT_KINDS, Fault
from .http_plumbing import IN_STREAM_KINDS, NO_AUTH, OPENAI_WIRE, SimulatorHTTPServer
from .ollama_wire import OllamaWire, ollama_name
from .openai_wire import OpenAIWire
from .records import FaultRecord, RequestRecord, UsageRecord
from .tokens import count_input_tokens, count_output_tokens, default_reply, split_chunks

__all__ = [
    "Simulator",
    "Fault",
    "UsageRecord",
    "RequestRecord",
    "FaultRecord",
    "count_input_tokens",
    "count_output_tokens",
    "default_reply",
    "split_chunks",
    "DEFAULT_MODELS",
    "OPENAI_WIRE",
    "NO_AUTH",
    "RANDOM_KINDS",
    "IN_STREAM_KINDS",
]

DEFAULT_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o-mini", "gpt-4o"],
    "anthropic": ["claude-3-5-haiku-latest", "claude-sonnet-4-5"],
    "ollama": ["llama3.2:latest", "qwen2.5-coder:7b"],
    "openrouter": ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "meta-llama/llama-3.1-8b-instruct"],
    "lmstudio": ["qwen2.5-7b-instruct", "llama-3.2-3b-instruct"],
}

#: Default random-fault kinds: everything that does not depend on wall-clock time.
_TIMED_KINDS = ("stall", "slow_first_token", "keepalive")
RANDOM_KINDS = tuple(k for k in FAULT_KINDS if k not in _TIMED_KINDS + RELAYED_FAULT_KINDS)


class _Handler(OpenAIWire, AnthropicWire, OllamaWire):
    """One request, in whichever protocol its path and headers name."""


class Simulator:
    """A real HTTP server on 127.0.0.1 that imitates OpenAI, Anthropic and Ollama.

    Use as a context manager or via start()/stop(); restart on the same port is allowed.
    """

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", valid_keys: set[str] | None = None,
                 models: dict[str, list[str]] | None = None, reply: Callable[[list[dict]], str] | None = None,
                 chunk_delay: float = 0.0):
        self.host = host
        self.port = port
        self.valid_keys: set[str] = set(valid_keys) if valid_keys is not None else {"sk-test-key"}
        self.models: dict[str, list[str]] = {k: list(v) for k, v in (models or DEFAULT_MODELS).items()}
        for k, v in DEFAULT_MODELS.items():
            self.models.setdefault(k, list(v))
        self.reply: Callable[[list[dict]], str] = reply or default_reply
        self.chunk_delay = chunk_delay
        #: None: any name can be pulled; else only these names (others fail like a missing manifest).
        self.ollama_registry: set[str] | None = None
        self.ollama_version = "0.12.6"
        #: model -> LiteLLM model_info fields: when set, GET /v1/model/info answers as a LiteLLM
        #: proxy does (openai_wire._litellm_model_info); None: 404, as every other server.
        self.litellm_model_info: dict[str, dict] | None = None
        #: progress lines with "completed" a pull sends (plus manifest/verify/write/success lines).
        self.pull_steps = 4
        #: model asked for -> model that answers (a proxy's fallback): the name the chunks,
        #: the body and Anthropic's message_start give. Usage is still logged under the asked name.
        self.served_models: dict[str, str] = {}
        #: extra headers on every 200 chat answer: LiteLLM's proxy sends x-litellm-response-cost
        #: (the call's cost, USD) and x-litellm-attempted-fallbacks (how many fallbacks it tried),
        #: per https://docs.litellm.ai/docs/proxy/response_headers.
        self.chat_headers: dict[str, str] = {}
        #: answer every chat request with a plain JSON body, as a server or proxy that
        #: ignores ``stream: true`` does.
        self.ignore_stream = False
        self.usage_log: list[UsageRecord] = []
        self.requests: list[RequestRecord] = []
        self.fault_log: list[FaultRecord] = []
        self._faults: list[Fault] = []
        self._random: tuple[random.Random, float, tuple[str, ...], dict] | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stall_events: set[threading.Event] = set()
        self._stopping = threading.Event()
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = SimulatorHTTPServer((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"simulator-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        srv, self._server = self._server, None
        if srv is None:
            return
        self._stopping.set()
        self.release_stalls()
        # Ask serve_forever to stop, then wake its select() with a throw-away connection so
        # stop() does not wait for the poll interval.
        srv._BaseServer__shutdown_request = True  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        srv.shutdown()
        srv.server_close()
        srv.close_all()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground until KeyboardInterrupt (used by `python -m tests.simulator`)."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """TCP connections accepted since start (keep-alive reuse adds none)."""
        return 0 if self._server is None else self._server.accepted

    # ---------------------------------------------------------------- URLs

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def openrouter_url(self) -> str:
        """OpenAI wire, OpenRouter model names and error bodies (models["openrouter"])."""
        return self.base_url + "/openrouter/v1"

    @property
    def lmstudio_url(self) -> str:
        """OpenAI wire, no key needed (models["lmstudio"])."""
        return self.base_url + "/lmstudio/v1"

    @property
    def ollama_host(self) -> str:
        """For OLLAMA_HOST: "127.0.0.1:PORT"."""
        return f"{self.host}:{self.port}"

    @property
    def anthropic_url(self) -> str:
        return self.base_url

    @property
    def ollama_url(self) -> str:
        return self.base_url

    # ---------------------------------------------------------------- faults

    def inject(self, fault: Fault | str, **kw) -> Fault:
        if isinstance(fault, str):
            fault = Fault(fault, **kw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def random_faults(self, rate: float = 0.2, seed: int = 1234, kinds: list[str] | tuple[str, ...] | None = None,
                      *, stall_delay: float | None = 0.2, slow_delay: float = 0.05, retry_after: float = 0) -> None:
        """Seeded random faults on chat requests: each chat request draws from one Random(seed),
        so the same request sequence gets the same faults. Stalls last `stall_delay` s."""
        ks = tuple(kinds) if kinds is not None else RANDOM_KINDS
        for k in ks:
            if k not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {k!r}")
        with self._lock:
            self._random = (random.Random(seed), rate, ks,
                            {"stall_delay": stall_delay, "slow_delay": slow_delay, "retry_after": retry_after})

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._random = None

    def release_stalls(self) -> None:
        with self._lock:
            for ev in list(self._stall_events):
                ev.set()

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _take_fault(self, protocol: str, model: str, endpoint: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.endpoint not in ("any", endpoint):
                    continue
                if f.protocol is not None:
                    if f.protocol in OPENAI_WIRE:
                        if protocol not in OPENAI_WIRE:
                            continue
                    elif f.protocol != protocol:
                        continue
                if f.model is not None and f.model != model and not (
                    protocol == "ollama" and ollama_name(f.model) == model):
                    continue
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                self.fault_log.append(FaultRecord(protocol, model, path, f))
                return f
            if self._random is not None and endpoint == "chat":
                rng, rate, kinds, opts = self._random
                # Always draw the same number of values per request so the sequence is stable.
                hit, ki, after = rng.random(), rng.randrange(len(kinds)), rng.choice([None, 0, 1, 2])
                if hit < rate:
                    kind = kinds[ki]
                    f = Fault(kind, after_chunks=after if kind in IN_STREAM_KINDS else None)
                    if kind in ENDING_KINDS:
                        f.after_chunks = 2 if after is None else after
                    if kind in ("stall", "cut", "malformed_sse", "midstream_error") and f.after_chunks is None:
                        f.after_chunks = 0 if kind != "cut" else None
                    if kind == "stall":
                        f.delay = opts["stall_delay"]
                    elif kind == "slow_first_token":
                        f.delay = opts["slow_delay"]
                    elif kind == "rate_limited":
                        f.retry_after = opts["retry_after"]
                    self.fault_log.append(FaultRecord(protocol, model, path, f))
                    return f
        return None

    # ---------------------------------------------------------------- bookkeeping

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)
            self._changed.notify_all()

    def _log_usage(self, rec: UsageRecord) -> UsageRecord:
        with self._lock:
            self.usage_log.append(rec)
            self._changed.notify_all()
        return rec

    def _unlog_usage(self, rec: UsageRecord) -> None:
        with self._lock:
            for i in range(len(self.usage_log) - 1, -1, -1):
                if self.usage_log[i] is rec:
                    del self.usage_log[i]
                    break
            self._changed.notify_all()

    # ---------------------------------------------------------------- waiting (no sleeps in tests)

    def wait_for(self, predicate: Callable[[Simulator], bool], timeout: float = 5.0) -> bool:
        """Block until predicate(sim) is true (re-checked whenever a request arrives, usage is
        logged or a stream stalls); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def wait_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Until at least n requests have arrived."""
        return self.wait_for(lambda s: len(s.requests) >= n, timeout)

    def wait_stalled(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Until at least n streams are stalled (or waiting on slow_first_token) right now."""
        return self.wait_for(lambda s: len(s._stall_events) >= n, timeout)

    @property
    def active_connections(self) -> int:
        """Open client connections (each has a handler thread)."""
        srv = self._server
        if srv is None:
            return 0
        with srv._conn_lock:
            return len(srv._conns)

    @property
    def stalled(self) -> int:
        with self._lock:
            return len(self._stall_events)

    def _reply(self, messages: list[dict]) -> str:
        return str(self.reply(messages))

    def _models_for(self, protocol: str) -> list[str]:
        with self._lock:
            return list(self.models.get(protocol, []))

    def _add_model(self, protocol: str, name: str) -> None:
        with self._lock:
            lst = self.models.setdefault(protocol, [])
            if name not in lst:
                lst.append(name)

    def add_model(self, protocol: str, name: str) -> None:
        self._add_model(protocol, ollama_name(name) if protocol == "ollama" else name)

    def remove_model(self, protocol: str, name: str) -> None:
        name = ollama_name(name) if protocol == "ollama" else name
        with self._lock:
            if name in self.models.get(protocol, []):
                self.models[protocol].remove(name)

    def reset(self) -> None:
        """Clear faults, logs and restore default models/keys/reply (for reuse across tests)."""
        with self._lock:
            self.clear_faults()
            self.usage_log.clear()
            self.requests.clear()
            self.fault_log.clear()
            self.models.clear()
            self.models.update({k: list(v) for k, v in DEFAULT_MODELS.items()})
            self.valid_keys = {"sk-test-key"}
            self.reply = default_reply
            self.chunk_delay = 0.0
            self.ollama_registry = None
            self.litellm_model_info = None
            self.served_models = {}
            self.chat_headers = {}
            self.ignore_stream = False
