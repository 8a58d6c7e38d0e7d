"""Downloading a local model (Ollama's pull): ``routedesk pull ollama/NAME`` and the
window's Pull buttons both run this. Progress is reported as values
(``desktop.providers.PullProgress``: status, completed, total, fraction); drawing it
(a terminal bar, a Qt progress bar) is each surface's job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelRef
from desktop.providers import OllamaProvider, PullProgress, display_name

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["PullService", "PullProgress"]


class PullService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def progress(self, ref: ModelRef) -> AsyncIterator[PullProgress]:
        """Download ``ref``, yielding each progress line; the last one has status
        "success". Raises RouteDeskError (explained); closing the iterator or cancelling
        the task that consumes it stops the download (Ollama keeps what it has)."""
        from desktop.engine.explain import explain

        settings = self._e.provider_settings(ref.provider)
        if settings.kind != "ollama":
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"{ref.provider} is {display_name(settings.kind)}; only Ollama models can be pulled from RouteDesk.",
                "For LM Studio, download models in its Discover tab; cloud models need no download."
                if settings.kind == "lmstudio" else
                Fix(FixAction.PULL_MODEL, {"provider": "ollama", "model": "llama3.2"}),
                provider=ref.provider, model=ref.model,
            )
        provider = self._e.provider(ref.provider)
        assert isinstance(provider, OllamaProvider)
        try:
            async for progress in provider.pull(ref.model):
                yield progress
        except RouteDeskError as err:
            if err.model is None:
                err.model = ref.model
            text = f"{err.message} {err.detail}".lower()
            if "file does not exist" in text or ("manifest" in text and "not" in text):
                raise RouteDeskError(
                    ErrorKind.MODEL_NOT_FOUND,
                    f"Ollama's library has no model called {ref.model}.",
                    "Check the name (and its :tag) at ollama.com/library, then pull again.",
                    provider=ref.provider, model=ref.model, detail=err.detail,
                ) from None
            raise explain(err, provider_kind=settings.kind, base_url=settings.base_url, fallback=None) from None

    async def pull(self, ref: ModelRef, on_progress: Callable[[PullProgress], None]) -> None:
        """``progress`` with a callback: ``on_progress(line)`` per progress line."""
        agen = self.progress(ref)
        try:
            async for line in agen:
                on_progress(line)
        finally:
            await agen.aclose()  # type: ignore[attr-defined]
