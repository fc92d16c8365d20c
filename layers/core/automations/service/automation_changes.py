"""What follows a saved change of an automation: a recurring or date-field automation's next
firing (its schedule), and a contact rule's waiting runs when its send window changed.

The automation is saved first, so what follows it never fails the request: a failure here is
logged and put right later (the hourly check puts schedules back; the executor holds each send
to the window as it is then). The run engine's parts are built only for the kinds that need them,
so that a handler saving any other automation never builds them."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from automations.domain.contact_rules import SCHEDULED_TRIGGERS
from automations.domain.model import Automation

if TYPE_CHECKING:  # the run engine's modules load only for the changes that need them
    from automations.service.firings import RuleFirings
    from automations.service.replanning import Replanner

_log = logging.getLogger(__name__)


class AutomationChanges:
    def __init__(self, *, firings: Callable[[], RuleFirings], replanning: Callable[[], Replanner]) -> None:
        self._firings = firings
        self._replanning = replanning

    def changed(self, before: Automation | None, after: Automation | None) -> None:
        """``before`` -> ``after`` was saved (None: created, or deleted)."""
        from automations.service.replanning import window_changed

        if any(a is not None and a.trigger in SCHEDULED_TRIGGERS for a in (before, after)):
            try:
                self._firings().automation_changed(before, after)
            except Exception:
                _log.exception("schedule of automation %s not updated", (after or before).id)
        if window_changed(before, after):
            try:
                self._replanning().replan_rule(after)
            except Exception:
                _log.exception("runs of automation %s not re-planned", after.id)
