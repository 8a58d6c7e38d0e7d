"""OpenAI's chat completions and model listing (also OpenRouter's and LM Studio's, which speak it),
with OpenAI's and OpenRouter's literal error bodies."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .faults import ENDING_KINDS, midstream_error_payload, openai_bad_key, openai_model_not_found, openrouter_cost
from .http_plumbing import NO_AUTH, HandlerBase
from .records import UsageRecord
from .tokens import count_input_tokens, count_output_tokens, split_chunks, text_of, truncate

__all__ = ["OpenAIWire"]


class OpenAIWire(HandlerBase):
    def _litellm_model_info(self) -> dict:
        """LiteLLM's ``GET /v1/model/info`` body, field for field as its docs show it
        (docs.litellm.ai/docs/proxy/model_management, "Expected Response"), one entry per
        model in ``sim.litellm_model_info`` (name -> fields that override the defaults)."""
        data = []
        for name, fields in (self.sim.litellm_model_info or {}).items():
            info = {"id": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex * 2, "db_model": False, "key": name,
                    "max_tokens": 4096, "max_input_tokens": 8192, "max_output_tokens": 4096,
                    "input_cost_per_token": 3e-05, "input_cost_per_character": None,
                    "input_cost_per_token_above_128k_tokens": None, "output_cost_per_token": 6e-05,
                    "output_cost_per_character": None, "output_cost_per_token_above_128k_tokens": None,
                    "output_cost_per_character_above_128k_tokens": None, "output_vector_size": None,
                    "litellm_provider": "openai", "mode": "chat", **fields}
            data.append({"model_name": name, "litellm_params": {"model": name}, "model_info": info})
        return {"data": data}

    def _openai(self, protocol: str, path: str, body: Any) -> None:
        auth = self.headers.get("Authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        endpoint = "chat" if path == "/v1/chat/completions" else "models" if path.startswith("/v1/models") else "other"
        if path == "/v1/model/info" and self.sim.litellm_model_info is not None:
            endpoint = "model_info"  # a LiteLLM proxy's; any other server answers 404 below
        if endpoint == "other":
            return self._not_found_path(protocol)
        if protocol not in NO_AUTH and key not in self.sim.valid_keys:
            if protocol == "openrouter":
                message = "No auth credentials found" if not key else "User not found."
                return self._json(401, {"error": {"message": message, "code": 401}})
            return self._json(401, openai_bad_key(key))
        model = (body or {}).get("model", "") if isinstance(body, dict) else ""
        if endpoint == "model_info":
            return self._json(200, self._litellm_model_info())
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
        messages = [{"role": m.get("role", "user"), "content": text_of(m.get("content"))}
                    for m in body["messages"] if isinstance(m, dict)]
        text, truncated = truncate(self.sim._reply(messages), body.get("max_completion_tokens", body.get("max_tokens")))
        finish = "length" if truncated else "stop"
        if f is not None and f.kind in ENDING_KINDS:
            # Cut at its limit (finish_reason "length") or stopped by the content filter
            # ("content_filter"), as OpenAI's chat streaming docs list the finish reasons
            # (https://platform.openai.com/docs/api-reference/chat/streaming, choices[].finish_reason).
            text = truncate(text, f.after_chunks or 0)[0]
            finish = "length" if f.kind == "length" else "content_filter"
            f = None
        inp, out = count_input_tokens(messages), count_output_tokens(text)
        usage: dict = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
        if protocol == "openrouter":
            # OpenRouter reports what the call cost, in credits (USD), in usage.cost
            # (https://openrouter.ai/docs/use-cases/usage-accounting); here at the prices its
            # model list gives (prompt 0.00000015, completion 0.0000006 per token).
            usage["cost"] = float(openrouter_cost(inp, out))
        answered = self.sim.served_models.get(model, model)
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        log = lambda: self.sim._log_usage(UsageRecord(protocol, model, inp, out))  # noqa: E731
        if not body.get("stream") or self.sim.ignore_stream:
            obj = {
                "id": cid, "object": "chat.completion", "created": created, "model": answered,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": finish}],
                "usage": usage, "system_fingerprint": "fp_simulator",
            }
            return self._nonstream_body(f, json.dumps(obj).encode(), log, protocol)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish_reason=None, choices=True, usage_=None) -> bytes:
            obj: dict = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": answered,
                         "system_fingerprint": "fp_simulator",
                         "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
                         if choices else []}
            if include_usage:
                obj["usage"] = usage_
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        preamble = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if protocol == "openrouter":  # its keep-alive comment, first (docs "streaming", Additional Information)
            preamble.insert(0, b": OPENROUTER PROCESSING\n\n")
        chunks = [chunk({"content": c}) for c in split_chunks(text)]
        epilogue: list = [(chunk({}, finish), None)]
        if include_usage:
            epilogue.append((chunk({}, choices=False, usage_=usage), log))
        epilogue.append((b"data: [DONE]\n\n", None))
        malformed = b'data: {"id": "' + cid.encode() + b'", "choices": [{"delta": {"content": "<<garbage\n\n'
        style = "openrouter" if protocol == "openrouter" else "openai"
        midstream = b"data: " + json.dumps(midstream_error_payload(style)).encode() + b"\n\n"
        self._run_stream(f, preamble, chunks, epilogue, malformed, midstream, "text/event-stream; charset=utf-8")
