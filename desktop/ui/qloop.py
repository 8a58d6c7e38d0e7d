"""qasync's event loop, with cancelled timers forgotten at once.

qasync runs every ``call_later``/``call_at`` as a Qt timer and keeps the callback until the
timer fires, even when the callback was cancelled long before. Each streamed event
re-arms the provider's silence deadline (``asyncio.timeout(...).reschedule``, 60 s), so a
long answer left one live Qt timer, handle and context per token for a minute: about
700 bytes a token, and tens of thousands of timers in Qt's timer list, whose upkeep
slows the loop the faster tokens come. Here a cancelled timer is killed and dropped
straight away (asyncio's own loops do the same with ``TimerHandle``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import qasync
from PySide6.QtCore import QThread

__all__ = ["QEventLoop"]


class _Timer(qasync._SimpleTimer):  # type: ignore[misc,name-defined]
    """qasync's timer object, which can also forget a callback before it fires."""

    def __init__(self) -> None:
        super().__init__()
        self._ids: dict[int, int] = {}  # id(handle) -> Qt timer id, while pending

    @property
    def _callbacks(self) -> dict[int, asyncio.Handle]:
        return self._SimpleTimer__callbacks  # type: ignore[attr-defined, no-any-return]

    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        timerid = self.startTimer(int(max(0, delay) * 1000))
        self._callbacks[timerid] = handle
        self._ids[id(handle)] = timerid
        return handle

    def timerEvent(self, event: Any) -> None:  # noqa: N802
        handle = self._callbacks.get(event.timerId())
        if handle is not None:
            self._ids.pop(id(handle), None)
        super().timerEvent(event)

    def forget(self, handle: asyncio.Handle) -> None:
        """Kill the Qt timer of a cancelled callback (only from the loop's own thread:
        Qt timers can't be stopped from another; there it fires and is skipped, as before)."""
        if QThread.currentThread() is not self.thread():
            return
        timerid = self._ids.pop(id(handle), None)
        if timerid is not None and self._callbacks.pop(timerid, None) is not None:
            self.killTimer(timerid)

    def pending(self) -> int:
        """Callbacks waiting for their timer (cancelled ones are not among them)."""
        return len(self._callbacks)


class QEventLoop(qasync.QEventLoop):  # type: ignore[misc]
    """``qasync.QEventLoop`` whose ``call_later`` handles are asyncio ``TimerHandle``s:
    cancelling one tells the loop, which kills its Qt timer."""

    _timer: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self._timer
        self._timer = _Timer()
        old.stop()  # nothing was scheduled on it yet; stop it firing anything regardless

    def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        if asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with call_later")
        if not callable(callback):
            raise TypeError(f"callback must be callable: {type(callback).__name__}")
        handle = asyncio.TimerHandle(self.time() + delay, callback, args, self, context=context)
        self._add_callback(handle, delay)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self._timer.forget(handle)
