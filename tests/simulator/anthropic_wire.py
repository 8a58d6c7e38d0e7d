"""Anthropic's Messages API (/v1/messages, streamed as named SSE events) and model listing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from .faults import ENDING_KINDS, anthropic_model_not_found, midstream_error_payload
from .http_plumbing import HandlerBase
from .records import UsageRecord
from .tokens import count_input_tokens, count_output_tokens, split_chunks, text_of, truncate

__all__ = ["AnthropicWire"]


class AnthropicWire(HandlerBase):
    def _anthropic(self, path: str, body: Any) -> None:
        protocol = "anthropic"
        endpoint = "chat" if path == "/v1/messages" else "models" if path.startswith("/v1/models") else "other"
        if endpoint == "other":
            return self._not_found_path(protocol)
        key = self.headers.get("x-api-key")
        if key is None and self.headers.get("Authorization", "").lower().startswith("bearer "):
            key = self.headers["Authorization"][7:].strip()
        if not key:
            return self._json(401, {"type": "error", "error": {"type": "authentication_error",
                                                               "message": "x-api-key header is required"}})
        if key not in self.sim.valid_keys:
            return self._json(401, {"type": "error", "error": {"type": "authentication_error",
                                                               "message": "invalid x-api-key"}})
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
            messages.append({"role": "system", "content": text_of(body["system"])})
        messages += [{"role": m.get("role", "user"), "content": text_of(m.get("content"))}
                     for m in body["messages"] if isinstance(m, dict)]
        text, truncated = truncate(self.sim._reply(messages), body.get("max_tokens"))
        stop_reason = "max_tokens" if truncated else "end_turn"
        if f is not None and f.kind in ENDING_KINDS:
            # stop_reason "max_tokens" (cut at the limit) or "refusal" (the model declined),
            # sent in message_delta as Anthropic's streaming docs show
            # (https://docs.claude.com/en/docs/build-with-claude/streaming; stop reasons:
            # https://docs.claude.com/en/api/handling-stop-reasons).
            text = truncate(text, f.after_chunks or 0)[0]
            stop_reason = "max_tokens" if f.kind == "length" else "refusal"
            f = None
        answered = self.sim.served_models.get(model, model)
        inp, out = count_input_tokens(messages), count_output_tokens(text)
        mid = "msg_" + uuid.uuid4().hex[:24]
        log = lambda: self.sim._log_usage(UsageRecord(protocol, model, inp, out))  # noqa: E731
        if not body.get("stream") or self.sim.ignore_stream:
            obj = {"id": mid, "type": "message", "role": "assistant", "model": answered,
                   "content": [{"type": "text", "text": text}], "stop_reason": stop_reason,
                   "stop_sequence": None, "usage": {"input_tokens": inp, "output_tokens": out}}
            return self._nonstream_body(f, json.dumps(obj).encode(), log, protocol)

        def ev(name: str, data: dict) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"

        preamble = [
            ev("message_start", {"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": answered, "content": [],
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
        malformed = (b'event: content_block_delta\n'
                     b'data: {"type": "content_block_delta", "index": 0, "delta": {"te<<garbage\n\n')
        midstream = ev("error", midstream_error_payload("anthropic"))
        self._run_stream(f, preamble, chunks, epilogue, malformed, midstream, "text/event-stream; charset=utf-8")
