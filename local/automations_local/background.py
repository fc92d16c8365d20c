"""One background loop for the local drivers (the SQS poller, the scheduler's ticker)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from automations_local import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)


class BackgroundLoop:
    """Calls ``step`` on a daemon thread until stopped: again at once while it reports work done
    (True), else after ``interval_s``. ``paused()`` true skips a round. A lasting failure is
    logged once, not at every round."""

    def __init__(self, name: str, step: Callable[[], bool], interval_s: float, what: str) -> None:
        self.name, self.interval_s, self._step, self._what = name, interval_s, step, what
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._paused: Callable[[], bool] = lambda: False

    def start(self, paused: Callable[[], bool] | None = None) -> None:
        if self._thread is None:
            self._paused = paused or self._paused
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("%s is still inside a function after %ss", self.name, timeout_s)
            self._thread = None

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                busy = not self._paused() and self._step()
                failing = False
            except Exception:
                if not failing:
                    log.exception("%s failed", self._what)
                failing, busy = True, False
            if not busy:
                self._stopping.wait(self.interval_s)
