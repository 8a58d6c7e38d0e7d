"""``engine.endpoint``: start and stop the local OpenAI-compatible endpoint on the running
asyncio loop (the window's qasync loop, or ``routedesk serve``'s), and the settings that
go with it. aiohttp is imported only when the endpoint starts."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desktop.engine.endpoint_recorder import HISTORY_SETTING

if TYPE_CHECKING:
    from desktop.engine.app import Engine
    from desktop.engine.endpoint_server import EndpointServer

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "EndpointService", "exposure_note"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_note(host: str, port: int) -> str | None:
    """What a user must know when the endpoint listens beyond this computer, else None."""
    if is_loopback(host):
        return None
    return (f"The endpoint listens on {host}:{port}: other machines that can reach this one can connect to it. "
            "Anyone holding a client token can spend through your providers; use 127.0.0.1 to keep it to "
            "this computer.")


class EndpointService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self.server: EndpointServer | None = None

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.running

    @property
    def url(self) -> str | None:
        """The base URL a tool needs (``http://127.0.0.1:8765/v1``) while running."""
        return self.server.url if self.server is not None and self.running else None

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                    on_request: Callable[[Any], None] | None = None, **kwargs: Any) -> str:
        """Listen on ``host:port`` (port 0: any free one); returns the base URL. Raises
        RouteDeskError when the address can't be used (a port in use, say)."""
        if self.running:
            await self.stop()
        from desktop.engine.endpoint_server import EndpointServer

        server = EndpointServer(self._e, host, port, on_request=on_request, **kwargs)
        await server.start()
        self.server = server
        return server.url

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    @property
    def history(self) -> bool:
        """Whether requests through the endpoint also appear in the chat history."""
        return bool(self._e.store.get_setting(HISTORY_SETTING, False))

    def set_history(self, on: bool) -> None:
        self._e.store.set_setting(HISTORY_SETTING, bool(on))
