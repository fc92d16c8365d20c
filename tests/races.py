"""Concurrent duplicates, as the tests race them."""
from __future__ import annotations

import threading
from typing import Any, Callable


def all_at_once(call: Callable[[], Any], times: int) -> list[Any]:
    """``call`` made ``times`` times from as many threads, released together: what each returned,
    or the exception it raised (so a caller sees every outcome, the unexpected ones too)."""
    barrier, outcomes = threading.Barrier(times), []

    def one() -> None:
        barrier.wait()
        try:
            outcomes.append(call())
        except Exception as error:
            outcomes.append(error)

    threads = [threading.Thread(target=one) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
