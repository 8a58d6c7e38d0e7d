"""Feedback on answers: thumbs up/down and "retry with the strong model". Feedback on
a weak (or fallback-to-weak) answer teaches the router about similar prompts; the
verdict is stored either way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktop.core.errors import ErrorKind, RouteDeskError

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["FeedbackService", "FEEDBACK_SETTING", "THUMBS"]

FEEDBACK_SETTING = "router.feedback"
THUMBS = "thumbs"


class FeedbackService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    def kind_for(self, message_id: int, value: int) -> str:
        """The feedback kind for a thumb on this answer: thumbs_up/thumbs_down, with
        ``_weak`` when the weak model (routed or the pair's weak) wrote it."""
        msg = self._e.store.get_message(message_id)
        weak = msg is not None and (
            (msg.route is not None and msg.route.choice == "weak")
            or (msg.model is not None and msg.model == self._e.pair().weak))
        return f"{THUMBS}_{'up' if value > 0 else 'down'}" + ("_weak" if weak else "")

    def rate(self, message_id: int, value: int) -> str | None:
        """Thumbs up (1) or down (-1); 0 records nothing. Returns the kind stored."""
        if not value:
            return None
        kind = self.kind_for(message_id, value)
        self.give(message_id, kind)
        return kind

    def give(self, message_id: int, kind: str) -> None:
        from desktop.router import FEEDBACK_KINDS

        e = self._e
        msg = e.store.get_message(message_id)
        if msg is None or msg.role != "assistant":
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "That answer no longer exists.", "Pick another answer.")
        value = -1 if kind.startswith("thumbs_down") or kind == "retry_strong" else 1
        e.store.add_feedback(message_id, value, kind)
        router = e.router
        if router is None or kind not in FEEDBACK_KINDS:
            return
        weak_side = msg.route is not None and msg.route.choice == "weak"
        if not weak_side and kind != "retry_strong":
            return  # a verdict on a strong answer says nothing about the weak model
        context = e.context_for(msg.conversation_id, before=message_id)
        router.learn(context, weak_was_worse=FEEDBACK_KINDS[kind] >= 0.5)
        e.store.set_setting(FEEDBACK_SETTING, router.feedback.to_dict())

    def reset(self) -> None:
        """Forget every verdict and what the router learnt from them."""
        e = self._e
        e.store.clear_feedback()
        e.store.delete_setting(FEEDBACK_SETTING)
        router = e.router
        if router is not None:
            router.feedback.reset()
