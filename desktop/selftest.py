"""``routedesk --self-test``: load, offscreen, everything a user's first minute needs.

It is the packaging smoke test: run against the frozen app it proves that PyInstaller
collected what RouteDesk uses at run time (Qt's platform and image plugins, the icons
and router weights in resources/, genai-prices' data, the TLS certificates httpx
needs, SQLite with FTS5, the platform's keyring backends), then sends one routed
message through the real Engine to a tiny OpenAI-wire server it starts on 127.0.0.1,
and one more through the local endpoint (``selftest_endpoint.py``), as a tool would.

Each check prints ``ok  <what>`` or ``FAIL <what>: <plain reason>``; the exit code is
0 only when every check passed. It never touches the user's data or keys: it works in a
temporary ``ROUTEDESK_HOME``, and the keyring round trip uses a throwaway entry under a
separate service name (``RouteDesk-selftest``) that it deletes afterwards.

``ROUTEDESK_SELFTEST_ONLY=qt,window`` runs a subset (benchmarks/bench_frozen.py uses it).
Qt is imported only inside functions: this module sits above the UI in the layers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from desktop.selftest_endpoint import check_endpoint

if TYPE_CHECKING:
    from desktop.storage import KeyStore

__all__ = ["run_self_test", "CHECKS", "SELFTEST_SERVICE"]

#: Keyring service of the throwaway round-trip entry (never the real ``RouteDesk``).
SELFTEST_SERVICE = "RouteDesk-selftest"
STRONG_MODEL = "selftest-strong"
WEAK_MODEL = "selftest-weak"
APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
#: Qt image formats RouteDesk's window and icons need.
IMAGE_FORMATS = ("png", "svg", "jpg", "ico")


class CheckFailed(Exception):
    """A check's plain-language reason for failing."""


class _Context:
    """What checks share: the temp home, the QApplication, the engine."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.window = None
        self.engines: list = []


# --- the checks -------------------------------------------------------------------------


def check_resources(ctx: _Context) -> str:
    from desktop.core.resources import resource_path, resources_dir

    root = resources_dir()
    if not root.is_dir():
        raise CheckFailed(f"the resources folder is missing ({root})")
    missing = [p for p in ["icons/routedesk.svg", *(f"icons/routedesk-{s}.png" for s in APP_ICON_SIZES),
                            "routedesk.desktop"] if not resource_path(*p.split("/")).is_file()]
    if missing:
        raise CheckFailed(f"missing in {root}: {', '.join(missing)}")
    return f"resources at {root}"


def check_qt(ctx: _Context) -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:
        raise CheckFailed(f"Qt (PySide6) can't be imported: {exc}") from None
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "routedesk"])
    app.setApplicationName("RouteDesk")
    app.setOrganizationName("RouteDesk")
    app.setDesktopFileName("routedesk")
    ctx.app = app
    name = QApplication.platformName()
    if not name:
        raise CheckFailed("no Qt platform plugin was loaded")
    if name == "offscreen":
        _quiet_offscreen_warnings()
    return f"Qt {qVersion()} (PySide6 {pyside_version}), platform plugin '{name}'"


def _quiet_offscreen_warnings() -> None:
    """The offscreen plugin warns about window-manager calls it can't honour; those
    lines are noise in the self-test's output. Everything else still goes to stderr."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message: str) -> None:
        if message.startswith("This plugin does not support"):
            return
        sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


def check_image_plugins(ctx: _Context) -> str:
    _need(ctx.app, "Qt")
    from PySide6.QtGui import QImageReader

    have = {bytes(f.data()).decode().lower() for f in QImageReader.supportedImageFormats()}
    missing = [f for f in IMAGE_FORMATS if f not in have]
    if missing:
        raise CheckFailed(f"Qt can't read {', '.join(missing)} images (image format plugins not found)")
    return "Qt image formats " + ", ".join(IMAGE_FORMATS)


def check_icons(ctx: _Context) -> str:
    _need(ctx.app, "Qt")
    from PySide6.QtGui import QIcon, QImage

    from desktop.core.resources import resource_path

    svg = resource_path("icons", "routedesk.svg")
    icon = QIcon(str(svg))
    if icon.isNull() or icon.pixmap(64, 64).isNull():
        raise CheckFailed(f"the SVG app icon didn't render ({svg}); the SVG icon engine may be missing")
    for size in APP_ICON_SIZES:
        png = resource_path("icons", f"routedesk-{size}.png")
        img = QImage(str(png))
        if img.isNull() or img.width() != size:
            raise CheckFailed(f"{png.name} didn't load as a {size}x{size} image")
        icon.addFile(str(png))
    ctx.app.setWindowIcon(icon)
    return f"app icon (SVG and {len(APP_ICON_SIZES)} PNG sizes)"


def check_router(ctx: _Context) -> str:
    from desktop.core.resources import resource_path
    from desktop.core.types import ChatMessage

    folder = resource_path("router")
    if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
        raise CheckFailed(f"no router weights in {folder}")
    try:
        from desktop.router import load_router
    except ImportError as exc:
        raise CheckFailed(f"the router can't be imported: {exc}") from None
    router = load_router()
    easy = router.score([ChatMessage("user", "hi")])
    hard = router.score([ChatMessage("user", "Prove that there are infinitely many primes, then derive "
                                             "the prime number theorem's error term and explain each step.")])
    for s in (easy, hard):
        if not (0.0 <= float(s.value) <= 1.0):
            raise CheckFailed(f"the router gave a score outside 0..1 ({s.value})")
    return f"router weights from {folder.name}/ (scores {float(easy.value):.2f} and {float(hard.value):.2f})"


def check_highlight(ctx: _Context) -> str:
    """The frozen app bundles only some Pygments lexers (packaging/hooks): the common ones
    must be there, or code in answers shows uncoloured."""
    from desktop.ui.highlight import lex_lines, lexer_for

    missing = [lang for lang in ("python", "javascript", "bash", "json", "rust", "sql") if lexer_for(lang) is None]
    if missing:
        raise CheckFailed(f"no syntax highlighting for {', '.join(missing)} (Pygments lexers not bundled)")
    (spans,) = lex_lines(lexer_for("python"), "def f(): return 1")
    if len(spans) < 5:
        raise CheckFailed("Pygments did not split a line of Python into tokens")
    return "code highlighting (Pygments: python, javascript, bash, json, rust, sql)"


def check_prices(ctx: _Context) -> str:
    from desktop.engine.pricing import load_price_data  # as the app loads it

    gp = load_price_data()
    calc = gp.calc_price(gp.Usage(input_tokens=1_000_000, output_tokens=1_000_000), "gpt-4o", provider_id="openai")
    total = calc.total_price
    if total is None or total <= 0:
        raise CheckFailed("genai-prices has no price for openai/gpt-4o")
    return f"genai-prices data (openai/gpt-4o: ${total} per 1M in + 1M out)"


def check_tls(ctx: _Context) -> str:
    import httpx

    ctx_ssl = httpx.create_ssl_context()
    cas = ctx_ssl.cert_store_stats().get("x509_ca", 0)
    if cas <= 0:
        raise CheckFailed("httpx's TLS context has no CA certificates, so HTTPS providers would fail")
    where = ""
    try:
        import certifi

        bundle = Path(certifi.where())
        if not bundle.is_file():
            raise CheckFailed(f"certifi's CA bundle is missing ({bundle})")
        where = f", certifi bundle {bundle.name}"
    except ImportError:
        pass
    return f"TLS certificates for httpx ({cas} CAs{where})"


def check_sqlite(ctx: _Context) -> str:
    import sqlite3

    db = sqlite3.connect(":memory:")
    try:
        try:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
        except sqlite3.OperationalError as exc:
            raise CheckFailed(f"this SQLite ({sqlite3.sqlite_version}) has no FTS5: {exc}") from None
        db.executemany("INSERT INTO t(body) VALUES (?)", [("routing saves money",), ("hello world",)])
        rows = db.execute("SELECT body FROM t WHERE t MATCH ?", ("rout*",)).fetchall()
        if rows != [("routing saves money",)]:
            raise CheckFailed(f"an FTS5 search returned {rows!r}")
    finally:
        db.close()
    return f"SQLite {sqlite3.sqlite_version} with FTS5"


def check_keyring(ctx: _Context) -> str:
    import keyring

    from desktop.storage.secrets import KeyStore, backend_problem

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    members = getattr(backend, "backends", None)
    if members is not None:  # a chainer: name what it chains
        name += " [" + ", ".join(f"{type(b).__module__}.{type(b).__name__}" for b in members) + "]"
    problem = backend_problem(backend) if members is None else (
        None if any(backend_problem(b) is None for b in members) else "no secure backend in the chain")
    if problem is not None:
        raise CheckFailed(f"keyring backend {name} is not secure ({problem}); API keys could not be stored")
    store = KeyStore(SELFTEST_SERVICE)
    entry = f"selftest-{uuid.uuid4().hex[:12]}"
    secret = uuid.uuid4().hex
    try:
        store.set(entry, secret)
        got = store.get(entry)
        if got != secret:
            raise CheckFailed(f"keyring {name} didn't return the value just stored")
    finally:
        with suppress(Exception):
            store.delete(entry)
    return f"keyring {name}: secure, round trip ok (service {SELFTEST_SERVICE}, entry deleted)"


class _MemoryKeys:
    """Keys for the self-test's engine: none needed, and never the user's keyring."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    def check(self) -> str:
        return "memory"

    def set(self, name: str, key: str) -> None:
        self._keys[name] = key

    def get(self, name: str) -> str | None:
        return self._keys.get(name)

    def delete(self, name: str) -> bool:
        return self._keys.pop(name, None) is not None


def check_routed_message(ctx: _Context) -> str:
    import httpx

    from desktop.core.types import ModelRef
    from desktop.engine.app import Engine
    from desktop.engine.provider_admin import ProviderChange
    from desktop.selftest_server import SelfTestServer, reply_for

    async def go(base_url: str):
        client = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), trust_env=False)
        engine = Engine.open(home=ctx.home, client=client, keystore=cast("KeyStore", _MemoryKeys()))
        try:
            # through the same services the window and the command line use
            engine.providers_admin.save(ProviderChange("selftest", "openai-compatible", base_url))
            engine.routing_admin.set_pair(ModelRef.parse(f"selftest/{STRONG_MODEL}"),
                                          ModelRef.parse(f"selftest/{WEAK_MODEL}"))
            result = await asyncio.wait_for(engine.send(None, "Say hello to the self-test.", mode="auto"), 30)
            stored = engine.conversations.messages(result.conversation_id)
            hits = engine.conversations.search("self-test")
            return result, stored, hits
        finally:
            await engine.aclose()
            await client.aclose()

    with SelfTestServer([STRONG_MODEL, WEAK_MODEL]) as server:
        result, stored, hits = _run_async(ctx, go(server.base_url))
    if result.status != "complete":
        why = result.error.message if result.error is not None else "no reason given"
        raise CheckFailed(f"the routed message ended as {result.status!r}: {why}")
    if result.model is None or result.text != reply_for(result.model.model):
        raise CheckFailed(f"the answer {result.text!r} isn't what the local server sent")
    if not any(m.role == "assistant" and m.text == result.text for m in stored):
        raise CheckFailed("the answer wasn't saved in the database")
    if not hits:
        raise CheckFailed("the saved conversation can't be found with search")
    route = result.route
    return (f"one routed message: {route.choice} -> {result.model} ({route.policy}), "
            f"{result.usage.input_tokens if result.usage else '?'} in / "
            f"{result.usage.output_tokens if result.usage else '?'} out tokens, saved and searchable")


def check_window(ctx: _Context) -> str:
    _need(ctx.app, "Qt")
    try:
        from desktop.ui import app as ui_app
    except ImportError as exc:
        raise CheckFailed(f"the window's code can't be imported: {exc}") from None
    build = getattr(ui_app, "build_window", None)
    if build is None:
        raise CheckFailed("desktop.ui.app has no build_window(engine) to build the window with")
    from desktop.engine.app import Engine

    _ensure_loop(ctx)  # the window's background tasks need the app's loop set first
    engine = Engine.open(home=ctx.home, keystore=cast("KeyStore", _MemoryKeys()))
    ctx.engines.append(engine)
    _controller, window = build(engine)
    ctx.window = window
    window.show()
    shown = _run_async(ctx, _settle(ctx, window))
    if not window.isVisible():
        raise CheckFailed("the main window didn't show")
    if window.grab().isNull():
        raise CheckFailed("the main window rendered nothing")
    screens = []
    # The first minute: the settings (to add a provider), the health panel, the spend
    # chart (pyqtgraph). Each is opened only if this version of the window has it.
    for label, method, args, attr in (("settings", "open_settings", ("",), "_settings"),
                                      ("health", "open_health", (), "_health"),
                                      ("chart", "toggle_chart", (True,), None)):
        opener = getattr(window, method, None)
        if not callable(opener):
            continue
        opener(*args)
        _run_async(ctx, _settle(ctx, window))
        if label == "chart":  # its plots follow once pyqtgraph has loaded in a worker thread
            _run_async(ctx, _until(lambda: getattr(window.chart, "share_plot", True) is not None, 20))
            if getattr(window.chart, "share_plot", True) is None:
                raise CheckFailed("the spend chart's plots did not load: " + window.chart.drawing.text())
        widget = getattr(window, attr, None) if attr else window
        if widget is not None and widget.grab().isNull():
            raise CheckFailed(f"the {label} screen rendered nothing")
        screens.append(label)
    title = window.windowTitle() or type(window).__name__
    since_start = _since_process_start(shown)
    extra = f", {', '.join(screens)} too" if screens else ""
    when = f", {since_start:.2f} s after the process started" if since_start is not None else ""
    from PySide6.QtWidgets import QApplication

    return f"main window {title!r} shown ({QApplication.platformName()}){extra}{when}"


async def _until(cond, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not cond() and time.monotonic() < deadline:  # noqa: ASYNC110 (Qt has no awaitable)
        await asyncio.sleep(0.02)


async def _settle(ctx: _Context, window) -> float:
    """Wait until the window is visible and has painted; return when (perf_counter)."""
    deadline = time.monotonic() + 10
    while not window.isVisible() and time.monotonic() < deadline:  # noqa: ASYNC110 (Qt has no awaitable)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # one turn of the loop: layout and the first paint
    shown = time.perf_counter()
    await asyncio.sleep(0.05)
    return shown


def _since_process_start(now_perf: float) -> float | None:
    """Seconds from this process's start to ``now_perf`` (Linux; None elsewhere)."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        started_ago = uptime - start_ticks / ticks
        return started_ago - (time.perf_counter() - now_perf)
    except Exception:
        return None


#: name -> (what it checks, function); run in this order.
CHECKS: dict[str, tuple[str, Callable[[_Context], str]]] = {
    "resources": ("bundled resources", check_resources),
    "qt": ("Qt platform plugin", check_qt),
    "images": ("Qt image format plugins", check_image_plugins),
    "icons": ("app icon", check_icons),
    "router": ("router weights", check_router),
    "highlight": ("code highlighting", check_highlight),
    "prices": ("genai-prices data", check_prices),
    "tls": ("TLS certificates", check_tls),
    "sqlite": ("SQLite with FTS5", check_sqlite),
    "keyring": ("keyring backend", check_keyring),
    "message": ("one routed message", check_routed_message),
    "endpoint": ("local endpoint", check_endpoint),
    "window": ("main window", check_window),
}


# --- running ---------------------------------------------------------------------------


def _need(app, what: str) -> None:
    if app is None:
        raise CheckFailed(f"skipped because {what} didn't start")


def _run_async(ctx: _Context, coro):
    """Run ``coro`` on the app's loop: qasync's when Qt is up (as the window does), else asyncio's."""
    return _ensure_loop(ctx).run_until_complete(coro)


def _ensure_loop(ctx: _Context) -> asyncio.AbstractEventLoop:
    if ctx.loop is None:
        loop = None
        if ctx.app is not None:
            try:  # the window's own loop set-up (qasync, with asyncio's async-generator hooks)
                from desktop.ui.app import make_loop

                loop = make_loop(ctx.app)
            except ImportError:
                loop = None
        if loop is None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        ctx.loop = loop
    return ctx.loop


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message else str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    if not isinstance(exc, CheckFailed):
        text = f"{type(exc).__name__}: {text}"
    return text


@contextmanager
def _isolated_env(home: Path) -> Iterator[None]:
    """A temp ROUTEDESK_HOME, and no Ollama probe of the user's machine."""
    saved = {k: os.environ.get(k) for k in ("ROUTEDESK_HOME", "OLLAMA_HOST")}
    os.environ["ROUTEDESK_HOME"] = str(home)
    os.environ["OLLAMA_HOST"] = "127.0.0.1:9"  # discard port: refused at once
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _header() -> str:
    from desktop import __version__
    from desktop.core.resources import is_frozen

    how = "frozen app" if is_frozen() else "from source"
    return (f"RouteDesk {__version__} self-test ({how}; Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()})")


def run_self_test(only: list[str] | None = None) -> int:
    """Run the checks, print each, return 0 only if all passed."""
    if only is None:
        env = os.environ.get("ROUTEDESK_SELFTEST_ONLY", "").strip()
        only = [n.strip() for n in env.split(",") if n.strip()] or None
    names = [n for n in CHECKS if only is None or n in only]
    unknown = [n for n in (only or []) if n not in CHECKS]
    if unknown:
        print(f"Unknown self-test checks: {', '.join(unknown)}. Known: {', '.join(CHECKS)}.", file=sys.stderr)
        return 2
    debug = bool(os.environ.get("ROUTEDESK_DEBUG"))
    for stream in (sys.stdout, sys.stderr):  # a Windows pipe may not take every character
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    print(_header(), flush=True)
    current = {"what": "starting"}
    watchdog = _watchdog(current)
    started = time.perf_counter()
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="routedesk-selftest-") as tmp:
        ctx = _Context(Path(tmp))
        with _isolated_env(ctx.home):
            try:
                for name in names:
                    what, fn = CHECKS[name]
                    current["what"] = what
                    t0 = time.perf_counter()
                    try:
                        detail = fn(ctx)
                    except Exception as exc:  # every failure becomes one plain line
                        failed.append(name)
                        print(f"FAIL {what}: {_reason(exc)}", flush=True)
                        if debug:
                            traceback.print_exc()
                        continue
                    ms = (time.perf_counter() - t0) * 1000
                    print(f"ok  {detail} [{ms:.0f} ms]", flush=True)
            finally:
                current["what"] = "cleaning up"
                _teardown(ctx)
    if watchdog is not None:
        watchdog.cancel()
    total = time.perf_counter() - started
    if failed:
        print(f"Self-test FAILED: {len(failed)} of {len(names)} checks failed ({', '.join(failed)}) "
              f"in {total:.1f} s.", flush=True)
        return 1
    print(f"Self-test passed: all {len(names)} checks ok in {total:.1f} s.", flush=True)
    return 0


def _watchdog(current: dict):
    """Nothing in the self-test may hang a CI run (a keyring waiting for an unlock
    prompt, a stuck socket): after ROUTEDESK_SELFTEST_TIMEOUT seconds (default 120) it
    says where it was stuck and exits 1."""
    import threading

    try:
        limit = float(os.environ.get("ROUTEDESK_SELFTEST_TIMEOUT", "120"))
    except ValueError:
        limit = 120.0
    if limit <= 0:
        return None

    def expire() -> None:
        print(f"FAIL {current['what']}: still not done after {limit:.0f} s, so the self-test gave up",
              flush=True)
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    return timer


def _teardown(ctx: _Context) -> None:
    window, ctx.window = ctx.window, None
    if window is not None:  # the window closes its engine itself, as when the user quits
        if ctx.app is not None:
            ctx.app.setQuitOnLastWindowClosed(False)  # or Qt stops the loop mid-close

        async def closed() -> None:
            window.close()
            for _ in range(500):
                if getattr(window, "_closed", True):
                    return
                await asyncio.sleep(0.01)

        try:
            _run_async(ctx, closed())
            window.deleteLater()
        except Exception:
            pass
    else:
        for engine in ctx.engines:
            with suppress(Exception):
                _run_async(ctx, engine.aclose())
    ctx.engines.clear()
    if ctx.loop is not None:
        with suppress(Exception):
            ctx.loop.run_until_complete(ctx.loop.shutdown_asyncgens())
        with suppress(Exception):
            ctx.loop.close()
        asyncio.set_event_loop(None)
    if ctx.app is not None:
        ctx.app.processEvents()
