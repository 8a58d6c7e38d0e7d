"""One message's run, from its plan to its stored answer: each candidate in turn, retries
of what is retryable, fallbacks for what is not, cooldowns, checkpoints of the text the
user has seen, billing of the reported usage, and the attempt rows. ``Engine._answer``
makes one per answer; nothing else does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError, retry_limit
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import (
    FILTERED_REASONS,
    TRUNCATED_REASONS,
    ChatMessage,
    ModelRef,
    StreamEnd,
    TextDelta,
    Usage,
    UsageReport,
)
from desktop.engine.events import (
    AnswerDelta,
    AnswerResult,
    Attempt,
    AttemptFailed,
    AttemptStarted,
    Listener,
    Notice,
)
from desktop.engine.explain import explain
from desktop.engine.health import skip_reason
from desktop.engine.provider_settings import backoff, with_context
from desktop.engine.routing import Plan
from desktop.providers import Provider

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["MessageRun"]

_PARTIAL_EVERY = 0.2  # seconds between checkpoints of a streaming answer


class MessageRun:
    """One message's journey through its candidates; holds the partial state so a
    cancellation at any await can still store what the user saw."""

    def __init__(self, engine: Engine, conv: int, user_id: int, msg_id: int, plan: Plan,
                 context: list[ChatMessage], emit: Listener, rec: Any = None, max_tokens: int | None = None) -> None:
        self.e = engine
        self.rec = engine.store if rec is None else rec  # where rows go: the Store, or the endpoint's recorder
        self.max_tokens = max_tokens
        self.conv = conv
        self.user_id = user_id
        self.msg_id = msg_id
        self.plan = plan
        self.context = context
        self.emit = emit
        self.attempts: list[Attempt] = []
        self.text_parts: list[str] = []
        self.current: ModelRef | None = None
        self.ttft_ms: float | None = None
        self.usage: Usage | None = None
        self.billed: tuple | None = None  # this attempt's (usage, cost, source) once booked
        self.began: float | None = None  # wall-clock start of the current model's first try
        self.end: StreamEnd | None = None  # the current try's end marker, once seen

    def _add(self, attempt: Attempt, *, usage: Usage | None = None, began: float | None = None) -> None:
        """Record one model's attempt: the usage its stream reported, if any, and when it
        ran (a model skipped without a call starts and ends at once)."""
        self.attempts.append(attempt)
        ended = time.time()
        self.rec.add_attempt(
            self.msg_id, attempt.model, ok=attempt.error is None, error=attempt.error, usage=usage,
            started_at=ended if began is None else min(began, ended), ended_at=ended,
        )

    def _result(self, status: str, *, model: ModelRef | None = None, error: Any = None, usage: Usage | None = None,
                cost: Decimal | None = None, price_source: str | None = None,
                notice: Notice | None = None) -> AnswerResult:
        answered_by = model
        end = self.end if model is not None else None
        return AnswerResult(
            conversation_id=self.conv,
            user_message_id=self.user_id,
            message_id=self.msg_id,
            status=status,
            text="".join(self.text_parts),
            model=answered_by,
            route=self.plan.decision,
            usage=usage,
            cost_usd=cost,
            price_source=price_source,
            attempts=list(self.attempts),
            fallback_used=answered_by is not None and answered_by != self.plan.candidates[0],
            error=error,
            ttft_ms=self.ttft_ms,
            served_model=None if end is None else end.served_model,
            notice=notice,
        )

    def stopped_result(self) -> AnswerResult:
        model = self.current
        if model is not None and self.usage is None and self.text_parts and hasattr(self.rec, "usage_when_stopped"):
            self.usage = self.rec.usage_when_stopped(self.context, "".join(self.text_parts))
        usage, cost, source = self._bill(model, self.usage) if model is not None else (None, None, None)
        if model is not None:
            self._add(Attempt(model, None), usage=self.usage, began=self.began)
        return self._result("stopped", model=model, usage=usage, cost=cost, price_source=source)

    def broken_result(self, exc: BaseException) -> AnswerResult:
        """The run ended with an exception that is not a provider's failure: keep what the
        user saw (interrupted), book usage already received (once), never leave it streaming."""
        from desktop.core.errors import ErrorInfo

        model = self.current
        usage, cost, source = self._bill(model, self.usage) if model is not None else (None, None, None)
        info = ErrorInfo(
            ErrorKind.INTERRUPTED.value,
            f"The answer stopped because of an error inside RouteDesk ({type(exc).__name__}).",
            "Try again; the text so far is kept.",
            provider=None if model is None else model.provider,
            model=None if model is None else model.model,
        )
        if model is not None:
            self._add(Attempt(model, info), usage=self.usage, began=self.began)
        status = "interrupted" if self.text_parts else "error"
        return self._result(status, model=model, error=info, usage=usage, cost=cost, price_source=source)

    async def go(self) -> AnswerResult:
        e = self.e
        candidates = list(self.plan.candidates)
        cooling_all = all(e.cooldowns.check(ref) for ref in candidates)
        first_error = None
        for index, ref in enumerate(candidates):
            next_ref = candidates[index + 1] if index + 1 < len(candidates) else None
            down = skip_reason(e.health, ref, candidates)
            if down is not None:
                # Known down from probes or recent traffic: don't make the user wait on it.
                self._add(Attempt(ref, down, skipped=True))
                self.emit(AttemptFailed(self.msg_id, ref, down, will_retry=False))
                first_error = first_error or down
                continue
            cooling = None if cooling_all else e.cooldowns.check(ref)
            if cooling is not None:
                left = int(e.cooldowns.seconds_left(cooling) + 0.5)
                info = cooling.error
                skipped_info = type(info)(
                    kind=info.kind,
                    message=f"Skipped {ref}: it failed moments ago ({info.kind}). {info.message}",
                    fix=info.fix.without_fallback() or f"RouteDesk will try it again in about {left} s.",
                    provider=info.provider,
                    model=info.model,
                    status=info.status,
                    code=info.code,
                    detail=info.detail,
                )
                self._add(Attempt(ref, skipped_info, skipped=True))
                self.emit(AttemptFailed(self.msg_id, ref, skipped_info, will_retry=False))
                first_error = first_error or skipped_info
                continue
            outcome = await self._try_model(ref, next_ref)
            if isinstance(outcome, AnswerResult):
                return outcome
            err: RouteDeskError = outcome
            first_error = first_error or err.info()
            if self.text_parts:
                # The user already saw part of an answer: keep it, mark it, offer a retry.
                usage, cost, source = self._bill(ref, self.usage)
                return self._result("interrupted", model=ref, error=err.info(), usage=usage, cost=cost,
                                    price_source=source)
            if not err.falls_back:
                if self.billed is not None:  # it answered and charged, then a filter withheld it all
                    usage, cost, source = self.billed
                    return self._result("error", model=ref, error=err.info(), usage=usage, cost=cost,
                                        price_source=source)
                return self._result("error", error=err.info())
        return self._result("error", error=_all_failed(first_error, self.attempts))

    async def _try_model(self, ref: ModelRef, next_ref: ModelRef | None) -> AnswerResult | RouteDeskError:
        e = self.e
        retries = 0
        self.began = time.time()
        while True:
            self.current = ref
            self.usage = None  # what this try reports; a failure before the stream reports nothing
            self.billed = None
            self.emit(AttemptStarted(self.msg_id, ref))
            try:
                provider = e.provider(ref.provider)
                started = time.perf_counter()
                usage, cost, source = await self._stream(provider, ref)
                e.cooldowns.clear(ref)
                if e.health is not None:
                    e.health.record_success(ref.provider, (time.perf_counter() - started) * 1000)
                self._add(Attempt(ref, None, retries=retries), usage=self.usage, began=self.began)
                reason = None if self.end is None else self.end.finish_reason
                if reason in TRUNCATED_REASONS:
                    return self._result("truncated", model=ref, usage=usage, cost=cost, price_source=source,
                                        notice=Notice.truncated(ref, provider.display_name, reason))
                return self._result("complete", model=ref, usage=usage, cost=cost, price_source=source)
            except RouteDeskError as raw:
                kind_of = _kind_of(e, ref)
                err = explain(
                    with_context(raw, ref),
                    provider_kind=kind_of[0] or "",
                    base_url=kind_of[1],
                    fallback=None if next_ref is None else str(next_ref),
                )
                limit = retry_limit(err)  # never a timeout after the request was sent
                will_retry = not self.text_parts and retries < limit
                self.emit(AttemptFailed(self.msg_id, ref, err.info(), will_retry=will_retry))
                if will_retry:
                    retries += 1
                    await e._sleep(backoff(err, retries))
                    continue
                self.current = None
                self._add(Attempt(ref, err.info(), retries=retries), usage=self.usage, began=self.began)
                if err.kind not in _NOT_THE_PROVIDERS_FAULT:
                    e.cooldowns.mark(ref, err)
                    if e.health is not None:
                        e.health.record_failure(ref.provider, err)
                if self.text_parts:
                    self.current = ref
                return err

    async def _stream(self, provider: Provider, ref: ModelRef) -> tuple[Any, Any, Any]:
        """Stream one attempt; returns the billed (usage, cost, price source)."""
        started = time.perf_counter()
        last_save = started
        self.usage = None
        self.billed = None
        self.end = None
        # Text the user has seen reaches the disk within _PARTIAL_EVERY even when the
        # stream then stalls (a crash or kill -9 during the stall keeps it): a delta that
        # comes too soon after the last checkpoint schedules one instead of waiting for
        # the next delta, which may never come.
        loop = asyncio.get_running_loop()
        pending: list[asyncio.TimerHandle] = []

        def checkpoint() -> None:
            nonlocal last_save
            pending.clear()
            self.rec.save_partial(self.msg_id, "".join(self.text_parts))
            last_save = time.perf_counter()

        # aclosing: the HTTP response is released the moment we stop, not at garbage collection.
        try:
            stream = provider.stream_chat(ref.model, self.context, max_tokens=self.max_tokens)
            async with contextlib.aclosing(stream) as events:  # type: ignore[type-var]
                async for event in events:
                    if isinstance(event, TextDelta):
                        if not event.text:
                            continue
                        first = self.ttft_ms is None
                        if first:
                            self.ttft_ms = round((time.perf_counter() - started) * 1000, 1)
                        self.text_parts.append(event.text)
                        self.emit(AnswerDelta(self.msg_id, event.text))
                        if first:  # let a surface send or show it before the rest of a buffered stream is parsed
                            await asyncio.sleep(0)
                        now = time.perf_counter()
                        if now - last_save >= _PARTIAL_EVERY:
                            for h in pending:
                                h.cancel()
                            checkpoint()
                        elif not pending:
                            pending.append(loop.call_later(_PARTIAL_EVERY - (now - last_save), checkpoint))
                    elif isinstance(event, UsageReport):
                        self.usage = event.usage
                    elif isinstance(event, StreamEnd):
                        self.end = event
        finally:
            for h in pending:
                h.cancel()
        if self.end is None:
            raise RouteDeskError(ErrorKind.INTERRUPTED, "The answer stopped before it was finished.",
                                 provider=ref.provider, model=ref.model)
        billed = self._bill(ref, self.usage)
        reason = self.end.finish_reason
        if reason in FILTERED_REASONS:
            # Withheld by a filter or refused by the model: the tokens are paid for (booked
            # above), the text so far is kept, and no other model is asked (DESIGN).
            raise RouteDeskError(
                ErrorKind.CONTENT_FILTERED,
                f"{provider.display_name} stopped the answer from {ref.model}: "
                + ("the model refused to go on." if reason == "refusal" else "its content filter flagged it."),
                Fix(FixAction.REPHRASE, {"provider": ref.provider}),
                provider=ref.provider, model=ref.model, code=reason,
                detail=f"finish_reason: {reason}",
            )
        return billed

    def _bill(self, ref: ModelRef, usage: Usage | None) -> tuple[Any, Any, Any]:
        """Price the usage the provider reported and write the ledger entry.

        The price is the one of the model that answered (``served_model``, when the
        provider names another: a proxy's fallback); the user's override of it wins, then
        its bundled price, then the cost the provider reported (``price_source``
        "provider"), else unknown. The reported cost is kept beside the computed one."""
        if usage is None:
            return None, None, None
        if self.billed is not None:  # booked already (a stop or an error after the stream's end)
            return self.billed
        e = self.e
        end = self.end  # this try's end marker: the model it names, the cost it reports
        served = None if end is None else end.served_model
        reported = None if end is None else end.reported_cost
        billed_ref = ref if served is None else ModelRef(ref.provider, served)
        cost, price = e.cost_of(billed_ref, usage)
        source = price.source
        if source == "unknown" and reported is not None:
            cost, source = reported, "provider"
        strong = e.pair().strong
        # what "always strong" would have paid for the same tokens (the savings chart)
        strong_cost = (None if strong is None else cost if strong == billed_ref
                       else e.cost_of(strong, usage, known_provider=True)[0])
        self.rec.add_ledger_entry(
            self.msg_id, ref, usage, cost, source, strong_cost, self.plan.decision.choice,
            served_model=served, provider_cost_usd=reported,
        )
        self.billed = (usage, cost, source)
        return self.billed


#: Failures that say nothing about the provider's health: no cooldown, no health mark.
_NOT_THE_PROVIDERS_FAULT = frozenset({ErrorKind.INTERRUPTED, ErrorKind.CONTENT_FILTERED, ErrorKind.CONTEXT_TOO_LONG})


def _kind_of(engine: Engine, ref: ModelRef) -> tuple[str | None, str | None]:
    try:
        s = engine.provider_settings(ref.provider)
        return s.kind, s.base_url
    except RouteDeskError:
        return None, None


def _all_failed(first: ErrorInfo | None, attempts: list[Attempt]) -> ErrorInfo:
    """The answer's error when no candidate answered. Its fix never promises a fallback:
    every model the engine had has just failed or been skipped."""
    from dataclasses import replace

    if first is None:
        return ErrorInfo("misconfigured", "No model could be tried.", Fix(FixAction.CHOOSE_MODELS, {"why": "no_pair"}))
    tried = [a for a in attempts if a.error is not None]
    if len(tried) <= 1:
        return replace(first, fix=first.fix.without_fallback())
    lines = "; ".join(f"{a.model}: {a.error.kind}" for a in tried if a.error is not None)
    return ErrorInfo(
        kind=first.kind,
        message=f"No model could answer ({lines}). {first.message}",
        fix=first.fix.without_fallback(),
        provider=first.provider,
        model=first.model,
        status=first.status,
        code=first.code,
        detail=first.detail,
    )
