"""The window: Qt widgets over the engine, on one qasync loop.

- ``app``         ``run_app(argv)`` (``routedesk`` with no arguments), ``build_window(engine)``,
                  ``make_app`` / ``make_loop`` (qasync, with asyncio's async-generator hooks).
                  ``launch`` shows the main window's frame first (Qt only) and loads the
                  engine into it after the first paint. The self-test is ``desktop/selftest.py``.
- ``controller``  ``AppController`` (with ``controller_admin.AdminActions``): the only object
                  that talks to the Engine, and only through its services; owns the view
                  models below and runs sends as asyncio tasks.
- ``models``      view models without widgets (napari style): ``ChatSession``,
                  ``ConversationListModel``, ``RoutingState``, ``SpendSeries``, ``HealthModel``.
- ``chat_view``   answers (Markdown, highlighted copyable code, routing line, why?, actions),
                  user bubbles, error and fallback cards; deltas re-render at most every 30 ms;
                  only the last 40 messages get widgets ("Show earlier" for more).
- ``input_box``, ``routing_bar``, ``sidebar``, ``chart`` (pyqtgraph, imported off the UI thread on first show),
  ``settings`` (providers, keyring, Test connection, models, prices), ``health``, ``welcome``.
- ``qtcompat``    guards against the PySide6 6.12.0 reference-count defects, and answers
                  PySide6's per-import feature check without keeping every source in memory.
- ``prefetch``    slow first-time work (pyqtgraph's import, a lexer's rules) in a worker
                  thread, delivered back on the UI thread.

Nothing outside this package imports Qt, pyqtgraph or qasync.
"""
