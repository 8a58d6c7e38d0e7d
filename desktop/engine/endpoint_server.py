"""The local endpoint's HTTP server: aiohttp on the app's running asyncio loop (no
thread), so the window (qasync) and ``routedesk serve`` run it the same way.

Every chat request goes through ``Engine.run_detached``: the same routing, retries,
fallbacks, cooldowns, health and billing as a message typed in the window. A stream's
status line waits for the first token, so a request that fails before any text gets the
status its failure deserves (429, 504, ...) instead of a 200 with an error inside. A
client that leaves mid-answer cancels the run; the engine stops the upstream call and
books what was used. Tokens are checked on every request (``ClientService.authenticate``),
so a revoked one fails at once. Nothing here logs a header, a token or a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.fixes import Fix
from desktop.engine.endpoint_api import (
    ROUTED_MODELS,
    BadRequest,
    ChatRequest,
    chunk,
    completion,
    failure,
    finish_reason,
    new_id,
    parse_chat_request,
    routedesk_dict,
    usage_dict,
)
from desktop.engine.endpoint_recorder import HISTORY_SETTING, EndpointRecorder
from desktop.engine.events import AnswerDelta, AnswerResult, AnswerStarted, AttemptStarted

if TYPE_CHECKING:
    from desktop.engine.app import Engine
    from desktop.storage import ClientRecord

__all__ = ["EndpointServer", "RequestLog", "MAX_BODY_BYTES"]

#: Largest request body read (a long conversation with code fits many times over).
MAX_BODY_BYTES = 4 * 1024 * 1024
_MODELS_FRESH_S = 30.0
_CLIENT = "routedesk.client"
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


@dataclass(frozen=True)
class RequestLog:
    """One line for ``routedesk serve`` to print: never a header or a token."""

    client: str | None
    method: str
    path: str
    status: int
    model: str | None = None
    cost_usd: Decimal | None = None
    route: str | None = None


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json",
                        headers=headers)


def _bad(err: BadRequest) -> web.Response:
    return _json(err.status, err.body())


def _sse(obj: dict | str) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def _cost_header(result: AnswerResult) -> str:
    return "unknown" if result.cost_usd is None else str(result.cost_usd)


class _EventStream(web.StreamResponse):
    """A stream whose status line and headers leave with its first bytes (one send, not
    two: the tool sees the first token one wake-up sooner). aiohttp's own ``Response``
    buffers its headers the same way."""

    _send_headers_immediately = False


class EndpointServer:
    def __init__(self, engine: Engine, host: str, port: int, *, max_body: int = MAX_BODY_BYTES,
                 max_concurrent: int = 64, on_request: Callable[[RequestLog], None] | None = None,
                 word_fix: Callable[[Fix], str] | None = None) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.max_body = max_body
        self._on_request = on_request
        self._word_fix = word_fix  # how the surface that started the server words a fix
        self._slots = asyncio.Semaphore(max_concurrent)
        self._runner: web.AppRunner | None = None
        self._models: tuple[float, list[dict]] | None = None
        #: Engine runs in flight (what a test or the window can wait on; bounded by the slots).
        self.active: set[asyncio.Task[AnswerResult]] = set()

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_body, middlewares=[self._guard])
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_post("/v1/chat/completions", self._chat)
        # handler_cancellation: a client that disconnects cancels its handler (and the run).
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"RouteDesk's endpoint can't listen on {self.host}:{self.port} ({exc.strerror or exc}).",
                "Another program (or another RouteDesk) may be using the port: pick another with `--port`.",
            ) from None
        self._runner = runner
        for addr in runner.addresses:
            if isinstance(addr, tuple) and len(addr) >= 2:
                self.port = int(addr[1])
                break

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for task in list(self.active):
            task.cancel()
        if self.active:
            await asyncio.wait(list(self.active))

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    # --- the guard: every response in OpenAI's shape, every request authenticated ------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        client = None
        try:
            if not request.path.startswith("/v1/"):
                raise BadRequest(f"Nothing is at {request.path}; RouteDesk's endpoint lives under /v1.",
                                 code="not_found", status=404)
            auth = request.headers.get("Authorization", "")
            scheme, _, token = auth.partition(" ")
            client = self.engine.clients.authenticate(token.strip() if scheme.lower() == "bearer" else None)
            if client is None:
                raise BadRequest(
                    "This client token is not valid (missing, mistyped or revoked). Create one with "
                    "`routedesk clients add NAME` and send it as `Authorization: Bearer TOKEN`.",
                    code="invalid_api_key", status=401)
            request[_CLIENT] = client
            response: web.StreamResponse = await handler(request)
        except BadRequest as err:
            response = _bad(err)
        except web.HTTPException as exc:  # aiohttp's own: wrong method, unknown route, ...
            code = _HTTP_CODES.get(exc.status, "bad_request")
            response = _bad(BadRequest(exc.reason or "Bad request.", code=code, status=exc.status))
        if client is not None:  # after a stream's last byte, not before its first
            self.engine.clients.touch(client)
        if self._on_request is not None:
            info = response.get("routedesk") or {}
            self._on_request(RequestLog(None if client is None else client.name, request.method, request.path,
                                        response.status, **info))
        return response

    # --- GET /v1/models ---------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        if self._models is None or now - self._models[0] > _MODELS_FRESH_S:
            from desktop.engine.catalog import list_models

            rows, _problems = await list_models(self.engine, timeout=5.0)
            self._models = (now, rows)
        rows = self._models[1]
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "routedesk"} for m in ROUTED_MODELS]
        data += [{"id": r["model"], "object": "model", "created": 0, "owned_by": r["provider"]} for r in rows]
        return _json(200, {"object": "list", "data": data})

    # --- POST /v1/chat/completions ------------------------------------------------------

    async def _read(self, request: web.Request) -> ChatRequest:
        if request.content_length is not None and request.content_length > self.max_body:
            raise BadRequest(f"The request is larger than {self.max_body // (1024 * 1024)} MB.",
                             code="request_too_large")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest(f"The request is larger than {self.max_body // (1024 * 1024)} MB.",
                             code="request_too_large") from None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"The request body is not valid JSON ({exc}).", code="invalid_json") from None
        return parse_chat_request(body)

    def _check_model(self, req: ChatRequest) -> None:
        if isinstance(req.mode, str):
            return
        try:
            self.engine.provider_settings(req.mode.provider)
        except RouteDeskError:
            raise BadRequest(f"The model {req.model!r} does not exist here: RouteDesk has no provider called "
                             f"{req.mode.provider!r}. GET /v1/models lists the models.", code="model_not_found",
                             param="model", status=404) from None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        client: ClientRecord = request[_CLIENT]  # type: ignore[assignment]
        req = await self._read(request)
        self._check_model(req)
        refusal = self.engine.clients.over_budget(client)
        if refusal is not None:
            status, body = failure(refusal.info(), word_fix=self._word_fix)
            return _json(status, body)
        async with self._slots:
            history = bool(self.engine.store.get_setting(HISTORY_SETTING, False))
            recorder = EndpointRecorder(self.engine.store, client, req.messages, history=history)
            return await self._answer(request, req, recorder)

    async def _answer(self, request: web.Request, req: ChatRequest, recorder: EndpointRecorder) -> web.StreamResponse:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        task = asyncio.ensure_future(self.engine.run_detached(
            req.messages, recorder, mode=req.mode, on_event=queue.put_nowait, max_tokens=req.max_tokens))
        self.active.add(task)

        def finished(t: asyncio.Future[AnswerResult]) -> None:
            self.active.discard(t)  # type: ignore[arg-type]
            queue.put_nowait(done)

        task.add_done_callback(finished)
        rid, created = new_id(), int(time.time())
        route: str | None = None
        model: str | None = None
        resp: web.StreamResponse | None = None
        pending = bytearray()  # text that came while the last write went out: one write, not one per delta
        try:
            while True:
                if pending and queue.empty():
                    assert resp is not None
                    await resp.write(bytes(pending))
                    pending.clear()
                ev = await queue.get()
                if ev is done:
                    break
                if isinstance(ev, AnswerStarted):
                    route = ev.route.choice
                elif isinstance(ev, AttemptStarted):
                    model = str(ev.model)
                elif isinstance(ev, AnswerDelta) and req.stream:
                    data = _sse(chunk(rid, model or "", created, delta={"content": ev.text}))
                    if resp is None:  # the status line, the role and the first text in one write
                        resp = await self._open_stream(request, route, model)
                        data = _sse(chunk(rid, model or "", created, delta={"role": "assistant", "content": ""})) + data
                        await resp.write(data)
                    else:
                        pending += data
            if pending:
                assert resp is not None
                await resp.write(bytes(pending))
            result = task.result()
            if not req.stream or (resp is None and finish_reason(result) is None):
                return self._whole(result, rid)
            if resp is None:  # complete with no text at all
                resp = await self._open_stream(request, route, str(result.model))
            await self._close_stream(resp, req, result, rid, created)
            return resp
        except ConnectionError:  # the client left between two writes: stop the run, book what was used
            if resp is None:
                raise
            return resp
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _open_stream(self, request: web.Request, route: str | None, model: str | None) -> web.StreamResponse:
        resp = _EventStream(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "x-routedesk-route": route or "", "x-routedesk-model": model or ""})
        await resp.prepare(request)
        return resp

    async def _close_stream(self, resp: web.StreamResponse, req: ChatRequest, result: AnswerResult, rid: str,
                            created: int) -> None:
        model = str(result.model)
        extra = routedesk_dict(result)
        finish = finish_reason(result)
        if finish is not None:
            await resp.write(_sse(chunk(rid, model, created, delta={}, finish=finish, extra=extra)))
            if req.include_usage:
                await resp.write(_sse(chunk(rid, model, created, usage=usage_dict(result), extra=extra)))
        else:  # broke after some text: OpenAI's mid-stream error event (its clients raise it)
            info = result.error or ErrorInfo(ErrorKind.INTERRUPTED.value, "The answer stopped early.", "Try again.")
            _status, body = failure(info, extra["attempts"], word_fix=self._word_fix)
            await resp.write(_sse(body))
        await resp.write(_sse("[DONE]"))
        await resp.write_eof()
        resp["routedesk"] = {"model": model, "cost_usd": result.cost_usd, "route": result.route.choice}

    def _whole(self, result: AnswerResult, rid: str) -> web.Response:
        headers: dict[str, str] = {"x-routedesk-route": str(result.route.choice)}
        if finish_reason(result) is not None:
            headers["x-routedesk-cost-usd"] = _cost_header(result)
            resp = _json(200, completion(result, rid), headers)
        else:
            info = result.error or ErrorInfo(ErrorKind.BAD_RESPONSE.value, "No answer came back.", "Try again.")
            if result.cost_usd is not None:
                headers["x-routedesk-cost-usd"] = _cost_header(result)
            status, body = failure(info, [a.to_dict() for a in result.attempts], word_fix=self._word_fix)
            resp = _json(status, body, headers)
        resp["routedesk"] = {"model": None if result.model is None else str(result.model),
                             "cost_usd": result.cost_usd, "route": result.route.choice}
        return resp
