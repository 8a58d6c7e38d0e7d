"""Where RouteDesk keeps its data: ``ROUTEDESK_HOME`` when set, else the platform's
user data folder. Keys are never here; they live in the OS keyring."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "database_path", "KEYRING_SERVICE", "ollama_base_url"]

KEYRING_SERVICE = "RouteDesk"


def data_dir() -> Path:
    home = os.environ.get("ROUTEDESK_HOME")
    if home:
        path = Path(home).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("RouteDesk", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_path() -> Path:
    return data_dir() / "routedesk.sqlite3"


#: Where Ollama listens unless OLLAMA_HOST says otherwise (the Ollama preset's address).
OLLAMA_PORT = 11434
OLLAMA_DEFAULT_URL = f"http://127.0.0.1:{OLLAMA_PORT}"


def ollama_base_url() -> str:
    """Ollama's own convention: ``OLLAMA_HOST`` may be ``host``, ``host:port`` or a URL."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return OLLAMA_DEFAULT_URL
    if "://" not in host:
        host = "http://" + host
    scheme, _, rest = host.partition("://")
    rest = rest.rstrip("/")
    hostport = rest.split("/", 1)[0]
    if hostport.startswith("0.0.0.0"):
        hostport = "127.0.0.1" + hostport[len("0.0.0.0"):]
    if ":" not in hostport.rsplit("]", 1)[-1]:
        hostport += f":{OLLAMA_PORT}"
    return f"{scheme}://{hostport}"
