"""Reverse proxies and the client's address: one decision, made once per request.

``TRUSTED_PROXIES`` is the number of proxies in front of the app that append to
``X-Forwarded-For`` and set ``X-Forwarded-Proto`` (0, the default: none, the peer is
the client). ``trust_proxies`` wraps the WSGI app in Werkzeug's ``ProxyFix`` with that
many hops (read from the settings per request) for the client's address and the scheme, then removes every ``X-Forwarded-*``
header from the request, so that nothing downstream (flask-talisman's HSTS check,
``request.access_route``, a future view) can read a value the proxies did not vouch
for: after this, ``request.remote_addr`` and ``request.scheme`` are the only answers.

``X-Forwarded-Host`` is not trusted: the proxy passes the ``Host`` header itself, and
every link the app writes to the outside uses ``EXTERNAL_URL`` anyway.

Everything that records or counts by client address — rate limits, sign-in throttles,
sign-in sessions, audit rows — calls ``client_address()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

#: The longest address a column holds (an IPv6 address with an IPv4 tail is 45).
MAX_ADDRESS = 45

FORWARDED_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _DropForwardedHeaders:
    """Runs after ProxyFix resolved what it trusts: the raw headers go."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in FORWARDED_HEADERS:
            environ.pop(key, None)
        return self.app(environ, start_response)


class TrustedProxies:
    """The WSGI app behind ``hops()`` trusted proxies, read per request from the app's
    settings (0: none; the forwarded headers are then ignored)."""

    def __init__(self, app: WSGIApp, hops: Callable[[], int]) -> None:
        self.inner = _DropForwardedHeaders(app)
        self.hops = hops
        self._fixes: dict[int, ProxyFix] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        hops = self.hops()
        if hops <= 0:
            return self.inner(environ, start_response)
        fix = self._fixes.get(hops)
        if fix is None:
            fix = self._fixes[hops] = ProxyFix(self.inner, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)
        return fix(environ, start_response)


def trust_proxies(app: Flask) -> None:
    """Wrap ``app``'s WSGI app: TRUSTED_PROXIES hops for the client's address and scheme."""
    app.wsgi_app = TrustedProxies(app.wsgi_app, lambda: app.config["HELPDESK"].trusted_proxies)  # type: ignore[method-assign]


def client_address() -> str | None:
    """The client's address for this request (after ``trust_proxies``), or None
    outside a request."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:MAX_ADDRESS] or None


def rate_limit_key() -> str:
    """flask-limiter's key: the client's address."""
    return client_address() or "unknown"
