"""Test-only driver for the window crash test: starts the window as ``run_app`` does (the
user's data folder from ROUTEDESK_HOME, the real keyring, the health monitor) and

    python -m tests.ui.crash_window_driver send PROVIDER/MODEL PROMPT
        sends PROMPT as if typed, then runs until killed;
    python -m tests.ui.crash_window_driver show
        starts the window, prints what the chat view holds (the conversation it opened,
        or the most recent one opened from the sidebar) as JSON, and quits.

desktop/ui has no switch to send a message at start, so this drives the controller.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str]) -> int:
    from PySide6.QtCore import QTimer

    from desktop.core.types import ModelRef
    from desktop.engine.app import Engine
    from desktop.ui.app import build_window, make_app, make_loop

    app = make_app([])
    loop = make_loop(app)
    engine = Engine.open()
    controller, window = build_window(engine)
    window.show()

    if argv[0] == "send":
        ref, prompt = ModelRef.parse(argv[1]), argv[2]

        def go() -> None:
            ok = controller.send(prompt, mode=ref)
            print("sent" if ok else "not sent", flush=True)

        QTimer.singleShot(0, go)
        # as launch() does, the background probes start a moment after the window
        QTimer.singleShot(1000, window, controller.start_health_monitor)
        with loop:
            loop.run_forever()
        return 0

    async def show() -> dict:
        # attach() restored the window's state: the conversation it was showing is open
        auto = controller.session.conversation_id is not None
        if not auto:
            convs = engine.conversations.list()
            if convs:
                controller.open_conversation(convs[0].id)
        items = [{"role": i.role, "text": i.text, "status": i.status,
                  "error": None if i.error is None else i.error.kind} for i in controller.session.items]
        closed = asyncio.get_running_loop().create_future()
        window.closed.connect(lambda: closed.done() or closed.set_result(None))
        window.close()  # and shut down as the user would: streams cancelled, database closed
        await asyncio.wait_for(closed, 30)
        return {"auto_opened": auto, "items": items}

    app.setQuitOnLastWindowClosed(False)
    with loop:
        out = loop.run_until_complete(show())
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
