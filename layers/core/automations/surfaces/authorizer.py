"""The HTTP API's Lambda authorizer: resolves credentials to an account.

It never denies: an HTTP API can't shape a denial's body, and each surface must answer in its
own format (Zendesk's 401 with WWW-Authenticate, VipeCloud's, Piggy's), so the verdict travels
in the context and the surface's handler wrapper turns "no account" into its own 401.
Credentials accepted: Basic base64("email/token:key") (Zendesk token style), Basic
base64("email:key"), Bearer key. Keys are never logged."""
from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from datetime import timedelta
from typing import Any

from automations import clock, config, telemetry
from automations.bootstrap import services
from automations.domain.account import Principal
from automations.errors import Unauthenticated

_MAX_CACHED = 4096
_cache: dict[str, tuple[Principal, Any]] = {}
_lock = threading.Lock()


def parse_authorization(header: str | None) -> tuple[str | None, str] | None:
    """(email or None, key) from an Authorization header, or None when unreadable."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, key = decoded.partition(":")
    if not sep or not user or not key:
        return None
    email = user[: -len("/token")] if user.endswith("/token") else user
    return email, key


def resolve(header: str | None) -> Principal | None:
    credentials = parse_authorization(header)
    if credentials is None:
        return None
    email, key = credentials
    # Per header, not per (email, key): a cached answer is exactly the uncached one for that header,
    # never another form's (Bearer KEY and Basic "/token:KEY" read as the same key, with no email).
    cache_key = hashlib.sha256(header.encode("utf-8", "surrogatepass")).hexdigest()
    now = clock.now()
    with _lock:
        cached = _cache.get(cache_key)
    if cached and cached[1] > now:
        telemetry.count("AuthCacheHits")
        return cached[0]
    telemetry.count("AuthCacheMisses")
    try:
        principal = services().accounts.authenticate(key, email)
    except Unauthenticated:
        return None  # never kept: a key created a moment later must work at once
    ttl = config.auth_cache_seconds()
    if ttl > 0:
        with _lock:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            _cache[cache_key] = (principal, now + timedelta(seconds=ttl))
    return principal


def forget_cached() -> None:
    with _lock:
        _cache.clear()


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    principal = resolve(headers.get("authorization"))
    if principal is None:
        return {"isAuthorized": True, "context": {"account_id": ""}}
    return {"isAuthorized": True, "context": {"account_id": principal.account_id, "key_id": principal.key_id,
                                              "email": principal.email}}


def priming_requests() -> list[dict[str, Any]]:
    """SnapStart's priming: a key looked up as a request's would be (snapstart.py stops the lookup
    before it is sent)."""
    credentials = base64.b64encode(b"priming@snapstart.invalid/token:priming").decode()
    return [{"type": "REQUEST", "headers": {"authorization": f"Basic {credentials}"}}]
