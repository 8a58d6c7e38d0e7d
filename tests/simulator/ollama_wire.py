"""Ollama's native API: chat and generate (NDJSON streams), tags, show, ps, version, pull (with
progress lines) and delete; model names normalised to `name:latest`."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from .faults import ENDING_KINDS, midstream_error_payload, ollama_model_not_found
from .http_plumbing import HandlerBase
from .records import UsageRecord
from .tokens import count_input_tokens, count_output_tokens, split_chunks, text_of, truncate

__all__ = ["OllamaWire", "ollama_name", "ollama_meta"]


def ollama_name(name: str) -> str:
    return name if ":" in name else name + ":latest"


def ollama_meta(name: str) -> dict:
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


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"


class OllamaWire(HandlerBase):
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
        model = ollama_name(raw_model) if raw_model else ""
        f = self._take_fault(protocol, model, endpoint)
        if f is not None and self._send_http_fault(f, protocol, raw_model, None, endpoint == "chat"):
            return
        if path == "/api/version":
            return self._json(200, {"version": self.sim.ollama_version})
        if path == "/api/tags":
            models = []
            for name in self.sim._models_for(protocol):
                meta = ollama_meta(name)
                models.append({"name": name, "model": name, "modified_at": "2025-01-01T12:00:00.000000Z",
                               "size": meta["size"], "digest": meta["digest"], "details": meta["details"]})
            return self._json(200, {"models": models})
        if path == "/api/ps":
            return self._json(200, {"models": []})
        if path == "/api/show":
            if model not in self.sim._models_for(protocol):
                return self._json(404, {"error": f"model '{raw_model}' not found"})
            meta = ollama_meta(model)
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
                messages.append({"role": "system", "content": text_of(body["system"])})
            messages.append({"role": "user", "content": text_of(body.get("prompt"))})
        else:
            messages = [{"role": m.get("role", "user"), "content": text_of(m.get("content"))}
                        for m in body.get("messages") or [] if isinstance(m, dict)]
        opts = body.get("options") or {}
        text, truncated = truncate(self.sim._reply(messages), opts.get("num_predict"))
        if f is not None and f.kind in ENDING_KINDS:
            # done_reason "length" when num_predict cut the reply (Ollama's API docs,
            # https://github.com/ollama/ollama/blob/main/docs/api.md "Generate a chat completion");
            # Ollama has no content filter: that kind leaves the reply as it is.
            if f.kind == "length":
                text, truncated = truncate(text, f.after_chunks or 0)[0], True
            f = None
        inp, out = count_input_tokens(messages), count_output_tokens(text)
        log = lambda: self.sim._log_usage(UsageRecord(protocol, raw_model, inp, out))  # noqa: E731
        is_chat = path == "/api/chat"

        def line(content: str, done: bool) -> dict:
            obj: dict = {"model": raw_model, "created_at": iso_now()}
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
        if registry is not None and model not in {ollama_name(r) for r in registry}:
            err = {"error": "pull model manifest: file does not exist"}
            if not stream:
                return self._json(500, err)
            self._start_stream("application/x-ndjson")
            self._chunk(nd({"status": "pulling manifest"}))
            self._chunk(nd(err))
            return self._end_stream()
        meta = ollama_meta(model)
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
