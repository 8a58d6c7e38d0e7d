"""A tiny OpenAI-wire chat server for ``routedesk --self-test`` (standard library only).

It answers ``GET /v1/models`` and ``POST /v1/chat/completions`` (streamed as
server-sent events with a final usage chunk and ``[DONE]``, or as one JSON body when
``stream`` is false) on 127.0.0.1 with a port the OS picks. The reply names the model
that answered, so the self-test can see where its message was routed. It is not the
test suite's provider simulator (tests/ is never shipped); it exists so the frozen app
can prove one real routed message end to end without a network or an API key.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["SelfTestServer", "reply_for"]


def reply_for(model: str) -> str:
    """The text the server streams back for ``model``."""
    return f"Hello from {model}. RouteDesk self-test reply."


class _Handler(BaseHTTPRequestHandler):
    server_version = "RouteDeskSelfTest/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
        pass

    def _send_json(self, status: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            models = [{"id": m, "object": "model", "owned_by": "selftest"} for m in self.server.models]  # type: ignore[attr-defined]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        model = str(req.get("model") or "")
        if model not in self.server.models:  # type: ignore[attr-defined]
            self._send_json(404, {"error": {"message": f"The model `{model}` does not exist",
                                            "type": "invalid_request_error", "code": "model_not_found"}})
            return
        self.server.requests.append(req)  # type: ignore[attr-defined]
        text = reply_for(model)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in req.get("messages") or [])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                 "total_tokens": prompt_tokens + len(text.split())}
        created = int(time.time())
        if not req.get("stream"):
            self._send_json(200, {
                "id": "chatcmpl-selftest", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            })
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict, finish: str | None = None, with_usage: bool = False) -> bytes:
            obj = {"id": "chatcmpl-selftest", "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if with_usage:
                obj["choices"] = []
                obj["usage"] = usage
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        words = text.split(" ")
        self.wfile.write(chunk({"role": "assistant", "content": ""}))
        for i, word in enumerate(words):
            self.wfile.write(chunk({"content": word if i == 0 else " " + word}))
        self.wfile.write(chunk({}, finish="stop"))
        if (req.get("stream_options") or {}).get("include_usage"):
            self.wfile.write(chunk({}, with_usage=True))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class SelfTestServer:
    """``with SelfTestServer(["strong-model", "weak-model"]) as srv: srv.base_url``."""

    def __init__(self, models: list[str]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.models = list(models)  # type: ignore[attr-defined]
        self._httpd.requests = []  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="selftest-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict]:
        return self._httpd.requests  # type: ignore[attr-defined]

    def start(self) -> SelfTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SelfTestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
