"""The window's controller: the one place the window talks to the Engine.

Widgets get this object (or one of its view models) in ``__init__`` and subscribe to
signals; they never call the engine themselves. Every operation is one of the engine's
services (``engine.conversations``, ``engine.spend``, ``engine.providers_admin``, ...),
the same ones the command line calls; this class only turns their typed results into
view-model state. Everything async runs as tasks on the single qasync loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.ui.controller_admin import AdminActions, health_from_report
from desktop.ui.models import (
    ChatSession,
    ConversationListModel,
    ConversationRow,
    Failure,
    HealthModel,
    MessageItem,
    RoutingState,
    SpendPoint,
    SpendSeries,
)

__all__ = ["AppController", "item_from_record", "health_from_report"]

log = logging.getLogger(__name__)

LAST_CONVERSATION = "ui.last_conversation"


def item_from_record(rec: Any) -> MessageItem:
    """A stored message (``desktop.storage.MessageRecord``) as the chat's item."""
    from desktop.engine.events import Notice

    failures = [Failure(a.ref, a.error, False) for a in rec.attempts if a.error is not None]
    return MessageItem(
        role=rec.role,
        text=rec.text or "",
        id=rec.id,
        status=rec.status if rec.role == "assistant" else "complete",
        model=rec.model,
        route=rec.route,
        usage=rec.usage,
        cost_usd=rec.cost_usd,
        ttft_ms=rec.ttft_ms,
        error=rec.error,
        failures=failures,
        fallback_used=bool(rec.fallback_used),
        created_at=rec.created_at,
        served_model=getattr(rec, "served_model", None),
        notice=Notice.truncated(rec.model) if rec.status == "truncated" and rec.model is not None else None,
    )


class AppController(QObject, AdminActions):
    notice = Signal(str)  # a short line for the status bar
    undo_offered = Signal(str, object)  # text, callable that undoes
    settings_requested = Signal(str)  # provider name ("" for the list)
    busy_changed = Signal(bool)
    providers_changed = Signal()
    answer_finished = Signal(object)  # AnswerResult (or MessageItem on a local error)
    conversation_changed = Signal(object)  # id or None

    def __init__(self, engine: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
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
        self._warm: asyncio.Task | None = None  # the warm-up, started once (warm_up())
        self._unsubscribe: list[Callable[[], None]] = []
        self._closed = False
        self.load_routing()

    # --- helpers ---------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task | None:
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

    def setting(self, key: str, default: Any = None) -> Any:
        """A window preference (``ui.*``)."""
        try:
            return self.engine.preferences.get(key, default)
        except Exception:  # a closed store during shutdown
            return default

    def set_setting(self, key: str, value: Any) -> None:
        self.engine.preferences.set(key, value)

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- conversations ---------------------------------------------------------------
    def refresh_conversations(self) -> None:
        if self.search_query:
            self.search(self.search_query)
            return
        rows = [ConversationRow(c.id, c.title or "Untitled", c.updated_at) for c in self.engine.conversations.list()]
        self.conversations.set_rows(rows)

    def search(self, query: str) -> None:
        self.search_query = query.strip()
        if not self.search_query:
            self.refresh_conversations()
            return
        rows = [
            ConversationRow(h.conversation_id, h.conversation_title or "Untitled", h.created_at,
                            snippet=h.snippet[:120], message_id=h.message_id)
            for h in self.engine.conversations.search(self.search_query)
        ]
        self.conversations.set_rows(rows)

    def new_conversation(self) -> None:
        self.session.set_items(None, [], "")
        self.conversation_changed.emit(None)

    @staticmethod
    def _items(records: Any) -> list[MessageItem]:
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
            page = self.engine.conversations.page(conversation_id)
            items, more = self._items(page.messages), page.more_before
        title = next((c.title for c in self.conversations.rows if c.id == conversation_id), "")
        self.session.set_items(conversation_id, items, title, more_before=more)
        self.set_setting(LAST_CONVERSATION, conversation_id)
        self.conversation_changed.emit(conversation_id)

    def load_earlier(self) -> int:
        """Put the previous page of the open conversation in front; returns how many."""
        s = self.session
        if s.conversation_id is None or not s.more_before:
            return 0
        first = next((i.id for i in s.items if i.id is not None), None)
        page = self.engine.conversations.page(s.conversation_id, before_id=first)
        s.prepend(self._items(page.messages), page.more_before)
        return len(page.messages)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        try:
            title = self.engine.conversations.rename(conversation_id, title)
        except RouteDeskError:
            return  # an empty title keeps the old one
        if self.session.conversation_id == conversation_id:
            self.session.title = title
        self.refresh_conversations()

    def delete_conversation(self, conversation_id: int) -> None:
        gone = self.engine.conversations.delete(conversation_id)
        title = gone.title if gone is not None and gone.title else "conversation"
        if self.session.conversation_id == conversation_id:
            self.new_conversation()
        self.refresh_conversations()

        def undo() -> None:
            self.engine.conversations.restore(conversation_id)
            self.refresh_conversations()
            self.open_conversation(conversation_id)

        self.undo_offered.emit(f"Deleted “{title}”.", undo)

    # --- routing ---------------------------------------------------------------------
    def load_routing(self) -> None:
        r = self.routing
        admin = self.engine.routing_admin
        pair = admin.pair()
        r.strong, r.weak = pair.strong, pair.weak
        cfg = admin.settings()
        r.control = cfg.policy
        r.target_share = cfg.target_share
        if cfg.monthly_budget_usd is not None:
            r.monthly_budget = cfg.monthly_budget_usd
        r.mode = admin.mode()
        r.models = self.known_models()
        r.changed.emit()

    def known_models(self) -> list[ModelRef]:
        refs: list[ModelRef] = []
        for ref in (self.routing.strong, self.routing.weak):
            if ref is not None and ref not in refs:
                refs.append(ref)
        for name, models in self.engine.providers_admin.cached_models().items():
            for m in models:
                ref = ModelRef(name, m)
                if ref not in refs:
                    refs.append(ref)
        return refs

    def _models_changed(self) -> None:
        models = self.known_models()
        if models != self.routing.models:
            self.routing.models = models
            self.routing.changed.emit()

    def set_mode(self, mode: str | ModelRef) -> None:
        self.routing.mode = mode
        self.engine.routing_admin.set_mode(mode)
        self.routing.changed.emit()

    def set_policy(self, control: str, *, target_share: float | None = None,
                   monthly_usd: Decimal | None = None) -> None:
        """The cost-quality control: a target share of strong calls, or a monthly budget."""
        r = self.routing
        r.control = control
        if target_share is not None:
            r.target_share = max(0.0, min(1.0, target_share))
        if monthly_usd is not None:
            r.monthly_budget = monthly_usd
        self.engine.routing_admin.set_policy(control, target_share=r.target_share, monthly_usd=r.monthly_budget)
        r.changed.emit()

    def set_pair(self, strong: ModelRef | None, weak: ModelRef | None) -> None:
        try:
            self.engine.routing_admin.set_pair(strong, weak)
        except RouteDeskError as err:
            self.notice.emit(f"{err.message} {err.fix}".strip())
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
        self._start(self.engine.regenerate(conv, mode=mode, on_event=self._listener(answer, None)), answer)
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
            self.engine.feedback.give(message_id, kind)
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
        if self.busy and self._task is not None:
            self._task.cancel()
            return True
        return False

    def feedback(self, item: MessageItem, value: int) -> None:
        """Thumbs up (1) / down (-1) on an answer; 0 only clears the buttons."""
        if item.id is None:
            return
        item.feedback = value
        if value:
            try:
                self.engine.feedback.rate(item.id, value)
            except RouteDeskError as err:
                self.notice.emit(err.message)
        self.session.changed.emit(item)
        self.notice.emit("Thanks — the router learns from this." if value else "")

    def _listener(self, answer: MessageItem, user: MessageItem | None) -> Callable[[Any], None]:
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
                    self.set_setting(LAST_CONVERSATION, ev.conversation_id)
                    self.conversation_changed.emit(ev.conversation_id)
                if self._live_items is None or session.conversation_id == ev.conversation_id:
                    self._live_conv = ev.conversation_id
                    if session.conversation_id == ev.conversation_id:
                        self._live_items = session.items
                self.refresh_conversations()
                session.changed.emit(answer)
            elif isinstance(ev, AttemptStarted):
                answer.model = ev.model
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
        answer.served_model = r.served_model
        answer.notice = r.notice
        self.session.changed.emit(answer)

    def _start(self, coro, answer: MessageItem) -> None:
        self._task = asyncio.ensure_future(self._run(self._after_warm_up(coro), answer))
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

    def set_spend_client(self, client: str | None) -> None:
        """None: everything; ``THIS_APP``: the window's own answers; else one endpoint client."""
        self.spend.client = client
        self.refresh_spend()

    def spend_filters(self) -> list[tuple[str, str | None]]:
        """(label, value for ``set_spend_client``): all, the window, each endpoint client."""
        from desktop.engine.spend import THIS_APP

        return [("All", None), ("This app", THIS_APP), *((name, name) for name in self.engine.spend.clients())]

    def refresh_spend(self) -> None:
        points = self.engine.spend.points(self.spend.range, client=self.spend.client)
        self.spend.set_points([SpendPoint(p.at, p.choice, p.cost_usd, p.always_strong_usd, p.forced_strong)
                               for p in points])

    def month_spend(self) -> Decimal:
        """This month's spend, the figure ``routedesk spend --json`` gives as ``month_usd``."""
        try:
            return self.engine.spend.month().spent_usd
        except Exception:  # a closed store during shutdown
            return Decimal(0)

    # --- warm-up --------------------------------------------------------------------------
    def warm_up(self) -> asyncio.Task | None:
        """Start loading the price data and the router once, when the user first needs them
        soon (the first keystroke, Settings, the first send), not at start: an idle window
        that is never used to ask anything does not hold them (about 45 MB)."""
        if self._warm is None or (self._warm.done() and self._warm.cancelled()):
            self._warm = self.spawn(self.prewarm())
        return self._warm

    async def _after_warm_up(self, coro):
        """``coro`` once the warm-up is over: its imports run in a worker thread while the
        answer shows "Thinking…", instead of on the UI thread inside the first route."""
        try:
            warm = self.warm_up()
            if warm is not None and not warm.done():
                await asyncio.shield(warm)
        except BaseException:
            coro.close()  # never started
            raise
        return await coro

    async def prewarm(self) -> None:
        """Load what the first answer would otherwise load on the UI thread (the price
        data, the router's modules and weights, the HTTP client), so it never stalls a stream. Only imports
        and file reads run in the worker thread: the Store's SQLite connection belongs to
        this thread, so the router itself (it reads the feedback setting) is built here
        afterwards (a few ms)."""

        engine = self.engine

        def work() -> None:
            from desktop.engine.pricing import load_price_data

            with contextlib.suppress(Exception):
                load_price_data()
            for name in ("genai_prices.data", "desktop.router"):
                with contextlib.suppress(Exception):
                    __import__(name)
            with contextlib.suppress(Exception):  # a broken install: `router` says so below
                engine.preload_router()

        client = asyncio.ensure_future(self.engine.open_client())  # the HTTP client, in its own worker
        await asyncio.to_thread(work)
        with contextlib.suppress(Exception):  # a failure is the first send's to report
            await client
        if self._closed:
            return
        try:
            _ = self.engine.router  # the weights (numpy) and the user's feedback
        except Exception:
            log.exception("loading the router failed")
        # what is loaded by now lives as long as the app: keep the cyclic GC from rescanning
        # it during streams (a full collection over the price tables stalls the loop). Only
        # the young generations are collected first: what the imports left behind is there,
        # and a full collection would itself stall the loop (~170 ms) and find nothing more.
        import gc

        gc.collect(1)
        gc.freeze()

    # --- shutdown ------------------------------------------------------------------------
    async def aclose(self) -> None:
        if self._closed:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self.engine.probes.stop_monitor(wait_s=2.0)
        for t in list(self._bg):
            t.cancel()
        if self._bg:
            await asyncio.gather(*self._bg, return_exceptions=True)
        try:
            self.engine.conversations.purge_deleted()
        except Exception:
            log.exception("purging deleted conversations failed")
        await self.engine.aclose()
