"""Cached boto3 clients. boto3 honours AWS_ENDPOINT_URL, which is how the local runtime points
them at moto."""
from __future__ import annotations

import os
import threading
from typing import Any

_creating = threading.Lock()
_clients: dict[str, Any] = {}
_session: Any = None  # the one boto3 session the clients come from, once made


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
    return _session.client(service, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 4}))


def reset_clients() -> None:
    """Forget cached clients and their session (tests that swap the AWS endpoint call this)."""
    global _session
    with _creating:
        _clients.clear()
        _session = None
