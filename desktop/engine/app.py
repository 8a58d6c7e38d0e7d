"""The embedded routing engine: one object per app that runs a message end to end.

It saves the user's message before anything is sent, asks the router (or the
user's mode) for an ordered list of candidate models, streams from the first one,
retries what is retryable, falls back to the next candidate for what is not,
cools failing models down, prices the reported usage, and writes the answer, its
attempts and the ledger entry. Listeners (the CLI printer, the window) get events.

Everything else a user can do is a typed service on the engine (``spend``,
``providers_admin``, ``conversations``, ``pulls``, ``probes``, ``routing_admin``,
``feedback``, ``price_admin``, ``preferences``); the window and the command line only
present what they return (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.paths import database_path, ollama_base_url
from desktop.core.types import ChatMessage, ModelRef, RouteDecision, Usage
from desktop.engine.conversations import ConversationService, title_for
from desktop.engine.cooldown import Cooldowns
from desktop.engine.endpoint_clients import ClientService
from desktop.engine.endpoint_service import EndpointService
from desktop.engine.events import (
    AnswerFinished,
    AnswerResult,
    AnswerStarted,
    Listener,
)
from desktop.engine.feedback import FEEDBACK_SETTING, FeedbackService
from desktop.engine.health import HealthMonitor
from desktop.engine.history_service import HistoryService
from desktop.engine.message_run import MessageRun
from desktop.engine.preferences import Preferences
from desktop.engine.price_admin import PriceAdmin
from desktop.engine.pricing import PriceBook
from desktop.engine.probes import ProbeService
from desktop.engine.provider_admin import ProviderAdmin
from desktop.engine.provider_settings import IMPLICIT, ProviderSettings, timeout_of, timeouts_for
from desktop.engine.pulls import PullService
from desktop.engine.routing import Pair, RoutingSettings, placeholder_decision, plan_route
from desktop.engine.routing_admin import RoutingAdmin
from desktop.engine.spend import SpendService
from desktop.providers import PRESETS, Provider, Timeouts, make_provider, normalize_base_url
from desktop.storage import KeyStore, Store

__all__ = ["Engine", "new_http_client", "ProviderSettings", "PAIR_SETTING", "ROUTING_SETTING", "FEEDBACK_SETTING"]

PAIR_SETTING = "routing.pair"
ROUTING_SETTING = "routing.policy"

def new_http_client() -> httpx.AsyncClient:
    """The app's HTTP client, as ``Engine.open`` makes it (safe to call in a worker thread:
    nothing in it is bound to an event loop until its first request)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=False)


class Engine:
    def __init__(
        self,
        store: Store,
        *,
        client: httpx.AsyncClient | None = None,
        keystore: KeyStore | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        timeouts: Timeouts | None = None,
        router: Any = None,
        owns_client: bool = False,
    ) -> None:
        self.store = store
        self._client = client  # None: built on first use (``client``, ``open_client``), then owned
        self._client_building: asyncio.Future[httpx.AsyncClient] | None = None
        self.keystore = keystore if keystore is not None else KeyStore()
        self.prices = PriceBook(store)
        self.cooldowns = Cooldowns(store, clock)
        self._sleep = sleep
        self._timeouts = timeouts or Timeouts()
        self._providers: dict[str, Provider] = {}
        self._owns_client = owns_client or client is None
        self._router = router
        self._router_loaded = router is not None
        #: A HealthMonitor when the app runs one (the window); None on the command line.
        self.health: HealthMonitor | None = None
        self.spend = SpendService(store, lambda: self.pair().strong, clock)
        self.providers_admin = ProviderAdmin(self)
        self.conversations = ConversationService(store)
        self.pulls = PullService(self)
        self.probes = ProbeService(self)
        self.routing_admin = RoutingAdmin(self)
        self.feedback = FeedbackService(self)
        self.price_admin = PriceAdmin(self)
        self.preferences = Preferences(store)
        self.history = HistoryService(self)  # import and export (history_service.py)
        self.clients = ClientService(self)  # the local endpoint's tokens (endpoint_clients.py)
        self.endpoint = EndpointService(self)  # the local endpoint's server (endpoint_service.py)

    # --- construction ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        home: Path | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        keystore: KeyStore | None = None,
        **kwargs: Any,
    ) -> Engine:
        path = (Path(home) / "routedesk.sqlite3") if home is not None else database_path()
        store = Store(path)
        store.recover_interrupted()
        return cls(store, client=client, keystore=keystore, **kwargs)

    @property
    def client(self) -> httpx.AsyncClient:
        """The app's one HTTP client, shared by every provider.

        Unless one was passed in, it is built on first use rather than when the engine
        opens: building it imports httpcore and anyio and loads the CA bundle (about
        100 ms), and nothing the window shows at start, nor a command that only reads the
        database, needs it. What sends or probes awaits ``open_client`` first, which builds
        it in a worker thread instead of on the event loop."""
        if self._client is None:
            self._client = new_http_client()
        return self._client

    async def open_client(self) -> httpx.AsyncClient:
        """``client``, built in a worker thread the first time (one build however many
        callers wait for it); falls back to building it here if the thread fails."""
        if self._client is not None:
            return self._client
        if self._client_building is None:
            self._client_building = asyncio.ensure_future(asyncio.to_thread(new_http_client))
        try:
            built = await asyncio.shield(self._client_building)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._client_building = None
            return self.client
        if self._client is None:
            self._client = built
        elif built is not self._client:  # ``client`` was used meanwhile and built its own
            await built.aclose()
        return self._client

    async def aclose(self) -> None:
        await self.endpoint.stop()
        if self._client_building is not None:  # adopted (or closed) so that none is left open
            with contextlib.suppress(Exception):
                await self.open_client()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
        self.store.close()

    # --- providers ------------------------------------------------------------------

    def provider_settings(self, name: str) -> ProviderSettings:
        rec = self.store.get_provider(name)
        if rec is not None:
            return ProviderSettings(rec.name, rec.kind, rec.base_url, timeout_s=timeout_of(rec.options))
        if name in IMPLICIT:
            kind = IMPLICIT[name]
            url = ollama_base_url() if kind == "ollama" else PRESETS[kind].base_url
            return ProviderSettings(name, kind, normalize_base_url(kind, url), implicit=True)
        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"There is no provider called {name!r}.",
            Fix(FixAction.ADD_PROVIDER, {"provider": name}),
            provider=name,
        )

    def list_provider_settings(self) -> list[ProviderSettings]:
        return [ProviderSettings(r.name, r.kind, r.base_url, timeout_s=timeout_of(r.options))
                for r in self.store.list_providers()]

    def provider(self, name: str) -> Provider:
        cached = self._providers.get(name)
        if cached is not None:
            return cached
        cfg = self.provider_settings(name)
        key = None
        if cfg.preset.needs_key or not cfg.local:
            key = self.keystore.get(name)
            if key is None and cfg.preset.needs_key:
                raise RouteDeskError(
                    ErrorKind.MISCONFIGURED,
                    f"No API key is stored for {name} ({cfg.preset.display_name}).",
                    Fix(FixAction.ADD_KEY, {"provider": name, "kind": cfg.kind, "why": "missing",
                                            "base_url": cfg.base_url or "", "key_env": cfg.preset.key_env or "",
                                            "keys_url": cfg.preset.keys_url or ""}),
                    provider=name,
                )
        provider = make_provider(cfg.kind, name, cfg.base_url, key, self.client, timeouts_for(self._timeouts, cfg))
        self._providers[name] = provider
        return provider

    def cost_of(self, ref: ModelRef, usage: Usage, *, known_provider: bool = False) -> tuple[Any, Any]:
        """(cost, Price) of ``usage`` on ``ref``. A provider that no longer exists is priced
        as a remote one (override or bundled price, else unknown), or, with
        ``known_provider``, not at all: (None, None)."""
        try:
            settings = self.provider_settings(ref.provider)
            kind, local = settings.kind, settings.local
        except RouteDeskError:
            if known_provider:
                return None, None
            kind, local = None, False
        return self.prices.cost(ref, usage, provider_kind=kind, local=local)

    def forget_provider(self, name: str, *, keep_cooldowns: bool = False) -> None:
        """Call after a provider's settings or key change (a rename keeps its cooldowns)."""
        self._providers.pop(name, None)
        if not keep_cooldowns:
            self.cooldowns.clear_provider(name)
        if self.health is not None:
            self.health.forget(name)  # probe the changed provider now, not at its next slot

    # --- routing --------------------------------------------------------------------

    def pair(self) -> Pair:
        raw = self.store.get_setting(PAIR_SETTING, {}) or {}
        parse = lambda v: ModelRef.parse(v) if v else None  # noqa: E731
        return Pair(parse(raw.get("strong")), parse(raw.get("weak")))

    def set_pair(self, strong: ModelRef | None, weak: ModelRef | None) -> None:
        self.store.set_setting(PAIR_SETTING, Pair(strong, weak).to_dict())

    @property
    def router(self) -> Any:
        """The learned router with the user's feedback applied; None when its weights
        are missing (a broken install), in which case the placeholder policy answers."""
        if not self._router_loaded:
            self._router_loaded = True
            try:
                from desktop.router import FeedbackModel, load_router

                raw = self.store.get_setting(FEEDBACK_SETTING)
                feedback = FeedbackModel.from_dict(raw) if raw else None
                self._router = load_router(feedback=feedback)
            except (OSError, ValueError, KeyError):
                self._router = None
        return self._router

    def preload_router(self) -> None:
        """Read the router's files before ``router`` is first asked for: disk and numpy
        only, no SQLite, so a worker thread may call it while the window stays live."""
        if not self._router_loaded:
            from desktop.router import preload_router_files

            preload_router_files()

    def routing_settings(self) -> RoutingSettings:
        return RoutingSettings.from_dict(self.store.get_setting(ROUTING_SETTING, {}) or {})

    def set_routing_settings(self, settings: RoutingSettings) -> None:
        self.store.set_setting(ROUTING_SETTING, settings.to_dict())

    def decide(self, messages: Sequence[ChatMessage]) -> RouteDecision:
        """Score the conversation and let the user's policy (share or budget) choose."""
        router = self.router
        if router is None:
            return placeholder_decision(messages)
        score = router.score(messages)
        return self.policy().decide(score, record=False)

    def policy(self) -> Any:
        """The user's policy: a target share, or a monthly budget paced over the user's
        local calendar month (``SpendService.month``, the same figure the window shows)."""
        from desktop.router import BudgetPolicy, ShareTargetPolicy

        cfg = self.routing_settings()
        reference = self.router.reference_scores
        recent = self.store.recent_scores(500)
        if cfg.policy == "budget" and cfg.monthly_budget_usd is not None:
            month = self.spend.month()
            return BudgetPolicy(
                cfg.monthly_budget_usd, month.spent_usd, self.spend.now(), reference_scores=reference,
                recent_scores=recent, strong_cost_usd=month.strong_cost_usd,
                messages_per_day=month.messages_per_day,
            )
        return ShareTargetPolicy(cfg.target_share, reference, recent)

    # --- running a message ------------------------------------------------------------

    def context_for(self, conversation_id: int, before: int | None = None) -> list[ChatMessage]:
        """The conversation as the model should see it: its system prompt (an imported
        conversation's custom instructions), user turns and the text of earlier answers
        (complete, or the partial text the user already read); failed answers and the one
        being written are left out. With ``before``, as it stood when that message was
        being answered."""
        out: list[ChatMessage] = []
        for m in self.store.messages(conversation_id):
            if before is not None and m.id >= before:
                break
            if m.role == "system":
                out.append(ChatMessage("system", m.text))
            elif m.role == "user":
                out.append(ChatMessage("user", m.text))
            elif m.role == "assistant" and m.text and m.status in ("complete", "truncated", "interrupted", "stopped"):
                out.append(ChatMessage("assistant", m.text))
        return out

    async def send(
        self,
        conversation_id: int | None,
        text: str,
        *,
        mode: str | ModelRef = "auto",
        on_event: Listener | None = None,
    ) -> AnswerResult:
        if not text.strip():
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "The message is empty.", "Type a message first.")
        if conversation_id is None:
            conversation_id = self.store.create_conversation(title_for(text))
        user_id = self.store.add_user_message(conversation_id, text)
        return await self._answer(conversation_id, user_id, mode, on_event)

    async def regenerate(
        self, conversation_id: int, *, mode: str | ModelRef = "auto", on_event: Listener | None = None
    ) -> AnswerResult:
        """Answer the conversation's last user message again (retry, retry with strong)."""
        user_msgs = [m for m in self.store.messages(conversation_id) if m.role == "user"]
        if not user_msgs:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "This conversation has no message to answer.",
                                 "Type a message first.")
        return await self._answer(conversation_id, user_msgs[-1].id, mode, on_event)

    async def run_detached(
        self, messages: Sequence[ChatMessage], recorder: Any, *, mode: str | ModelRef = "auto",
        on_event: Listener | None = None, max_tokens: int | None = None,
    ) -> AnswerResult:
        """Answer ``messages`` as given (a local tool's request through the endpoint) with the
        same routing, attempts, fallbacks, cooldowns and billing as ``send``, written through
        ``recorder`` (``endpoint_recorder.Recorder``) instead of the chat history."""
        return await self._answer(recorder.conversation_id, recorder.user_message_id, mode, on_event,
                                  context=list(messages), rec=recorder, max_tokens=max_tokens)

    async def _answer(
        self, conversation_id: int, user_id: int, mode: str | ModelRef, on_event: Listener | None,
        *, context: list[ChatMessage] | None = None, rec: Any = None, max_tokens: int | None = None,
    ) -> AnswerResult:
        emit = on_event or (lambda _e: None)
        rec = self.store if rec is None else rec
        context = self.context_for(conversation_id) if context is None else context
        try:
            plan = plan_route(mode, self.pair(), lambda: self.decide(context))
        except RouteDeskError as err:
            decision = RouteDecision("fixed", None, None, "no model to send to", "none")
            msg_id = rec.start_answer(conversation_id, route=decision, model=None)
            emit(AnswerStarted(conversation_id, user_id, msg_id, decision))
            result = AnswerResult(conversation_id, user_id, msg_id, "error", "", None, decision, None, None, None,
                                  error=err.info())
            self._finish(result, rec)
            emit(AnswerFinished(result))
            return result

        msg_id = rec.start_answer(conversation_id, route=plan.decision, model=plan.candidates[0])
        emit(AnswerStarted(conversation_id, user_id, msg_id, plan.decision))
        run = MessageRun(self, conversation_id, user_id, msg_id, plan, context, emit, rec, max_tokens)
        try:
            await self.open_client()
            result = await run.go()
        except asyncio.CancelledError:
            result = run.stopped_result()
            self._finish(result, rec)
            emit(AnswerFinished(result))
            raise
        except Exception as exc:  # not the provider's failure (a listener's bug): close the row, then raise
            self._finish(run.broken_result(exc), rec)
            raise
        self._finish(result, rec)
        emit(AnswerFinished(result))
        return result

    def _finish(self, r: AnswerResult, rec: Any = None) -> None:
        (self.store if rec is None else rec).finish_answer(
            r.message_id,
            text=r.text,
            status=r.status,
            model=r.model,
            usage=r.usage,
            cost_usd=r.cost_usd,
            error=r.error,
            ttft_ms=r.ttft_ms,
            fallback_used=r.fallback_used,
            route=r.route,
            served_model=r.served_model,
        )
