"""Network-level failures (connection refused, DNS, TLS, timeouts, a stream that breaks)
as one ``RouteDeskError``; total, like the HTTP classifier beside it.

``detail`` keeps the system's own words when it has some ("[SSL: CERTIFICATE_VERIFY_FAILED]
certificate verify failed: self-signed certificate", "[Errno -2] Name or service not
known"). A TLS failure is not retried: the same handshake fails the same way.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import FixAction
from desktop.providers.error_parts import STATUS_PAGE, excerpt, fix_about, model_part, who

__all__ = ["classify_transport_error"]


def _host(base_url: str | None) -> str:
    if not base_url:
        return "its address"
    try:
        parts = urlsplit(base_url)
        return parts.netloc or base_url
    except Exception:
        return "its address"


def _chain(exc: BaseException) -> str:
    seen = []
    cur: BaseException | None = exc
    for _ in range(6):
        if cur is None:
            break
        seen.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(seen)


def _words(exc: BaseException) -> str:
    """The most specific message in the exception's chain (the deepest one that says
    something), without the exception class names."""
    found = ""
    cur: BaseException | None = exc
    for _ in range(6):
        if cur is None:
            break
        text = str(cur).strip()
        if text:
            found = text
        cur = cur.__cause__ or cur.__context__
    return found


def classify_transport_error(
    exc: BaseException,
    *,
    provider: str | None,
    kind: str | None,
    model: str | None,
    base_url: str | None = None,
    midstream: bool = True,
    waited: float | None = None,
) -> RouteDeskError:
    """Map a network-level failure to a RouteDeskError.

    ``midstream`` says whether the response had already started (status line received);
    a connection that breaks after that is ``interrupted``, before it ``unreachable``.
    ``waited`` is the time limit that ran out, for the message of a timeout.
    """
    try:
        return _classify_transport(exc, provider=provider, kind=kind, model=model, base_url=base_url,
                                   midstream=midstream, waited=waited)
    except Exception:  # pragma: no cover
        return RouteDeskError(ErrorKind.BAD_RESPONSE, f"{who(provider, kind)} failed in an unexpected way.",
                              fix_about(FixAction.RETRY, provider, kind), provider=provider, model=model)


def _classify_transport(exc: BaseException, *, provider: str | None, kind: str | None, model: str | None,
                        base_url: str | None, midstream: bool, waited: float | None = None) -> RouteDeskError:
    if isinstance(exc, RouteDeskError):
        return exc
    name = who(provider, kind)
    host = _host(base_url)
    m = model_part(model)
    try:
        chain = _chain(exc)
    except Exception:
        chain = type(exc).__name__
    try:
        detail = excerpt(_words(exc))
    except Exception:
        detail = ""
    common: dict[str, Any] = dict(provider=provider, model=model, detail=detail)
    low = chain.lower()

    if isinstance(exc, httpx.ConnectTimeout):
        return RouteDeskError(ErrorKind.TIMEOUT, f"{name} at {host} didn't accept a connection in time.",
                              fix_about(FixAction.CHECK_NETWORK, provider, kind, host=host),
                              code="connect_timeout", **common)
    if isinstance(exc, httpx.PoolTimeout):
        return RouteDeskError(ErrorKind.TIMEOUT, f"Too many requests to {name} were waiting at once.",
                              fix_about(FixAction.RETRY, provider, kind, when="in a moment"), code="pool_timeout",
                              **common)
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        secs = f" {waited:g}s" if waited else ""
        if midstream:
            what = (f"{model or 'The model'} at {name} stopped sending its answer "
                    f"(nothing arrived for{secs or ' too long'}).")
        else:
            what = (f"{model or 'The model'} at {name} didn't start answering"
                    + (f" within{secs}." if secs else " in time."))
        return RouteDeskError(ErrorKind.TIMEOUT, what,
                              fix_about(FixAction.RETRY, provider, kind, because="the provider may be slow right now"),
                              code="read_timeout", **common)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError)):
        return RouteDeskError(ErrorKind.MISCONFIGURED, f"RouteDesk can't use the address set for {name} ({host}).",
                              fix_about(FixAction.OPEN_PROVIDER_SETTINGS, provider, kind, base_url=base_url,
                                   hint="it should start with http:// or https://"),
                              **common)
    if isinstance(exc, httpx.ConnectError) or (
        isinstance(exc, (ConnectionRefusedError, ssl.SSLError, OSError)) and not isinstance(
            exc, (httpx.ReadError, httpx.RemoteProtocolError))
        and not midstream
    ):
        if "certificate" in low or "ssl" in low or "tls" in low:
            why, code = "a secure (TLS) connection couldn't be set up", "tls"
        elif ("name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low
              or "name resolution" in low or "no address associated" in low or "errno -2" in low
              or "errno -3" in low or "errno 11001" in low):
            why, code = "the host name couldn't be found", "dns"
        elif "refused" in low or "errno 111" in low or "errno 61" in low or "10061" in low:
            why, code = "connection refused", "connection_refused"
        elif "unreachable" in low:
            why, code = "network unreachable", "network_unreachable"
        else:
            why, code = "couldn't connect", "connect_error"
        if code == "tls" and "certificate" in low:
            why = "its certificate couldn't be verified"
        if kind == "ollama" and code == "connection_refused":
            msg = f"Ollama isn't running on {host}."
        else:
            msg = f"Can't reach {name} at {host} ({why})."
        return RouteDeskError(ErrorKind.UNREACHABLE, msg,
                              fix_about(FixAction.OPEN_PROVIDER_SETTINGS, provider, kind, base_url=base_url,
                                   hint="and that the server is running"),
                              code=code, retryable=False if code == "tls" else None, **common)
    if isinstance(exc, httpx.WriteError):
        return RouteDeskError(ErrorKind.UNREACHABLE, f"The connection to {name} at {host} dropped while sending.",
                              fix_about(FixAction.CHECK_NETWORK, provider, kind, host=host), code="write_error",
                              **common)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.StreamError, ConnectionError)):
        if midstream:
            return RouteDeskError(ErrorKind.INTERRUPTED,
                                  f"The answer from {model or 'the model'} at {name} broke off before it was finished.",
                                  fix_about(FixAction.RETRY_PARTIAL, provider, kind),
                                  code="interrupted", **common)
        return RouteDeskError(ErrorKind.UNREACHABLE,
                              f"{name} at {host} closed the connection without answering.",
                              fix_about(FixAction.RETRY, provider, kind, then="check the server"),
                              code="disconnected", **common)
    if isinstance(exc, httpx.DecodingError):
        return RouteDeskError(ErrorKind.BAD_RESPONSE, f"{name} sent an answer that couldn't be decoded{m}.",
                              fix_about(FixAction.RETRY, provider, kind, then="check the server"),
                              code="decoding", **common)
    if isinstance(exc, OSError):
        return RouteDeskError(ErrorKind.UNREACHABLE, f"Can't reach {name} at {host}.",
                              fix_about(FixAction.CHECK_NETWORK, provider, kind, host=host), code="os_error", **common)
    return RouteDeskError(ErrorKind.BAD_RESPONSE, f"{name} sent an answer RouteDesk couldn't read{m}.",
                          fix_about(FixAction.RETRY, provider, kind, then=STATUS_PAGE),
                          code=type(exc).__name__, **common)
