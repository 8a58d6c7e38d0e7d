"""Bad input, from the wire and from the user.

Wire: a raw TCP server on 127.0.0.1 answers each request with bytes hypothesis makes up -
any status line (or garbage instead of one), any headers (content types, Content-Length
that lies, chunked framing that breaks, Retry-After nonsense), and bodies that are random
bytes, real OpenAI/Anthropic/Ollama streams cut anywhere, or real streams with garbage
spliced in - then closes the connection. Through the real providers, the real httpx client
and the real SSE/NDJSON parsers (no mock transport), ``stream_chat`` and ``list_models``
only ever produce a well-formed result or a RouteDeskError of one of DESIGN.md's kinds;
never another exception, never a hang, never the key in an error.

User: invalid prices, base URLs, model references and settings get a plain message with a
fix (no traceback) and change nothing - not the database, not the keyring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import keyring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import ChatMessage, ModelRef, StreamEnd, TextDelta, UsageReport
from desktop.providers import Timeouts, make_provider, normalize_base_url
from tests.providers.test_streams import anthropic_wire, ollama_wire, openai_wire

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-proj-Zq8mW3xV0rT5yU1iO9pA7sD2fG4hJ6kL"
KINDS = {k.value for k in ErrorKind}
MSGS = [ChatMessage("user", "hello there")]


# --- a raw server that says whatever the example says ----------------------------------------

class RawServer:
    """Accepts connections on 127.0.0.1, reads the request head (and body by Content-Length),
    writes ``self.payload`` verbatim and closes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.payload = b""
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn, self.payload), daemon=True).start()

    @staticmethod
    def _one(conn: socket.socket, payload: bytes) -> None:
        try:
            conn.settimeout(2)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip() or 0)
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
            conn.sendall(payload)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture(scope="module")
def raw():
    s = RawServer()
    yield s
    s.close()


# --- what the server sends ------------------------------------------------------------------

STATUS_LINES = [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 401 Unauthorized",
                b"HTTP/1.1 402 Payment Required", b"HTTP/1.1 403 Forbidden", b"HTTP/1.1 404 Not Found",
                b"HTTP/1.1 429 Too Many Requests", b"HTTP/1.1 500 Internal Server Error",
                b"HTTP/1.1 502 Bad Gateway", b"HTTP/1.1 503 Service Unavailable", b"HTTP/1.1 529 Overloaded",
                b"HTTP/1.1 302 Found", b"HTTP/1.1 204 No Content", b"HTTP/1.0 200 OK", b"HTTP/1.1 999 Odd",
                b"HTTP/1.1 200", b"HTTP/2 200", b"ICY 200 OK"]
CTYPES = [b"text/event-stream", b"text/event-stream; charset=utf-8", b"application/x-ndjson",
          b"application/json", b"text/html", b"text/plain", None]
WIRES = {"openai": openai_wire, "anthropic": anthropic_wire, "ollama": ollama_wire}
EXTRA_HEADERS = st.lists(st.sampled_from([
    b"Retry-After: 3", b"Retry-After: soon", b"Retry-After: -5", b"retry-after-ms: 1e309",
    b"x-ratelimit-reset-requests: 1m30s", b"anthropic-ratelimit-requests-reset: yesterday",
    b"Connection: keep-alive", b"Content-Encoding: gzip", b"Location: http://127.0.0.1:1/v1",
    b"X-Echo: sk-pr****", b"Content-Type: text/event-stream",  # (httpcore logs response headers at DEBUG)
]), max_size=3)


@st.composite
def bodies(draw, kind: str):
    how = draw(st.sampled_from(["random", "wire_cut", "wire_spliced", "json", "empty"]))
    if how == "random":
        return draw(st.binary(max_size=400))
    if how == "empty":
        return b""
    if how == "json":
        obj = draw(st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(
                st.sampled_from(["error", "message", "type", "code", "choices", "data", "models", "usage",
                                 "done", "content", SECRET]), c, max_size=4),
            max_leaves=8))
        return json.dumps(obj).encode()
    pieces = draw(st.lists(st.text(max_size=8), min_size=1, max_size=4))
    wire, _end = WIRES[kind](pieces, (draw(st.integers(0, 99)), draw(st.integers(0, 99))))
    data = wire.encode()
    if how == "wire_cut":
        return data[: draw(st.integers(0, len(data)))]
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]


@st.composite
def responses(draw, kind: str):
    status = draw(st.sampled_from(STATUS_LINES) | st.binary(max_size=30))
    ctype = draw(st.sampled_from(CTYPES))
    body = draw(bodies(kind))
    framing = draw(st.sampled_from(["close", "length", "length_lies", "chunked", "chunked_broken"]))
    head = [status]
    if ctype is not None:
        head.append(b"Content-Type: " + ctype)
    head += draw(EXTRA_HEADERS)
    if framing == "length":
        head.append(b"Content-Length: %d" % len(body))
    elif framing == "length_lies":
        head.append(b"Content-Length: %d" % (len(body) + draw(st.integers(1, 500))))
    elif framing.startswith("chunked"):
        head.append(b"Transfer-Encoding: chunked")
        cuts = sorted(set(draw(st.lists(st.integers(0, max(0, len(body))), max_size=4))) | {0, len(body)})
        parts = [body[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if body[a:b]]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
        if framing == "chunked":
            framed += b"0\r\n\r\n"
        else:  # no terminating chunk, or a size that lies
            framed += draw(st.sampled_from([b"", b"zz\r\n", b"ffff\r\nabc"]))
        body = framed
    else:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _check_error(err: RouteDeskError) -> None:
    assert err.kind.value in KINDS
    assert err.message and isinstance(err.message, str)
    for text in (err.message, str(err.fix), err.detail or "", str(err)):
        assert SECRET not in text
        assert SECRET[-12:] not in text


async def _drive(kind: str, port: int, what: str):
    base = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    async with httpx.AsyncClient() as client:
        timeouts = Timeouts(connect=1, read=1, first_token=1, write=1, pool=1)
        p = make_provider(kind, "raw", base, SECRET, client, timeouts)
        try:
            if what == "models":
                models = await p.list_models()
                assert isinstance(models, list)
                return
            events = []
            async for ev in p.stream_chat("m", MSGS):
                events.append(ev)
        except RouteDeskError as err:
            _check_error(err)
            return
    # A stream that did not fail is well formed: deltas, at most one usage, then the end.
    assert events and isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    assert sum(isinstance(e, UsageReport) for e in events) <= 1
    assert all(isinstance(e, (TextDelta, UsageReport)) for e in events[:-1])


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
@pytest.mark.parametrize("what", ["chat", "models"])
def test_any_bytes_from_the_wire_give_a_result_or_one_of_our_errors(raw, kind, what):
    @settings(max_examples=int(os.environ.get("ROUTEDESK_WIRE_EXAMPLES", "120")), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(payload=responses(kind))
    def run(payload):
        raw.payload = payload
        asyncio.run(asyncio.wait_for(_drive(kind, raw.port, what), 10))

    run()


# --- the user's input -------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path, keystore):
    e = dict(os.environ)
    e["ROUTEDESK_HOME"] = str(tmp_path / "home")
    e["OLLAMA_HOST"] = "127.0.0.1:9"
    e.pop("ROUTEDESK_DEBUG", None)
    return e


def rd(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "desktop", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def snapshot(env) -> dict:
    """Everything a bad command could have changed, as the user would see it."""
    out = {}
    for args in (["providers", "list", "--json"], ["pricing", "list", "--json"], ["spend", "--json"]):
        r = rd(env, *args)
        assert r.returncode == 0, r.stderr
        out[args[0]] = json.loads(r.stdout)
    db = Path(env["ROUTEDESK_HOME"]) / "routedesk.sqlite3"
    if db.exists():
        import sqlite3

        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            out["settings"] = sorted(conn.execute("SELECT key, value FROM settings").fetchall())
        finally:
            conn.close()
    return out


def assert_refused(r: subprocess.CompletedProcess) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert "error:" in r.stderr and "fix:" in r.stderr, r.stderr
    assert SECRET not in r.stderr + r.stdout


BAD_PRICES = ["-1", "abc", "NaN", "Infinity", "-0.0000001", "1e400", "", " ", "$", "1,5", "0x10", "1e5000000",
              "100001"]
BAD_URLS = ["ftp://example.com/v1", "not a url", "http://", "://x", "http://exa mple.com", "localhost:::1",
            "javascript:alert(1)", "http://[::1", "file:///etc/passwd"]


def test_invalid_prices_base_urls_and_refs_are_refused_and_change_nothing(env):
    name = "bad" + uuid.uuid4().hex[:8]
    ok = rd(env, "providers", "add", name, "--kind", "openai", "--base-url", "http://127.0.0.1:9/v1", "--key-stdin",
            stdin=SECRET + "\n")
    assert ok.returncode == 0, ok.stderr
    assert rd(env, "pricing", "set", f"{name}/gpt-4o", "--input", "1.5", "--output", "2").returncode == 0
    assert rd(env, "use", "--strong", f"{name}/gpt-4o", "--weak", "ollama/llama3.2").returncode == 0
    before = snapshot(env)
    try:
        for bad in BAD_PRICES:
            assert_refused(rd(env, "pricing", "set", f"{name}/gpt-4o", "--input", bad, "--output", "2"))
            assert_refused(rd(env, "pricing", "set", f"{name}/gpt-4o", "--input", "2", "--output", bad))
        for ref in ["gpt-4o", "/gpt-4o", f"{name}/", ""]:
            assert_refused(rd(env, "pricing", "set", ref, "--input", "1", "--output", "1"))
            assert_refused(rd(env, "use", "--strong", ref))
        assert_refused(rd(env, "use", "--strong", "nosuchprovider/gpt-4o"))
        for url in BAD_URLS:
            other = "bad" + uuid.uuid4().hex[:8]
            assert_refused(rd(env, "providers", "add", other, "--kind", "openai", "--base-url", url, "--key-stdin",
                              stdin=SECRET + "\n"))
            assert keyring.get_password("RouteDesk", other) is None  # no key left behind
            # re-adding the existing provider with a bad URL keeps the good one
            assert_refused(rd(env, "providers", "add", name, "--kind", "openai", "--base-url", url, "--key-stdin",
                              stdin="sk-other-key-000000000000000000\n"))
        assert snapshot(env) == before
        assert keyring.get_password("RouteDesk", name) == SECRET
    finally:
        with contextlib.suppress(Exception):
            keyring.delete_password("RouteDesk", name)


@given(url=st.text(max_size=60) | st.sampled_from(BAD_URLS),
       kind=st.sampled_from(["openai", "anthropic", "ollama", "openrouter", "openai-compatible", "lmstudio"]))
@settings(max_examples=300, deadline=None)
def test_normalize_base_url_accepts_or_says_why(url, kind):
    try:
        out = normalize_base_url(kind, url)
    except RouteDeskError as err:
        assert err.kind is ErrorKind.MISCONFIGURED and err.message and err.fix
        return
    assert out.startswith(("http://", "https://"))


@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                       st.sampled_from([Decimal("NaN"), Decimal("-1"), Decimal("Infinity"), Decimal("-0.001")]),
                       st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_price_override_with_a_bad_amount_changes_nothing(store, value):
    ref = ModelRef("work", "gpt-4o")
    store.set_price_override(ref, Decimal("1.5"), Decimal("2"))
    try:
        store.set_price_override(ref, value, Decimal("3"))
    except (ValueError, TypeError, ArithmeticError) as exc:
        assert str(exc)
    else:
        # accepted only when it really is a finite, non-negative amount
        assert isinstance(value, (Decimal, int, str)) and not isinstance(value, bool)
        d = Decimal(value)
        assert d.is_finite() and d >= 0
        return
    o = store.get_price_override(ref)
    assert (o.input_per_mtok, o.output_per_mtok) == (Decimal("1.5"), Decimal("2"))


@given(raw_settings=st.dictionaries(st.sampled_from(["policy", "target_share", "monthly_budget_usd", "x"]),
                                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                              st.text(max_size=8), st.lists(st.integers(), max_size=2)),
                                    max_size=4))
@settings(max_examples=300, deadline=None)
def test_routing_settings_from_anything_stored_are_usable(raw_settings):
    """Whatever is in the settings table (an old version, a hand edit), the engine reads a
    usable policy or raises a plain error, never a crash deep inside routing."""
    from desktop.engine.routing import RoutingSettings

    try:
        s = RoutingSettings.from_dict(raw_settings)
    except (ValueError, ArithmeticError, TypeError) as exc:
        pytest.fail(f"{raw_settings!r} crashed the settings reader: {exc!r}")
    assert s.policy in ("share", "budget") and 0.0 <= s.target_share <= 1.0
    if s.monthly_budget_usd is not None:
        assert s.monthly_budget_usd.is_finite()
