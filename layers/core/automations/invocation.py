"""The Lambda invocation this thread serves, for calls nothing else bounds (a DNS lookup): how
much of it is left. Per thread, as the local runtime serves invocations side by side."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_current = threading.local()


@contextmanager
def serving(context: Any) -> Iterator[None]:
    """Within the block, this thread serves the invocation of Lambda's ``context``."""
    previous = getattr(_current, "context", None)
    _current.context = context
    try:
        yield
    finally:
        _current.context = previous


def seconds_left() -> float | None:
    """Seconds before Lambda stops the invocation; None outside one (a test, the command line)."""
    remaining = getattr(getattr(_current, "context", None), "get_remaining_time_in_millis", None)
    return None if remaining is None else remaining() / 1000
