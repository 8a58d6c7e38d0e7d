"""The window's controller: the one place that talks to the Engine.

Widgets get this object (or one of its view models) in ``__init__`` and subscribe to
signals; they never call the engine or the store themselves. Everything async runs
as tasks on the single qasync loop.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.ui.models import (
    ChatSession,
    ConversationListModel,
    ConversationRow,
    Failure,
    HealthModel,
    MessageItem,
    ProviderHealth,
    PullProgress,
    RoutingState,
    SpendPoint,
    SpendSeries,
)

__all__ = ["AppController", "ENV_KEYS", "FEEDBACK_KIND", "POLICY_SETTING", "UI_SETTING"]

log = logging.getLogger(__name__)

#: Environment variables we offer to import into the keyring (never used silently).
ENV_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "openrouter": "OPENROUTER_API_KEY"}
FEEDBACK_KIND = "thumbs"
POLICY_SETTING = "routing.policy"  # same key as desktop.engine.app.ROUTING_SETTING
PAIR_SETTING = "routing.pair"
UI_SETTING = "ui.state"
MODE_SETTING = "ui.mode"
LOAD_PAGE = 200  # messages read from the database at a time


def _ts(dt: datetime | None) -> float:
    if dt is None:
        return datetime.now(UTC).timestamp()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def item_from_record(rec: Any) -> MessageItem:
    failures = []
    for a in getattr(rec, "attempts", ()) or ():
        err = getattr(a, "error", None)
        if err is not None:
            failures.append(Failure(getattr(a, "ref", None), err, False))
    return MessageItem(
        role=rec.role,
        text=rec.text or "",
        id=rec.id,
        status=rec.status if rec.role == "assistant" else "complete",
        model=getattr(rec, "model", None),
        route=getattr(rec, "route", None),
        usage=getattr(rec, "usage", None),
        cost_usd=getattr(rec, "cost_usd", None),
        ttft_ms=getattr(rec, "ttft_ms", None),
        error=getattr(rec, "error", None),
        failures=failures,
        fallback_used=bool(getattr(rec, "fallback_used", False)),
        created_at=getattr(rec, "created_at", None),
    )


def health_from_report(r: Any) -> ProviderHealth:
    """The engine's HealthReport as the widget's model."""
    status = {"misconfigured": "down"}.get(r.status, r.status)
    words = {"ok": "is working", "degraded": "is slow or partly failing", "down": "is not working",
             "misconfigured": "needs setting up", "unknown": "has not been checked"}
    checked = datetime.fromtimestamp(r.checked_at) if r.checked_at else None
    return ProviderHealth(
        name=r.name, kind=r.kind, status=status, summary=f"{r.name} {words.get(r.status, r.status)}",
        explanation=r.explanation, fix=r.fix, models=list(getattr(r, "model_names", ()) or ()),
        local=bool(r.local), checked_at=checked, latency_ms=r.latency_ms,
    )


class AppController(QObject):
    notice = Signal(str)  # a short line for the status bar
    undo_offered = Signal(str, object)  # text, callable that undoes
    settings_requested = Signal(str)  # provider name ("" for the list)
    busy_changed = Signal(bool)
    providers_changed = Signal()
    answer_finished = Signal(object)  # AnswerResult (or MessageItem on a local error)
    conversation_changed = Signal(object)  # id or None

    def __init__(self, engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.store = engine.store
        self.session = ChatSession(self)
        self.conversations = ConversationListModel(self)
        self.routing = RoutingState(self)
        self.spend = SpendSeries(self)
        self.health = HealthModel(self)
        self.search_query = ""
        self._task: asyncio.Task | None = None
        self._live_items: list[MessageItem] | None = None  # the streaming conversation's items
        self._live_conv: int | None = None
        self._bg: set[asyncio.Task] = set()
        self._closed = False
        self.load_routing()

    # --- helpers ---------------------------------------------------------------------
    def spawn(self, coro) -> asyncio.Task | None:
        if self._closed:
            coro.close()
            return None
        task = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg_done)
        return task

    def _bg_done(self, task: asyncio.Task) -> None:
        self._bg.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("background task failed", exc_info=exc)
            self.notice.emit(f"Something went wrong: {exc}")

    def setting(self, key: str, default=None):
        try:
            return self.store.get_setting(key, default)
        except Exception:  # a closed store during shutdown
            return default

    def set_setting(self, key: str, value) -> None:
        self.store.set_setting(key, value)

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- conversations ---------------------------------------------------------------
    def refresh_conversations(self) -> None:
        if self.search_query:
            self.search(self.search_query)
            return
        rows = [ConversationRow(c.id, c.title or "Untitled", c.updated_at) for c in self.store.list_conversations()]
        self.conversations.set_rows(rows)

    def search(self, query: str) -> None:
        self.search_query = query.strip()
        if not self.search_query:
            self.refresh_conversations()
            return
        try:
            hits = self.store.search(self.search_query)
        except Exception as exc:  # FTS syntax the user typed by accident
            log.info("search failed: %s", exc)
            hits = []
        rows = [
            ConversationRow(h.conversation_id, h.conversation_title or "Untitled", h.created_at,
                            snippet=h.snippet.replace("\n", " ")[:120], message_id=h.message_id)
            for h in hits
        ]
        self.conversations.set_rows(rows)

    def new_conversation(self) -> None:
        self.session.set_items(None, [], "")
        self.conversation_changed.emit(None)

    def _page(self, conversation_id: int, before_id: int | None = None, limit: int = LOAD_PAGE) -> tuple[list, bool]:
        return self.store.messages_page(conversation_id, before_id=before_id, limit=limit)

    @staticmethod
    def _items(records) -> list[MessageItem]:
        items = [item_from_record(r) for r in records]
        prompt = ""
        for it in items:
            if it.role == "user":
                prompt = it.text
            else:
                it.prompt = prompt
        return items

    def open_conversation(self, conversation_id: int | None) -> None:
        if conversation_id is None:
            self.new_conversation()
            return
        more = False
        if self._live_conv == conversation_id and self._live_items is not None:
            items = self._live_items
        else:
            records, more = self._page(conversation_id)
            items = self._items(records)
        title = ""
        for c in self.conversations.rows:
            if c.id == conversation_id:
                title = c.title
        self.session.set_items(conversation_id, items, title, more_before=more)
        self.set_setting("ui.last_conversation", conversation_id)
        self.conversation_changed.emit(conversation_id)

    def load_earlier(self) -> int:
        """Put the previous page of the open conversation in front; returns how many."""
        s = self.session
        if s.conversation_id is None or not s.more_before:
            return 0
        first = next((i.id for i in s.items if i.id is not None), None)
        records, more = self._page(s.conversation_id, before_id=first)
        s.prepend(self._items(records), more)
        return len(records)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        title = title.strip()
        if not title:
            return
        self.store.rename_conversation(conversation_id, title)
        if self.session.conversation_id == conversation_id:
            self.session.title = title
        self.refresh_conversations()

    def delete_conversation(self, conversation_id: int) -> None:
        title = next((r.title for r in self.conversations.rows if r.id == conversation_id), "conversation")
        self.store.delete_conversation(conversation_id)
        if self.session.conversation_id == conversation_id:
            self.new_conversation()
        self.refresh_conversations()

        def undo() -> None:
            self.store.restore_conversation(conversation_id)
            self.refresh_conversations()
            self.open_conversation(conversation_id)

        self.undo_offered.emit(f"Deleted “{title}”.", undo)

    # --- routing ---------------------------------------------------------------------
    def load_routing(self) -> None:
        r = self.routing
        try:
            pair = self.engine.pair()
            r.strong, r.weak = pair.strong, pair.weak
        except Exception:
            r.strong = r.weak = None
        cfg = self._routing_settings()
        r.control = "budget" if cfg.get("policy") == "budget" else "share"
        if cfg.get("target_share") is not None:
            r.target_share = float(cfg["target_share"])
        if cfg.get("monthly_budget_usd") is not None:
            r.monthly_budget = Decimal(str(cfg["monthly_budget_usd"]))
        mode = self.setting(MODE_SETTING, "auto")
        r.mode = ModelRef.parse(mode) if isinstance(mode, str) and "/" in mode else (mode or "auto")
        r.models = self.known_models()
        r.changed.emit()

    def known_models(self) -> list[ModelRef]:
        refs: list[ModelRef] = []
        for ref in (self.routing.strong, self.routing.weak):
            if ref is not None and ref not in refs:
                refs.append(ref)
        for name, models in (self.setting("ui.models_cache", {}) or {}).items():
            for m in models:
                ref = ModelRef(name, m)
                if ref not in refs:
                    refs.append(ref)
        return refs

    def set_mode(self, mode: str | ModelRef) -> None:
        self.routing.mode = mode
        self.set_setting(MODE_SETTING, str(mode))
        self.routing.changed.emit()

    def _routing_settings(self) -> dict:
        if hasattr(self.engine, "routing_settings"):
            return self.engine.routing_settings().to_dict()
        return dict(self.setting(POLICY_SETTING, {}) or {})

    def set_policy(self, control: str, *, target_share: float | None = None, monthly_usd: Decimal | None = None) -> None:
        """The cost-quality control: a target share of strong calls, or a monthly budget."""
        r = self.routing
        r.control = control
        if target_share is not None:
            r.target_share = max(0.0, min(1.0, target_share))
        if monthly_usd is not None:
            r.monthly_budget = monthly_usd
        value = {"policy": control, "target_share": r.target_share,
                 "monthly_budget_usd": None if r.monthly_budget is None else str(r.monthly_budget)}
        if hasattr(self.engine, "set_routing_settings"):
            from desktop.engine.routing import RoutingSettings

            self.engine.set_routing_settings(RoutingSettings.from_dict(value))
        else:
            self.set_setting(POLICY_SETTING, value)
        r.changed.emit()

    def set_pair(self, strong: ModelRef | None, weak: ModelRef | None) -> None:
        self.engine.set_pair(strong, weak)
        self.load_routing()

    # --- sending ---------------------------------------------------------------------
    def send(self, text: str, mode: str | ModelRef | None = None) -> bool:
        text = text.strip()
        if not text or self.busy:
            return False
        mode = self.routing.mode if mode is None else mode
        user = MessageItem(role="user", text=text)
        answer = MessageItem(role="assistant", status="pending", prompt=text, mode=mode)
        self.session.append(user)
        self.session.append(answer)
        conv = self.session.conversation_id
        self._start(self.engine.send(conv, text, mode=mode, on_event=self._listener(answer, user)), answer)
        return True

    def regenerate(self, mode: str | ModelRef | None = None, *, prompt: str = "") -> bool:
        """Answer the conversation's last user message again."""
        conv = self.session.conversation_id
        if conv is None or self.busy:
            return False
        mode = self.routing.mode if mode is None else mode
        if not prompt:
            prompt = next((i.text for i in reversed(self.session.items) if i.role == "user"), "")
        answer = MessageItem(role="assistant", status="pending", prompt=prompt, mode=mode)
        self.session.append(answer)
        if hasattr(self.engine, "regenerate"):
            coro = self.engine.regenerate(conv, mode=mode, on_event=self._listener(answer, None))
        else:  # older engine: send the same text again
            coro = self.engine.send(conv, prompt, mode=mode, on_event=self._listener(answer, None))
        self._start(coro, answer)
        return True

    def retry_strong(self, item: MessageItem | None = None) -> bool:
        """Answer again with the strong model; on a weak answer this also tells the
        router that the weak model was not good enough."""
        if self.busy:
            return False
        if item is not None and item.id is not None and item.status != "error":
            self._give_feedback(item.id, "retry_strong")
        return self.regenerate("strong")

    def _give_feedback(self, message_id: int, kind: str) -> None:
        try:
            if hasattr(self.engine, "give_feedback"):
                self.engine.give_feedback(message_id, kind)
            else:
                self.store.add_feedback(message_id, -1 if "down" in kind or kind == "retry_strong" else 1, kind)
        except RouteDeskError as err:
            self.notice.emit(err.message)

    def answer_with_other(self, item: MessageItem) -> bool:
        other = self.other_model_for(item)
        if other is None:
            return False
        r = self.routing
        return self.regenerate("strong" if other == r.strong else "weak" if other == r.weak else other)

    def other_model_for(self, item: MessageItem) -> ModelRef | None:
        """The pair's model that did not fail on this answer (None when both did)."""
        r = self.routing
        # a model skipped because it failed moments ago counts as failed: it would be skipped again
        failed = {a.model for a in item.attempts if getattr(a, "error", None) is not None}
        if not item.attempts:
            failed = {f.model for f in item.failures}
        if item.status == "interrupted" and item.model is not None:
            failed.add(item.model)
        first = r.weak if (item.route and item.route.choice == "strong") else r.strong
        for ref in (first, r.strong, r.weak):
            if ref is not None and ref not in failed:
                return ref
        return None

    def stop(self) -> bool:
        if self.busy:
            self._task.cancel()
            return True
        return False

    def feedback(self, item: MessageItem, value: int) -> None:
        """Thumbs up (1) / down (-1) on an answer; 0 only clears the buttons."""
        if item.id is None:
            return
        item.feedback = value
        if value:
            weak = (item.route is not None and item.route.choice == "weak") or (
                item.model is not None and item.model == self.routing.weak)
            kind = f"{FEEDBACK_KIND}_{'up' if value > 0 else 'down'}" + ("_weak" if weak else "")
            self._give_feedback(item.id, kind)
        self.session.changed.emit(item)
        self.notice.emit("Thanks — the router learns from this." if value else "")

    def _listener(self, answer: MessageItem, user: MessageItem | None) -> Callable:
        from desktop.engine.events import AnswerDelta, AnswerFinished, AnswerStarted, AttemptFailed, AttemptStarted

        session = self.session

        def on_event(ev) -> None:
            if isinstance(ev, AnswerDelta):
                if answer.status != "streaming":
                    answer.status = "streaming"
                    session.changed.emit(answer)
                answer.text += ev.text
                session.delta.emit(answer)
            elif isinstance(ev, AnswerStarted):
                answer.id = ev.message_id
                answer.route = ev.route
                if user is not None:
                    user.id = ev.user_message_id
                if session.conversation_id is None and session.items and answer in session.items:
                    session.conversation_id = ev.conversation_id
                    self.set_setting("ui.last_conversation", ev.conversation_id)
                    self.conversation_changed.emit(ev.conversation_id)
                if self._live_items is None or session.conversation_id == ev.conversation_id:
                    self._live_conv = ev.conversation_id
                    self._live_items = session.items if session.conversation_id == ev.conversation_id else self._live_items
                self.refresh_conversations()
                session.changed.emit(answer)
            elif isinstance(ev, AttemptStarted):
                answer.model = ev.model
                if answer.text and answer.status == "streaming":
                    pass
                session.changed.emit(answer)
            elif isinstance(ev, AttemptFailed):
                answer.failures.append(Failure(ev.model, ev.error, ev.will_retry))
                session.changed.emit(answer)
            elif isinstance(ev, AnswerFinished):
                self._apply_result(answer, ev.result)

        return on_event

    def _apply_result(self, answer: MessageItem, r) -> None:
        answer.id = r.message_id
        answer.status = r.status
        answer.text = r.text if (r.text or answer.status != "stopped") else answer.text
        answer.model = r.model
        answer.route = r.route
        answer.usage = r.usage
        answer.cost_usd = r.cost_usd
        answer.price_source = r.price_source
        answer.ttft_ms = r.ttft_ms
        answer.error = r.error
        answer.attempts = list(r.attempts)
        answer.fallback_used = r.fallback_used
        # keep only the final failure per model that was not retried, plus retries info
        self.session.changed.emit(answer)

    def _start(self, coro, answer: MessageItem) -> None:
        self._task = asyncio.ensure_future(self._run(coro, answer))
        self.busy_changed.emit(True)

    async def _run(self, coro, answer: MessageItem) -> None:
        result = None
        try:
            result = await coro
        except asyncio.CancelledError:
            if answer.status in ("pending", "streaming"):
                answer.status = "stopped"
                self.session.changed.emit(answer)
            if self._closed:
                raise
        except RouteDeskError as err:
            answer.status = "error"
            answer.error = err.info()
            self.session.changed.emit(answer)
        except Exception as exc:  # a bug must not leave the input locked
            log.exception("send failed")
            answer.status = "error"
            answer.error = ErrorInfo(
                ErrorKind.BAD_RESPONSE.value,
                f"RouteDesk hit an unexpected problem: {exc.__class__.__name__}: {exc}",
                "Try again. If it keeps happening, run `routedesk ask` in a terminal to see more.",
            )
            self.session.changed.emit(answer)
        finally:
            self._live_items = None
            self._live_conv = None
            if not self._closed:
                self.busy_changed.emit(False)
                try:
                    self.refresh_conversations()
                    self.refresh_spend()
                except Exception:
                    log.exception("refresh after answer failed")
                self.answer_finished.emit(result if result is not None else answer)

    # --- spend -----------------------------------------------------------------------
    def set_spend_range(self, key: str) -> None:
        self.spend.range = key
        self.refresh_spend()

    def refresh_spend(self) -> None:
        now = datetime.now(UTC)
        if self.spend.range == "today":
            local = datetime.now().astimezone()
            since = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        elif self.spend.range == "7d":
            since = now - timedelta(days=7)
        else:
            since = now - timedelta(days=30)
        try:
            entries = self.store.ledger(since=since)
        except TypeError:
            entries = [e for e in self.store.ledger() if _ts(e.created_at) >= since.timestamp()]
        points = []
        pair_strong = self.routing.strong
        for e in entries:
            cost = e.cost_usd if e.cost_usd is not None else Decimal(0)
            strong = e.strong_cost_usd if e.strong_cost_usd is not None else cost
            forced = e.choice == "fixed" and pair_strong is not None and e.ref == pair_strong
            points.append(SpendPoint(_ts(e.created_at), e.choice, Decimal(cost), Decimal(strong), forced))
        self.spend.set_points(points)

    def month_spend(self) -> Decimal:
        local = datetime.now().astimezone()
        since = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        try:
            return self.store.spend_total(since=since)
        except Exception:
            return Decimal(0)

    # --- providers and keys ------------------------------------------------------------
    def providers(self) -> list:
        return list(self.store.list_providers())

    def has_any_provider(self) -> bool:
        return bool(self.providers()) or self.routing.weak is not None or self.routing.strong is not None

    def env_keys(self) -> dict[str, str]:
        """Provider kind -> env var name, for keys present in the environment."""
        return {kind: var for kind, var in ENV_KEYS.items() if os.environ.get(var, "").strip()}

    def import_env_key(self, kind: str, name: str | None = None) -> str:
        var = ENV_KEYS[kind]
        key = os.environ.get(var, "").strip()
        if not key:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{var} is empty.", f"Set {var} or paste the key in Settings.")
        name = name or kind
        self.save_provider(name, kind, None, key)
        return name

    def save_provider(self, name: str, kind: str, base_url: str | None, key: str | None, *, original: str | None = None) -> None:
        """Add or update a provider; ``key`` None keeps the stored key, "" deletes it."""
        from desktop.providers import normalize_base_url

        url = normalize_base_url(kind, base_url)
        if key:  # the keyring first: a provider without its key is worse than none
            self.engine.keystore.set(name, key)
        if original and original != name and self.store.get_provider(original) is not None:
            if not key:  # renamed without a new key: the key moves with it
                old_key = self.engine.keystore.get(original)
                if old_key:
                    self.engine.keystore.set(name, old_key)
            self.remove_provider(original, keep_key=False)
            pair = self.engine.pair()
            moved = [ModelRef(name, r.model) if r is not None and r.provider == original else r
                     for r in (pair.strong, pair.weak)]
            if moved != [pair.strong, pair.weak]:
                self.engine.set_pair(*moved)
            cache = dict(self.setting("ui.models_cache", {}) or {})
            if original in cache:
                cache[name] = cache.pop(original)
                self.set_setting("ui.models_cache", cache)
            self.load_routing()
        if self.store.get_provider(name) is None:
            self.store.add_provider(name, kind, url)
        else:
            self.store.update_provider(name, kind=kind, base_url=url)
        if key == "":
            try:
                self.engine.keystore.delete(name)
            except RouteDeskError:
                pass
        self.engine.forget_provider(name)
        self.providers_changed.emit()

    def remove_provider(self, name: str, *, keep_key: bool = False) -> None:
        self.store.remove_provider(name)
        if not keep_key:
            try:
                self.engine.keystore.delete(name)
            except Exception:
                pass
        self.engine.forget_provider(name)
        self.providers_changed.emit()

    def stored_key(self, name: str) -> str | None:
        return self.engine.keystore.get(name)

    def make_provider(self, name: str, kind: str, base_url: str | None, key: str | None):
        from desktop.providers import make_provider, normalize_base_url

        return make_provider(kind, name, normalize_base_url(kind, base_url), key, self.engine.client)

    async def test_connection(self, name: str, kind: str, base_url: str | None, key: str | None) -> tuple[bool, str, list[str]]:
        """Plain words: (ok, sentence, models)."""
        from desktop.providers import PRESETS

        preset = PRESETS.get(kind)
        label = preset.display_name if preset else kind
        try:
            if preset is not None and preset.needs_key and not key:
                raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{label} needs an API key and none is filled in.",
                                     f"Paste your key{' from ' + preset.keys_url if preset.keys_url else ''}.")
            provider = self.make_provider(name, kind, base_url, key)
            version = await provider.check()
            models = sorted(m.ref.model for m in await provider.list_models())
        except RouteDeskError as err:
            try:
                from desktop.engine.explain import explain

                err = explain(err, provider_kind=kind, base_url=base_url, fallback=None)
            except Exception:
                pass
            return False, f"{err.message} {err.fix}".strip(), []
        except Exception as exc:
            return False, f"Could not reach {label}: {exc}", []
        self.cache_models(name, models)
        found = f"{len(models)} model{'s' if len(models) != 1 else ''} available"
        ver = f" (version {version})" if version else ""
        return True, f"Connected to {label}{ver}. {found}.", models

    def cache_models(self, name: str, models: list[str]) -> None:
        cache = dict(self.setting("ui.models_cache", {}) or {})
        cache[name] = list(models)
        self.set_setting("ui.models_cache", cache)
        self.routing.models = self.known_models()
        self.routing.changed.emit()

    # --- prices ----------------------------------------------------------------------
    def price_rows(self, name: str, kind: str, models: list[str]) -> list[tuple[ModelRef, Any]]:
        from desktop.providers import PRESETS

        local = bool(PRESETS[kind].local) if kind in PRESETS else False
        return [(ModelRef(name, m), self.engine.prices.price(ModelRef(name, m), provider_kind=kind, local=local)) for m in models]

    def set_price(self, ref: ModelRef, input_per_mtok: Decimal, output_per_mtok: Decimal) -> None:
        self.store.set_price_override(ref, input_per_mtok, output_per_mtok)
        self.notice.emit(f"New price for {ref}: ${input_per_mtok}/M in, ${output_per_mtok}/M out. The next message uses it.")

    def clear_price(self, ref: ModelRef) -> None:
        self.store.delete_price_override(ref)

    # --- health and local models --------------------------------------------------------
    # the engine's background monitor (run_app starts it; tests may) ------------------------
    def start_health_monitor(self, **kwargs) -> bool:
        """Probe providers in the background with the engine's HealthMonitor and mirror
        its reports into ``self.health``; the engine also uses it to skip providers that
        are down. Returns False when the engine has no monitor support."""
        try:
            from desktop.engine.health import HealthMonitor
        except ImportError:
            return False
        if not hasattr(self.engine, "health"):
            return False
        mon = self.engine.health
        if mon is None:
            mon = HealthMonitor(self.engine, **kwargs)
            self.engine.health = mon
        self._unsubscribe = [mon.subscribe(lambda _r: self._mirror_monitor()),
                             mon.subscribe_models(lambda _n, _m: self._mirror_monitor())]
        mon.start()
        return True

    @property
    def monitor(self):
        mon = getattr(self.engine, "health", None)
        return mon if mon is not None and getattr(mon, "running", False) else None

    def _mirror_monitor(self) -> None:
        mon = self.monitor
        if mon is None or self._closed:
            return
        items = [health_from_report(r) for r in mon.reports()]
        local: list[str] = []
        for h in items:
            models = mon.models(h.name)
            if models is not None:
                h.models = sorted(m.ref.model for m in models)
            if h.local and h.status in ("ok", "degraded"):
                local.extend(h.models)
        self.health.set_all(items, local)

    async def check_health(self) -> None:
        self.health.checking = True
        self.health.changed.emit()
        try:
            if self.monitor is not None:
                await self.monitor.probe_now()
                self._mirror_monitor()
                return
            try:
                from desktop.engine.health import probe_all
            except ImportError:  # the engine's probes are not there yet: probe from here
                probe_all = None
            if probe_all is not None:
                reports = await probe_all(self.engine)
                items = [health_from_report(r) for r in reports]
                local = [m for h in items if h.local and h.status in ("ok", "degraded") for m in h.models]
                self.health.set_all(items, local)
                cache = dict(self.setting("ui.models_cache", {}) or {})
                fresh = {h.name: sorted(h.models) for h in items if h.models}
                if any(cache.get(k) != v for k, v in fresh.items()):
                    cache.update(fresh)
                    self.set_setting("ui.models_cache", cache)
                    self.routing.models = self.known_models()
                    self.routing.changed.emit()
            else:
                await self._check_health_here()
        finally:
            self.health.checking = False
            self.health.changed.emit()

    async def _check_health_here(self) -> None:
        items: list[ProviderHealth] = []
        names = [(p.name, p.kind, p.base_url) for p in self.providers()]
        if not any(k == "ollama" for _, k, _ in names):
            from desktop.core.paths import ollama_base_url

            names.append(("ollama", "ollama", ollama_base_url()))
        local_models: list[str] = []
        results = await asyncio.gather(*(self._probe(n, k, u) for n, k, u in names), return_exceptions=True)
        for (n, k, u), h in zip(names, results):
            if isinstance(h, BaseException):
                h = ProviderHealth(n, k, "down", "Check failed", str(h))
            items.append(h)
            if h.local and h.status == "ok":
                local_models.extend(h.models)
        self.health.set_all(items, local_models)

    async def _probe(self, name: str, kind: str, base_url: str | None) -> ProviderHealth:
        import time

        from desktop.providers import PRESETS

        preset = PRESETS.get(kind)
        local = bool(preset.local) if preset else False
        label = preset.display_name if preset else kind
        key = None
        if preset is not None and (preset.needs_key or not preset.local):
            try:
                key = self.engine.keystore.get(name)
            except RouteDeskError as err:
                return ProviderHealth(name, kind, "down", "Keyring unavailable", err.message, err.fix, local=local,
                                      checked_at=datetime.now())
        t0 = time.perf_counter()
        ok, sentence, models = await self.test_connection(name, kind, base_url, key)
        ms = (time.perf_counter() - t0) * 1000
        if ok:
            return ProviderHealth(name, kind, "ok", f"{label} is working", sentence, "", models, local,
                                  datetime.now(), ms)
        msg, _, fix = sentence.partition(". ")
        return ProviderHealth(name, kind, "down", f"{label} is not answering" if local else f"{label} has a problem",
                              msg + ".", fix, [], local, datetime.now(), ms)

    async def pull_model(self, model: str, base_url: str | None = None) -> None:
        """Ollama's /api/pull, streamed into ``health.pull_progress``."""
        from desktop.core.paths import ollama_base_url

        try:
            from desktop.engine.catalog import pull_progress
        except ImportError:
            pull_progress = None
        if pull_progress is not None:
            agen = pull_progress(self.engine, ModelRef("ollama", model))
            try:
                async for p in agen:
                    self.health.pull_progress.emit(PullProgress(getattr(p, "status", str(p)),
                                                                getattr(p, "completed", None), getattr(p, "total", None)))
            except RouteDeskError as err:
                self.health.pull_progress.emit(PullProgress("failed", done=True, error=f"{err.message} {err.fix}".strip()))
                return
            finally:
                await agen.aclose()
            self.health.pull_progress.emit(PullProgress("success", done=True))
            self.notice.emit(f"Pulled {model}.")
            await self.check_health()
            return
        url = (base_url or ollama_base_url()).rstrip("/") + "/api/pull"
        try:
            async with self.engine.client.stream("POST", url, json={"model": model, "stream": True}, timeout=None) as resp:
                if resp.status_code != 200:
                    body = (await resp.aread()).decode("utf-8", "replace")[:200]
                    raise RuntimeError(f"Ollama answered {resp.status_code}: {body}")
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    data = json.loads(line)
                    if "error" in data:
                        raise RuntimeError(data["error"])
                    self.health.pull_progress.emit(PullProgress(data.get("status", ""), data.get("completed"), data.get("total")))
        except Exception as exc:
            msg = str(exc)
            if "connect" in msg.lower() or exc.__class__.__name__ in ("ConnectError", "ConnectTimeout"):
                msg = "Ollama isn't running. Start it with `ollama serve`, or open the Ollama app."
            self.health.pull_progress.emit(PullProgress("failed", done=True, error=msg))
            return
        self.health.pull_progress.emit(PullProgress("success", done=True))
        self.notice.emit(f"Pulled {model}.")
        await self.check_health()

    # --- warm-up --------------------------------------------------------------------------
    async def prewarm(self) -> None:
        """Load what the first answer would otherwise load on the UI thread (the price
        data, the router's modules), so it never stalls a stream. Only imports run in the
        worker thread: the Store's SQLite connection belongs to this thread, so the
        router itself (it reads the feedback setting) is built here afterwards (~20 ms)."""

        def work() -> None:
            for name in ("genai_prices", "genai_prices.data", "desktop.router"):
                try:
                    __import__(name)
                except Exception:
                    pass

        await asyncio.to_thread(work)
        if self._closed:
            return
        try:
            _ = self.engine.router  # the weights (numpy) and the user's feedback
        except Exception:
            log.exception("loading the router failed")
        # what is loaded by now lives as long as the app: keep the cyclic GC from rescanning
        # it during streams (a full collection over the price tables stalls the loop)
        import gc

        gc.collect()
        gc.freeze()

    # --- shutdown ------------------------------------------------------------------------
    async def aclose(self) -> None:
        if self._closed:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._closed = True
        mon = getattr(self.engine, "health", None)
        if mon is not None and hasattr(mon, "stop"):
            # bounded: quitting must never hang on a background probe
            stopping = asyncio.ensure_future(mon.stop())
            done, _ = await asyncio.wait({stopping}, timeout=2.0)
            if not done:
                log.warning("the health monitor did not stop within 2 s; closing anyway")
            elif stopping.exception() is not None:
                log.error("stopping the health monitor failed", exc_info=stopping.exception())
        for t in list(self._bg):
            t.cancel()
        if self._bg:
            await asyncio.gather(*self._bg, return_exceptions=True)
        try:
            self.store.purge_deleted()
        except Exception:
            pass
        await self.engine.aclose()


def signature_has(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
