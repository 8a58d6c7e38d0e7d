"""RouteDesk: a desktop LLM client that routes each message by cost."""

__version__ = "0.1.0"
