"""The endpoint on the raw wire (httpx): headers, and requests RouteDesk won't run - each a
clear 400 in OpenAI's shape, with nothing sent upstream and nothing stored. Also the
status every error kind gets (never a 500)."""

from __future__ import annotations

import json

import pytest

from desktop.core.errors import ErrorInfo, ErrorKind
from desktop.engine.endpoint_api import failure

HELLO = {"role": "user", "content": "hello there"}


def nothing_stored(endpoint, sim) -> bool:
    store = endpoint.engine.store
    chat = [r for r in sim.requests if r.path.endswith(("/chat/completions", "/api/chat", "/v1/messages"))]
    return store.ledger() == [] and store.list_conversations() == [] and chat == []


async def test_headers_say_the_route_the_model_and_the_cost(endpoint, sim):
    async with endpoint.http() as http:
        r = await http.post("/v1/chat/completions", json={"model": "auto", "messages": [HELLO]})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert r.headers["x-routedesk-route"] == "weak" and r.headers["x-routedesk-cost-usd"] == "0"
        body = r.json()
        assert body["object"] == "chat.completion" and body["model"] == "ollama/llama3.2:latest"
        assert body["routedesk"]["route"]["choice"] == "weak"

        r = await http.post("/v1/chat/completions", json={"model": "strong", "messages": [HELLO], "stream": True})
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-routedesk-route"] == "fixed"
        assert r.headers["x-routedesk-model"] == str(endpoint.ref("openai", "gpt-4o"))
        events = [line for line in r.text.split("\n\n") if line]
        assert events[-1] == "data: [DONE]"
        assert json.loads(events[-2].removeprefix("data: "))["routedesk"]["cost_usd"] not in (None, "0")
        assert "sk-test-key" not in r.text and "Authorization" not in str(r.headers)


@pytest.mark.parametrize("body, code, param", [
    (b"{not json", "invalid_json", None),
    (b"[1, 2]", "invalid_json", None),
    (json.dumps({"model": "auto"}).encode(), "missing_messages", "messages"),
    (json.dumps({"model": "auto", "messages": []}).encode(), "missing_messages", "messages"),
    (json.dumps({"messages": [HELLO]}).encode(), "missing_model", "model"),
    (json.dumps({"model": "auto", "messages": [HELLO], "frobnicate": 1}).encode(), "unknown_parameter", "frobnicate"),
    (json.dumps({"model": "auto", "messages": [HELLO], "tools": [{"type": "function"}]}).encode(),
     "unsupported_parameter", "tools"),
    (json.dumps({"model": "auto", "messages": [{"role": "tool", "content": "x"}]}).encode(), "invalid_value",
     "messages[0].role"),
    (json.dumps({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:"}}]}]}).encode(), "unsupported_content",
     "messages[0].content"),
    (json.dumps({"model": "auto", "messages": [HELLO], "n": 3}).encode(), "unsupported_value", "n"),
    (json.dumps({"model": "auto", "messages": [HELLO], "max_tokens": -5}).encode(), "invalid_value", "max_tokens"),
])
async def test_a_malformed_request_is_a_clear_400_and_nothing_is_stored(endpoint, sim, body, code, param):
    async with endpoint.http() as http:
        r = await http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["param"], err["type"]) == (code, param, "invalid_request_error")
    assert err["message"] and err["message"][-1] in ".)"
    assert nothing_stored(endpoint, sim)


async def test_a_10_mb_body_is_refused_with_a_400_and_the_server_keeps_serving(endpoint, sim):
    huge = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "word " * (2 * 1024 * 1024)}]})
    assert len(huge) > 10 * 1024 * 1024
    async with endpoint.http() as http:
        r = await http.post("/v1/chat/completions", content=huge.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "request_too_large"
        assert "MB" in r.json()["error"]["message"]
        assert nothing_stored(endpoint, sim)
        ok = await http.post("/v1/chat/completions", json={"model": "auto", "messages": [HELLO]})
        assert ok.status_code == 200


async def test_unknown_paths_and_methods_answer_in_openais_shape(endpoint, sim):
    async with endpoint.http() as http:
        r = await http.get("/v1/embeddings")
        assert r.status_code in (404, 405) and set(r.json()["error"]) >= {"message", "type", "code", "param"}
        r = await http.get("/v1/chat/completions")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        r = await http.get("/")
        assert r.status_code == 404 and "/v1" in r.json()["error"]["message"]


async def test_a_missing_or_malformed_authorization_header_is_401(endpoint, sim):
    async with endpoint.http() as http:
        for headers in ({"Authorization": ""}, {"Authorization": f"Basic {endpoint.token}"},
                        {"Authorization": endpoint.token}):
            r = await http.post("/v1/chat/completions", json={"model": "auto", "messages": [HELLO]}, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert nothing_stored(endpoint, sim)


@pytest.mark.parametrize("kind, status, code", [
    ("quota_exhausted", 429, "insufficient_quota"),
    ("rate_limited", 429, "rate_limit_exceeded"),
    ("model_not_found", 404, "model_not_found"),
    ("context_too_long", 400, "context_length_exceeded"),
    ("content_filtered", 400, "content_filter"),
    ("timeout", 504, "timeout"),
    ("unreachable", 502, "unreachable"),
    ("overloaded", 503, "overloaded"),
    ("server_error", 502, "server_error"),
])
def test_every_error_kind_gets_the_status_design_md_gives_it(kind, status, code):
    got_status, body = failure(ErrorInfo(kind, "What happened.", "What to do."))
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["error"]["message"] == "What happened. What to do."


def test_no_error_kind_is_a_500():
    for kind in ErrorKind:
        status, body = failure(ErrorInfo(kind.value, "m", "f"))
        assert 400 <= status < 600 and status != 500, kind
        assert set(body["error"]) >= {"message", "type", "code", "param"}


@pytest.mark.parametrize("fault, status, code", [
    ("context_too_long", 400, "context_length_exceeded"),
    ("content_filtered", 400, "content_filter"),
    ("server_error", 502, "server_error"),
    ("overloaded", 503, "overloaded"),
])
async def test_upstream_failures_with_no_fallback_come_back_with_their_status(endpoint, sim, fault, status, code):
    from tests.simulator import Fault

    endpoint.engine.set_pair(endpoint.ref("openai", "gpt-4o"), None)
    sim.inject(Fault(fault, protocol="openai", times=None))
    async with endpoint.http() as http:
        r = await http.post("/v1/chat/completions", json={"model": "auto", "messages": [HELLO]})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert r.headers["x-routedesk-route"]
