"""The local endpoint's error message carries the upstream server's own words beside
RouteDesk's explanation (and ``error.routedesk.detail`` keeps them apart), so a tool that
only shows ``error.message`` still shows what the proxy said."""

from __future__ import annotations

from tests.simulator import Fault

HELLO = {"role": "user", "content": "hello there"}


async def test_the_upstreams_words_reach_the_endpoints_error(endpoint, sim):
    endpoint.engine.set_pair(endpoint.ref("openai", "gpt-4o"), None)
    sim.inject(Fault("request_too_large", protocol="openai", times=None))
    async with endpoint.http() as http:
        r = await http.post("/v1/chat/completions", json={"model": "auto", "messages": [HELLO]})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert "said: Request too large for gpt-4o in organization" in err["message"]
    assert err["message"].index("won't help") < err["message"].index("said: Request too large")
    assert err["routedesk"]["detail"].startswith("Request too large for gpt-4o")
    assert sum(1 for q in sim.requests if q.path.endswith("/chat/completions")) == 1  # sent once
