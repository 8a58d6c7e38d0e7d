"""The simulator's HTTP/1.1 plumbing: a threaded server that tracks its connections, and the
request handler's common part - reading bodies, writing (chunked) responses, stalls and
cuts, routing a request to its wire protocol, HTTP faults, and the streaming engine that
applies in-stream faults. The protocols themselves are mixins: openai_wire, anthropic_wire,
ollama_wire."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .faults import ENDING_KINDS, Fault, error_in_200_body, error_response
from .records import RequestRecord

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["Abort", "SimulatorHTTPServer", "HandlerBase", "OPENAI_WIRE", "NO_AUTH", "IN_STREAM_KINDS"]

#: URL protocols that speak OpenAI's wire format.
OPENAI_WIRE = ("openai", "openrouter", "lmstudio")

#: Protocols that do not check keys (local servers).
NO_AUTH = {"ollama", "lmstudio"}

#: Fault kinds that act inside a stream (after `after_chunks` content chunks).
IN_STREAM_KINDS = ("cut", "stall", "malformed_sse", "midstream_error")


class Abort(Exception):
    """End this request now (client gone, simulator stopping, or connection deliberately cut)."""


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, handler, sim: Simulator):
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._handler_threads: set[threading.Thread] = set()
        #: TCP connections accepted so far (a client that reuses its connection adds none).
        self.accepted = 0
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._conn_lock:
            self._conns.add(request)
            self.accepted += 1
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
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class HandlerBase(BaseHTTPRequestHandler):
    """What every protocol's handler shares; the protocols come from the wire mixins."""

    protocol_version = "HTTP/1.1"
    server_version = "RouteDeskSimulator/1.0"
    sys_version = ""
    server: SimulatorHTTPServer

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
            raise Abort()
        try:
            self.wfile.write(data)
        except OSError as exc:  # client went away
            raise Abort() from exc

    def _start_stream(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:16])
        for k, v in self.sim.chat_headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self._write(b"0\r\n\r\n")

    def _cut(self) -> None:
        """Close the connection abruptly: no end marker, no terminating chunk."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise Abort()

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
                    raise Abort()
        finally:
            with self.sim._lock:
                self.sim._stall_events.discard(ev)
        if self.sim._stopping.is_set():
            raise Abort()

    def _pause(self, seconds: float) -> None:
        if seconds and seconds > 0 and self.sim._stopping.wait(seconds):
            raise Abort()

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
                    path.startswith("/v1/models")
                    and ("x-api-key" in self.headers or "anthropic-version" in self.headers)
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
        except Abort:
            self.close_connection = True
        except (ConnectionError, OSError):
            self.close_connection = True
        except Exception as exc:  # a bug in a test's reply callable, or in the simulator
            traceback.print_exc()
            self.close_connection = True
            with contextlib.suppress(Exception):
                self._json(500, {"error": {"message": f"simulator error: {exc!r}", "type": "simulator_error"}})

    def _bad_request(self, protocol: str, message: str, status: int = 400) -> None:
        if protocol == "anthropic":
            self._json(status, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        elif protocol == "ollama":
            self._json(status, {"error": message})
        else:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error",
                                          "param": None, "code": None}})

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
        if f.kind in ENDING_KINDS or f.kind == "keepalive":
            return False  # the wire shapes the reply (its end reason) or the stream (comments)
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
        if f is not None and f.kind == "keepalive":
            n = min(f.after_chunks or 0, len(chunks))
            for c in chunks[:n]:
                self._chunk(c)
            # OpenRouter's keep-alive comment (https://openrouter.ai/docs/api/reference/streaming,
            # "Additional Information"): sent while the upstream is still working.
            until = time.monotonic() + (f.delay if f.delay is not None else 1.0)
            while time.monotonic() < until:
                self._chunk(b": OPENROUTER PROCESSING\n\n")
                self._pause(0.05)
            chunks, f = chunks[n:], None
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
                return self._send_raw_response(200, body[: len(body) // 2] + b"\x00<garbage>",
                                               "application/json; charset=utf-8")
            elif f.kind == "midstream_error":
                return self._send_raw_response(200, error_in_200_body(protocol), "application/json; charset=utf-8")
        self._sent_then_logged(lambda: self._send_raw_response(200, body, "application/json; charset=utf-8",
                                                               dict(self.sim.chat_headers)), on_sent)

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
