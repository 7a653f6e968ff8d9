"""CSRF protection: a random token per browser session, required on every state-changing request.

The token lives in the signed session cookie and is echoed in each form as a hidden `csrf_token` field
(or an `X-CSRF-Token` header). Another site can make the browser send the cookie but cannot read
the token, so it cannot forge a valid form. The sign-in form is protected too (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(Exception):
    """The request's CSRF token is missing or wrong; nothing was done."""


def csrf_token(request: Request) -> str:
    """The session's token, created on first use (templates call this for every form)."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


async def verify_csrf(request: Request) -> None:
    """FastAPI dependency: refuse unsafe requests whose token does not match the session's."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_KEY)
    sent = request.headers.get(HEADER)
    if sent is None:
        # FastAPI has already parsed (and cached) the form for the route's own Form() parameters.
        form = await request.form()
        value = form.get(FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfError
