"""The provider simulator: a real HTTP/1.1 server on 127.0.0.1 speaking the OpenAI,
Anthropic Messages and Ollama wire protocols, with injectable faults.

Token counting (deterministic, so a client's ledger can be compared with `usage_log`):

* input tokens  = sum over the messages sent (Anthropic's top-level `system` counts as one
  message) of (number of whitespace-separated words in the message's text + 3);
* output tokens = number of whitespace-separated words in the reply actually produced
  (after `max_tokens` truncation, which cuts the reply to that many words).

Streams send one content chunk per word (with its trailing whitespace), so a reply of N words
is N chunks; `after_chunks` counts these content chunks.

Usage bookkeeping: one UsageRecord is appended when the server has finished writing the bytes
that carry the usage to the client - OpenAI: the non-stream body, or the final usage chunk of
a stream when `stream_options.include_usage` is true; Anthropic: the non-stream body or the
`message_delta` event (which carries output_tokens; input_tokens came in `message_start`);
Ollama: the non-stream body or the final `done: true` line.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .faults import (
    FAULT_KINDS,
    Fault,
    anthropic_model_not_found,
    error_in_200_body,
    error_response,
    midstream_error_payload,
    ollama_model_not_found,
    openai_bad_key,
    openai_model_not_found,
)

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
]

OPENAI_WIRE = ("openai", "openrouter", "lmstudio")

DEFAULT_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o-mini", "gpt-4o"],
    "anthropic": ["claude-3-5-haiku-latest", "claude-sonnet-4-5"],
    "ollama": ["llama3.2:latest", "qwen2.5-coder:7b"],
    "openrouter": ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "meta-llama/llama-3.1-8b-instruct"],
    "lmstudio": ["qwen2.5-7b-instruct", "llama-3.2-3b-instruct"],
}

#: Protocols that do not check keys (local servers).
NO_AUTH = {"ollama", "lmstudio"}

#: Default random-fault kinds: everything that does not depend on wall-clock time.
RANDOM_KINDS = tuple(k for k in FAULT_KINDS if k not in ("stall", "slow_first_token"))
IN_STREAM_KINDS = ("cut", "stall", "malformed_sse", "midstream_error")


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


# ----------------------------------------------------------------------------- tokens / text


def _text_of(content: Any) -> str:
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
                    parts.append(_text_of(p["content"]))
        return " ".join(parts)
    return str(content)


def count_input_tokens(messages: list[dict]) -> int:
    """Words across all message contents + 3 per message."""
    return sum(len(_text_of(m.get("content")).split()) + 3 for m in messages)


def count_output_tokens(text: str) -> int:
    return len(text.split())


def default_reply(messages: list[dict]) -> str:
    last = ""
    for m in reversed(messages):
        if m.get("role") == "user":
            last = _text_of(m.get("content"))
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


def _truncate(text: str, max_tokens: Any) -> tuple[str, bool]:
    if isinstance(max_tokens, int) and max_tokens >= 0:
        chunks = split_chunks(text)
        if len(chunks) > max_tokens:
            return "".join(chunks[:max_tokens]).rstrip(), True
    return text, False


def _ollama_name(name: str) -> str:
    return name if ":" in name else name + ":latest"


def _ollama_meta(name: str) -> dict:
    h = hashlib.sha256(name.encode()).hexdigest()
    base, _, tag = name.partition(":")
    family = re.sub(r"[\d.\-].*$", "", base) or "llama"
    family = {"qwen": "qwen2", "llama": "llama", "gemma": "gemma2", "mistral": "llama"}.get(family, family)
    m = re.search(r"(\d+(?:\.\d+)?)b", tag or "") or re.search(r"(\d+(?:\.\d+)?)b", base)
    psize = f"{m.group(1)}B" if m else "3.2B"
    size = int(float(psize[:-1]) * 600_000_000) + int(h[:6], 16)
    return {
        "digest": h,
        "size": size,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": psize,
            "quantization_level": "Q4_K_M",
        },
        "context_length": 131072 if family == "llama" else 32768,
    }


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"


class _Abort(Exception):
    """End this request now (client gone, simulator stopping, or connection deliberately cut)."""


# ----------------------------------------------------------------------------- HTTP server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, handler, sim: Simulator):
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._handler_threads: set[threading.Thread] = set()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self._conn_lock:
            self._conns.add(request)
        t = threading.Thread(
            target=self._run, args=(request, client_address), daemon=True, name="simulator-conn"
        )
        with self._conn_lock:
            self._handler_threads.add(t)
        t.start()

    def _run(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.discard(request)
                self._handler_threads.discard(threading.current_thread())
            with self.sim._changed:
                self.sim._changed.notify_all()

    def handle_error(self, request, client_address):  # quiet: clients hang up on purpose
        pass

    def close_all(self, timeout: float = 2.0) -> None:
        with self._conn_lock:
            conns = list(self._conns)
            threads = list(self._handler_threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RouteDeskSimulator/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass

    # ------------------------------------------------------------------ plumbing

    @property
    def sim(self) -> Simulator:
        return self.server.sim

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send_raw_response(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:16])
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self._write(body)

    def _json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        self._send_raw_response(status, json.dumps(obj).encode(), "application/json; charset=utf-8", headers)

    def _write(self, data: bytes) -> None:
        if self.sim._stopping.is_set():
            raise _Abort()
        try:
            self.wfile.write(data)
        except OSError as exc:  # client went away
            raise _Abort() from exc

    def _start_stream(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:16])
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self._write(b"0\r\n\r\n")

    def _cut(self) -> None:
        """Close the connection abruptly: no end marker, no terminating chunk."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Abort()

    def _client_gone(self) -> bool:
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _stall(self, delay: float | None) -> None:
        """Block (on an Event) until released, `delay` passes, the client leaves or stop()."""
        ev = threading.Event()
        with self.sim._lock:
            self.sim._stall_events.add(ev)
            self.sim._changed.notify_all()
        try:
            deadline = None if delay is None else time.monotonic() + delay
            while not ev.is_set() and not self.sim._stopping.is_set():
                slice_ = 0.25
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    slice_ = min(slice_, left)
                if ev.wait(slice_):
                    break
                if self._client_gone():
                    raise _Abort()
        finally:
            with self.sim._lock:
                self.sim._stall_events.discard(ev)
        if self.sim._stopping.is_set():
            raise _Abort()

    def _pause(self, seconds: float) -> None:
        if seconds and seconds > 0:
            if self.sim._stopping.wait(seconds):
                raise _Abort()

    # ------------------------------------------------------------------ dispatch

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            raw = self._read_body()
            path = self.path.split("?", 1)[0]
            protocol = "openai"
            for prefix in ("/openrouter", "/lmstudio"):
                if path.startswith(prefix + "/"):
                    protocol = prefix[1:]
                    path = path[len(prefix):]
                    break
            else:
                if path.startswith("/api/") or path in ("/", ""):
                    protocol = "ollama"
                elif path.startswith("/v1/messages") or (
                    path.startswith("/v1/models") and ("x-api-key" in self.headers or "anthropic-version" in self.headers)
                ):
                    protocol = "anthropic"
            body: Any = None
            bad_json = False
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    bad_json = True
            self.sim._record(
                RequestRecord(self.command, self.path, body, {k.lower(): v for k, v in self.headers.items()}, protocol)
            )
            if bad_json:
                return self._bad_request(protocol, "invalid JSON body")
            if protocol in OPENAI_WIRE:
                self._openai(protocol, path, body)
            elif protocol == "anthropic":
                self._anthropic(path, body)
            else:
                self._ollama(path, body)
        except _Abort:
            self.close_connection = True
        except (ConnectionError, OSError):
            self.close_connection = True
        except Exception as exc:  # a bug in a test's reply callable, or in the simulator
            import traceback

            traceback.print_exc()
            self.close_connection = True
            try:
                self._json(500, {"error": {"message": f"simulator error: {exc!r}", "type": "simulator_error"}})
            except Exception:
                pass

    def _bad_request(self, protocol: str, message: str, status: int = 400) -> None:
        if protocol == "anthropic":
            self._json(status, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        elif protocol == "ollama":
            self._json(status, {"error": message})
        else:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})

    def _not_found_path(self, protocol: str) -> None:
        if protocol == "ollama":
            self._send_raw_response(404, b"404 page not found", "text/plain")
        elif protocol == "anthropic":
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}})
        else:
            self._json(404, {"error": {"message": f"Invalid URL ({self.command} {self.path})",
                                       "type": "invalid_request_error", "param": None, "code": None}})

    # ------------------------------------------------------------------ faults

    def _take_fault(self, protocol: str, model: str, endpoint: str) -> Fault | None:
        f = self.sim._take_fault(protocol, model, endpoint, self.path)
        return f

    def _send_http_fault(self, f: Fault, protocol: str, model: str, key: str | None,
                         streamable: bool = True) -> bool:
        """Handle faults that replace the whole response. Returns True if handled.

        On endpoints that are not chat (model listings, show, pull) the in-stream kinds act
        before any byte: cut closes the connection, stall/slow_first_token wait, then answer,
        malformed_sse sends unreadable JSON, midstream_error an error body with status 200.
        """
        style = "openrouter" if f.protocol == "openrouter" and protocol in OPENAI_WIRE else protocol
        if not streamable:
            if f.kind == "slow_first_token":
                self._stall(f.delay if f.delay is not None else 1.0)
                return False
            if f.kind == "malformed_sse":
                self._send_raw_response(200, b'{"data": [{"id": <<garbage', "application/json; charset=utf-8")
                return True
            if f.kind == "midstream_error":
                f = Fault("error_in_200", protocol=f.protocol)
            if f.kind in ("cut", "stall"):
                f = Fault(f.kind, delay=f.delay)
        if f.kind in ("slow_first_token", "midstream_error", "malformed_sse") or (
            f.kind in ("cut", "stall") and f.after_chunks is not None
        ):
            return False
        if f.kind == "cut":
            self._cut()
        if f.kind == "stall":
            self._stall(f.delay)
            return False  # then answer normally (released / delay over)
        if f.kind == "error_in_200":
            self._send_raw_response(200, error_in_200_body(style), "application/json; charset=utf-8")
            return True
        e = error_response(f.kind, style, model=model, key=key, status=f.status, retry_after=f.retry_after)
        self._send_raw_response(e.status, e.body, e.content_type, e.headers)
        return True

    # ------------------------------------------------------------------ generic streaming engine

    def _run_stream(self, f: Fault | None, preamble: list[bytes], chunks: list[bytes],
                    epilogue: list[tuple[bytes, Callable[[], None] | None]],
                    malformed: bytes, midstream: bytes, ctype: str) -> None:
        """Write a stream (already framed pieces) applying an in-stream fault.

        epilogue: (bytes, after_write_callback) - the callback records usage once written.
        """
        self._start_stream(ctype)
        for p in preamble:
            self._chunk(p)
        n_fault = None
        if f is not None and f.kind in IN_STREAM_KINDS:
            n_fault = min(f.after_chunks or 0, len(chunks))
        delay = self.sim.chunk_delay
        for i, c in enumerate(chunks):
            if n_fault is not None and i == n_fault:
                break
            if i == 0 and f is not None and f.kind == "slow_first_token":
                self._stall(f.delay if f.delay is not None else 1.0)
            elif i > 0 and delay:
                self._pause(delay)
            self._chunk(c)
        if f is not None and f.kind == "slow_first_token" and not chunks:
            self._stall(f.delay if f.delay is not None else 1.0)
        if n_fault is not None:
            if f.kind == "cut":
                self._cut()
            elif f.kind == "stall":
                self._stall(f.delay)
                for c in chunks[n_fault:]:
                    if delay:
                        self._pause(delay)
                    self._chunk(c)
            elif f.kind == "malformed_sse":
                self._chunk(malformed)
                self._end_stream()
                return
            elif f.kind == "midstream_error":
                self._chunk(midstream)
                self._end_stream()
                return
        if delay and chunks:
            self._pause(delay)
        for data, cb in epilogue:
            self._sent_then_logged(lambda data=data: self._chunk(data), cb)
        self._end_stream()

    def _nonstream_body(self, f: Fault | None, body: bytes, on_sent: Callable[[], None], protocol: str) -> None:
        """Non-stream answer with in-stream kinds mapped to their non-stream equivalent."""
        if f is not None:
            if f.kind == "slow_first_token":
                self._stall(f.delay if f.delay is not None else 1.0)
            elif f.kind == "stall":
                self._stall(f.delay)
            elif f.kind == "cut":
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self._write(body[: len(body) // 2])
                self._cut()
            elif f.kind == "malformed_sse":
                return self._send_raw_response(200, body[: len(body) // 2] + b"\x00<garbage>", "application/json; charset=utf-8")
            elif f.kind == "midstream_error":
                return self._send_raw_response(200, error_in_200_body(protocol), "application/json; charset=utf-8")
        self._sent_then_logged(lambda: self._send_raw_response(200, body, "application/json; charset=utf-8"), on_sent)

    def _sent_then_logged(self, write: Callable[[], None], log: Callable[[], object] | None) -> None:
        """Usage counts as sent once its bytes are written. It is logged just before the
        write (and taken back if the write fails), so a client that has read the bytes
        always finds the record: logging after the write raced the client's next look."""
        rec = log() if log is not None else None
        try:
            write()
        except BaseException:
            if rec is not None:
                self.sim._unlog_usage(rec)
            raise

    # ------------------------------------------------------------------ OpenAI

    def _openai(self, protocol: str, path: str, body: Any) -> None:
        auth = self.headers.get("Authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        endpoint = "chat" if path == "/v1/chat/completions" else "models" if path.startswith("/v1/models") else "other"
        if endpoint == "other":
            return self._not_found_path(protocol)
        if protocol not in NO_AUTH and key not in self.sim.valid_keys:
            if protocol == "openrouter":
                return self._json(401, {"error": {"message": "No auth credentials found" if not key else "User not found.", "code": 401}})
            return self._json(401, openai_bad_key(key))
        model = (body or {}).get("model", "") if isinstance(body, dict) else ""
        f = self._take_fault(protocol, model, endpoint)
        if f is not None and self._send_http_fault(f, protocol, model, key, endpoint == "chat"):
            return
        if endpoint == "models":
            if self.command != "GET":
                return self._not_found_path(protocol)
            now = 1_700_000_000
            data = []
            for m in self.sim._models_for(protocol):
                item = {"id": m, "object": "model", "created": now, "owned_by": "system"}
                if protocol == "openrouter":
                    item.update({"name": m, "context_length": 128000,
                                 "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}})
                data.append(item)
            return self._json(200, {"object": "list", "data": data})
        if self.command != "POST":
            return self._not_found_path(protocol)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._bad_request(protocol, "Missing required parameter: 'messages'.")
        if model not in self.sim._models_for(protocol):
            if protocol == "openrouter":
                return self._json(404, {"error": {"message": f"No endpoints found for {model}.", "code": 404}})
            return self._json(404, openai_model_not_found(model))
        if protocol == "openai" and body.get("stream_options") is not None and not body.get("stream"):
            return self._json(400, {"error": {
                "message": "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "type": "invalid_request_error", "param": "stream_options", "code": None}})
        messages = [{"role": m.get("role", "user"), "content": _text_of(m.get("content"))}
                    for m in body["messages"] if isinstance(m, dict)]
        text, truncated = _truncate(self.sim._reply(messages), body.get("max_completion_tokens", body.get("max_tokens")))
        finish = "length" if truncated else "stop"
        inp, out = count_input_tokens(messages), count_output_tokens(text)
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        log = lambda: self.sim._log_usage(UsageRecord(protocol, model, inp, out))  # noqa: E731
        if not body.get("stream"):
            obj = {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": finish}],
                "usage": usage, "system_fingerprint": "fp_simulator",
            }
            return self._nonstream_body(f, json.dumps(obj).encode(), log, protocol)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish_reason=None, choices=True, usage_=None) -> bytes:
            obj: dict = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                         "system_fingerprint": "fp_simulator",
                         "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}] if choices else []}
            if include_usage:
                obj["usage"] = usage_
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        preamble = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks = [chunk({"content": c}) for c in split_chunks(text)]
        epilogue: list = [(chunk({}, finish), None)]
        if include_usage:
            epilogue.append((chunk({}, choices=False, usage_=usage), log))
        epilogue.append((b"data: [DONE]\n\n", None))
        malformed = b'data: {"id": "' + cid.encode() + b'", "choices": [{"delta": {"content": "<<garbage\n\n'
        midstream = b"data: " + json.dumps(midstream_error_payload("openrouter" if protocol == "openrouter" else "openai")).encode() + b"\n\n"
        self._run_stream(f, preamble, chunks, epilogue, malformed, midstream, "text/event-stream; charset=utf-8")

    # ------------------------------------------------------------------ Anthropic

    def _anthropic(self, path: str, body: Any) -> None:
        protocol = "anthropic"
        endpoint = "chat" if path == "/v1/messages" else "models" if path.startswith("/v1/models") else "other"
        if endpoint == "other":
            return self._not_found_path(protocol)
        key = self.headers.get("x-api-key")
        if key is None and self.headers.get("Authorization", "").lower().startswith("bearer "):
            key = self.headers["Authorization"][7:].strip()
        if not key:
            return self._json(401, {"type": "error", "error": {"type": "authentication_error", "message": "x-api-key header is required"}})
        if key not in self.sim.valid_keys:
            return self._json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        if not self.headers.get("anthropic-version"):
            return self._bad_request(protocol, "anthropic-version: header is required")
        model = (body or {}).get("model", "") if isinstance(body, dict) else ""
        f = self._take_fault(protocol, model, endpoint)
        if f is not None and self._send_http_fault(f, protocol, model, key, endpoint == "chat"):
            return
        if endpoint == "models":
            if self.command != "GET":
                return self._not_found_path(protocol)
            models = self.sim._models_for(protocol)
            data = [{"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
                     "created_at": "2025-02-19T00:00:00Z"} for m in models]
            return self._json(200, {"data": data, "has_more": False,
                                    "first_id": models[0] if models else None,
                                    "last_id": models[-1] if models else None})
        if self.command != "POST":
            return self._not_found_path(protocol)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._bad_request(protocol, "messages: Field required")
        if "max_tokens" not in body:
            return self._bad_request(protocol, "max_tokens: Field required")
        if model not in self.sim._models_for(protocol):
            return self._json(404, anthropic_model_not_found(model))
        messages = []
        if body.get("system"):
            messages.append({"role": "system", "content": _text_of(body["system"])})
        messages += [{"role": m.get("role", "user"), "content": _text_of(m.get("content"))}
                     for m in body["messages"] if isinstance(m, dict)]
        text, truncated = _truncate(self.sim._reply(messages), body.get("max_tokens"))
        stop_reason = "max_tokens" if truncated else "end_turn"
        inp, out = count_input_tokens(messages), count_output_tokens(text)
        mid = "msg_" + uuid.uuid4().hex[:24]
        log = lambda: self.sim._log_usage(UsageRecord(protocol, model, inp, out))  # noqa: E731
        if not body.get("stream"):
            obj = {"id": mid, "type": "message", "role": "assistant", "model": model,
                   "content": [{"type": "text", "text": text}], "stop_reason": stop_reason,
                   "stop_sequence": None, "usage": {"input_tokens": inp, "output_tokens": out}}
            return self._nonstream_body(f, json.dumps(obj).encode(), log, protocol)

        def ev(name: str, data: dict) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"

        preamble = [
            ev("message_start", {"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": 1}}}),
            ev("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
            ev("ping", {"type": "ping"}),
        ]
        chunks = [ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": c}})
                  for c in split_chunks(text)]
        epilogue = [
            (ev("content_block_stop", {"type": "content_block_stop", "index": 0}), None),
            (ev("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                  "usage": {"output_tokens": out}}), log),
            (ev("message_stop", {"type": "message_stop"}), None),
        ]
        malformed = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"te<<garbage\n\n'
        midstream = ev("error", midstream_error_payload("anthropic"))
        self._run_stream(f, preamble, chunks, epilogue, malformed, midstream, "text/event-stream; charset=utf-8")

    # ------------------------------------------------------------------ Ollama

    def _ollama(self, path: str, body: Any) -> None:
        protocol = "ollama"
        body = body if isinstance(body, dict) else {}
        if path in ("/", ""):
            return self._send_raw_response(200, b"Ollama is running", "text/plain; charset=utf-8")
        endpoint = {"/api/chat": "chat", "/api/generate": "chat", "/api/tags": "models", "/api/show": "models",
                    "/api/version": "models", "/api/ps": "models", "/api/pull": "pull",
                    "/api/delete": "models"}.get(path)
        if endpoint is None:
            return self._not_found_path(protocol)
        raw_model = body.get("model") or body.get("name") or ""
        model = _ollama_name(raw_model) if raw_model else ""
        f = self._take_fault(protocol, model, endpoint)
        if f is not None and self._send_http_fault(f, protocol, raw_model, None, endpoint == "chat"):
            return
        if path == "/api/version":
            return self._json(200, {"version": self.sim.ollama_version})
        if path == "/api/tags":
            models = []
            for name in self.sim._models_for(protocol):
                meta = _ollama_meta(name)
                models.append({"name": name, "model": name, "modified_at": "2025-01-01T12:00:00.000000Z",
                               "size": meta["size"], "digest": meta["digest"], "details": meta["details"]})
            return self._json(200, {"models": models})
        if path == "/api/ps":
            return self._json(200, {"models": []})
        if path == "/api/show":
            if model not in self.sim._models_for(protocol):
                return self._json(404, {"error": f"model '{raw_model}' not found"})
            meta = _ollama_meta(model)
            fam = meta["details"]["family"]
            return self._json(200, {
                "license": "simulated license", "modelfile": f"FROM {model}\n",
                "parameters": "stop \"<|eot_id|>\"", "template": "{{ .Prompt }}",
                "details": meta["details"],
                "model_info": {"general.architecture": fam, "general.parameter_count": meta["size"],
                               f"{fam}.context_length": meta["context_length"],
                               f"{fam}.embedding_length": 3072},
                "capabilities": ["completion"], "modified_at": "2025-01-01T12:00:00.000000Z",
            })
        if path == "/api/delete":
            if self.command != "DELETE":
                return self._not_found_path(protocol)
            with self.sim._lock:
                lst = self.sim.models.setdefault("ollama", [])
                if model not in lst:
                    found = False
                else:
                    lst.remove(model)
                    found = True
            if not found:
                return self._json(404, {"error": f"model '{raw_model}' not found"})
            return self._send_raw_response(200, b"", "application/json; charset=utf-8")
        if path == "/api/pull":
            return self._ollama_pull(model, body)
        # chat / generate
        if model not in self.sim._models_for(protocol):
            return self._json(404, ollama_model_not_found(raw_model))
        if path == "/api/generate":
            messages = []
            if body.get("system"):
                messages.append({"role": "system", "content": _text_of(body["system"])})
            messages.append({"role": "user", "content": _text_of(body.get("prompt"))})
        else:
            messages = [{"role": m.get("role", "user"), "content": _text_of(m.get("content"))}
                        for m in body.get("messages") or [] if isinstance(m, dict)]
        opts = body.get("options") or {}
        text, truncated = _truncate(self.sim._reply(messages), opts.get("num_predict"))
        inp, out = count_input_tokens(messages), count_output_tokens(text)
        log = lambda: self.sim._log_usage(UsageRecord(protocol, raw_model, inp, out))  # noqa: E731
        is_chat = path == "/api/chat"

        def line(content: str, done: bool) -> dict:
            obj: dict = {"model": raw_model, "created_at": _iso_now()}
            if is_chat:
                obj["message"] = {"role": "assistant", "content": content}
            else:
                obj["response"] = content
            obj["done"] = done
            if done:
                obj.update({"done_reason": "length" if truncated else "stop",
                            "total_duration": 1_000_000 * (inp + out), "load_duration": 1_000_000,
                            "prompt_eval_count": inp, "prompt_eval_duration": 500_000 * inp,
                            "eval_count": out, "eval_duration": 1_000_000 * out})
            return obj

        if body.get("stream") is False:
            return self._nonstream_body(f, json.dumps(line(text, True)).encode(), log, protocol)
        nd = lambda o: json.dumps(o).encode() + b"\n"  # noqa: E731
        chunks = [nd(line(c, False)) for c in split_chunks(text)]
        epilogue = [(nd(line("", True)), log)]
        malformed = b'{"model": "' + raw_model.encode() + b'", "message": {"content": "<<garbage\n'
        midstream = nd(midstream_error_payload("ollama"))
        self._run_stream(f, [], chunks, epilogue, malformed, midstream, "application/x-ndjson")

    def _ollama_pull(self, model: str, body: dict) -> None:
        registry = self.sim.ollama_registry
        nd = lambda o: json.dumps(o).encode() + b"\n"  # noqa: E731
        stream = body.get("stream") is not False
        if registry is not None and model not in {_ollama_name(r) for r in registry}:
            err = {"error": "pull model manifest: file does not exist"}
            if not stream:
                return self._json(500, err)
            self._start_stream("application/x-ndjson")
            self._chunk(nd({"status": "pulling manifest"}))
            self._chunk(nd(err))
            return self._end_stream()
        meta = _ollama_meta(model)
        digest = "sha256:" + meta["digest"]
        total = meta["size"]
        steps = self.sim.pull_steps
        lines = [{"status": "pulling manifest"}]
        for i in range(steps + 1):
            lines.append({"status": f"pulling {meta['digest'][:12]}", "digest": digest,
                          "total": total, "completed": total * i // steps})
        lines += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}]
        if not stream:
            self._pause(self.sim.chunk_delay * len(lines))
            self.sim._add_model("ollama", model)
            return self._json(200, {"status": "success"})
        self._start_stream("application/x-ndjson")
        for i, obj in enumerate(lines):
            if i and self.sim.chunk_delay:
                self._pause(self.sim.chunk_delay)
            self._chunk(nd(obj))
        self.sim._add_model("ollama", model)
        self._chunk(nd({"status": "success"}))
        self._end_stream()


# ----------------------------------------------------------------------------- public API


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
        #: progress lines with "completed" a pull sends (plus manifest/verify/write/success lines).
        self.pull_steps = 4
        self.usage_log: list[UsageRecord] = []
        self.requests: list[RequestRecord] = []
        self.fault_log: list[FaultRecord] = []
        self._faults: list[Fault] = []
        self._random: tuple[random.Random, float, tuple[str, ...], dict] | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stall_events: set[threading.Event] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
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
        try:
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        except OSError:
            pass
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
                    protocol == "ollama" and _ollama_name(f.model) == model):
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
        self._add_model(protocol, _ollama_name(name) if protocol == "ollama" else name)

    def remove_model(self, protocol: str, name: str) -> None:
        name = _ollama_name(name) if protocol == "ollama" else name
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
