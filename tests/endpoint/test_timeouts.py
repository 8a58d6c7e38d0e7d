"""An upstream that never answers in time, every fallback included: the tool gets a 504
in OpenAI's error shape with RouteDesk's plain words, whether it asks through the official
``openai`` client or raw HTTP; a tool that gives up first sees its own timeout, and
nothing is billed."""

from __future__ import annotations

import json

import openai
import pytest

from desktop.core.types import ModelRef
from tests.reliability.conftest import eventually
from tests.simulator import Fault

HELLO = [{"role": "user", "content": "hello there"}]
TIMEOUT_S = 0.3  # each provider's own timeout (Settings, or `providers add --timeout`)


@pytest.fixture
def stalled(endpoint, sim):
    """Both models of the pair on providers that wait 0.3 s; the simulator stalls every
    chat request (any protocol) for longer than that."""
    eng = endpoint.engine
    for name in endpoint.names.values():
        eng.store.update_provider(name, options={"timeout": TIMEOUT_S})
        eng.forget_provider(name)
    eng.set_pair(endpoint.ref("openai", "gpt-4o"), ModelRef(endpoint.names["anthropic"], "claude-3-5-haiku-latest"))
    sim.inject(Fault("stall", times=None, delay=5.0))
    return endpoint


def _check_body(body: dict, endpoint) -> None:
    err = body["error"]
    assert set(err) >= {"message", "type", "code", "param"}
    assert err["code"] == "timeout" and err["type"] == "upstream_error"
    assert "Traceback" not in err["message"] and "Exception" not in err["message"]
    assert "time" in err["message"].lower()  # says what happened in words
    tried = {a["model"] for a in err["routedesk"]["attempts"]}
    assert tried == {str(endpoint.ref("openai", "gpt-4o")), f"{endpoint.names['anthropic']}/claude-3-5-haiku-latest"}
    assert all(a["error"]["kind"] == "timeout" for a in err["routedesk"]["attempts"])


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_timeout_with_fallbacks_exhausted_is_a_504_for_the_openai_client(stalled, stream):
    with pytest.raises(openai.APIStatusError) as caught:
        await stalled.client().chat.completions.create(model="auto", messages=HELLO, stream=stream)
    err = caught.value
    assert not isinstance(err, openai.APITimeoutError)  # RouteDesk answered, in time, that upstream did not
    assert err.status_code == 504 and err.code == "timeout"
    assert isinstance(err, openai.InternalServerError)  # how the client classes a 5xx
    _check_body({"error": err.body}, stalled)  # the client hands over the "error" object
    assert stalled.engine.store.ledger() == []  # no answer, no usage reported, nothing billed


async def test_an_upstream_timeout_is_a_504_in_openais_shape_over_raw_http(stalled):
    async with stalled.http() as http:
        r = await http.post("/v1/chat/completions", json={"model": "auto", "messages": HELLO, "stream": True})
    assert r.status_code == 504
    assert r.headers["content-type"].startswith("application/json")
    _check_body(json.loads(r.content), stalled)


async def test_a_tool_that_gives_up_first_sees_its_own_timeout_and_the_run_stops(stalled):
    client = stalled.client(timeout=TIMEOUT_S / 2)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="auto", messages=HELLO)
    server = stalled.engine.endpoint.server
    assert server is not None
    # the endpoint notices the tool left and cancels the run (and with it the upstream calls)
    assert await eventually(lambda: not server.active)
    assert stalled.engine.store.ledger() == []
