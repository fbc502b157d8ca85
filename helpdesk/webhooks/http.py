"""The one HTTP call of a webhook delivery (httpx: a timeout, redirects not followed, the
answer's body never read). Its own module so that httpx loads only in the process that
delivers (a worker), not in every web process."""

from __future__ import annotations

import httpx


class TransportError(Exception):
    """The POST did not get an answer; the message is the error's class name only (no
    text from the other side)."""


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One POST: the HTTP status (redirects are answers, not followed; the body is not read)."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, \
                client.stream("POST", url, content=body, headers=headers) as response:
            return response.status_code
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise TransportError(type(exc).__name__) from None
