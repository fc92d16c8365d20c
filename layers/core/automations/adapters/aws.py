"""Cached boto3 clients (boto3 honours AWS_ENDPOINT_URL, which is how the local runtime points
them at moto), and what every adapter's calls share: reading AWS's refusals, and the one retry
policy for what botocore does not retry."""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from automations.errors import Busy

_creating = threading.Lock()
_clients: dict[str, Any] = {}
_session: Any = None  # the one boto3 session the clients come from, once made
_send_hooks: list[Callable[..., Any]] = []  # before_every_send's, on every client made


def client(service: str):
    """The process's one client for ``service``. Built under a lock: the local runtime's threads
    ask for a client at the same moment after a reset, and two built at once would leave some
    services holding a client that is not the cached one (hooks on it would miss their calls)."""
    try:
        return _clients[service]
    except KeyError:
        with _creating:
            if service not in _clients:
                _clients[service] = _build(service)
            return _clients[service]


def _build(service: str):
    """Under _creating. Every client comes from one session: a session of its own reads botocore's
    endpoint and retry data again, the larger part of making a second client on a cold start."""
    global _session
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if _session is None:
        import boto3

        _session = boto3.session.Session()
    made = _session.client(service, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 4}))
    for hook in _send_hooks:
        made.meta.events.register("before-send", hook)
    return made


def before_every_send(hook: Callable[..., Any]) -> None:
    """Call ``hook`` (botocore's before-send event) before every request any client of the
    process sends, those made already and those made later; once, however often it is given."""
    with _creating:
        if hook in _send_hooks:
            return
        _send_hooks.append(hook)
        for made in _clients.values():
            made.meta.events.register("before-send", hook)


def has_code(error: Exception, code: str) -> bool:
    """Whether AWS refused the call with the error ``code``."""
    return (getattr(error, "response", None) or {}).get("Error", {}).get("Code") == code


def reset_clients() -> None:
    """Forget cached clients and their session (tests that swap the AWS endpoint call this)."""
    global _session
    with _creating:
        _clients.clear()
        _session = None


@dataclass(frozen=True)
class Backoff:
    """The one retry policy for what botocore does not retry itself (it retries throttled and
    failed calls, 4 attempts): a batch call's unprocessed part, a transaction cancelled by a
    conflict or a throttle, an SQS batch's throttled entries. Exponential, with full jitter, so
    writers that collided spread out instead of meeting again."""

    attempts: int = 8  # pauses of up to 25 ms, 50 ms, ... 1.6 s: about 1.6 s in all on average, 3.2 s at most
    base: float = 0.025
    cap: float = 2.0
    pause: Callable[[float], None] = field(default=time.sleep, compare=False)

    def tries(self, busy: str) -> Iterator[int]:
        """The attempt numbers, each after the first preceded by its pause; asked for one more
        when all are spent, raises Busy(``busy``): the caller's work is delayed, not failed."""
        for attempt in range(self.attempts):
            if attempt:
                self.pause(random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1))))
            yield attempt
        raise Busy(busy)


BACKOFF = Backoff()
