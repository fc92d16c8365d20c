"""What follows a saved automation change (service/automation_changes.py): the schedule of a
recurring or date-field rule, the waiting runs of a contact rule whose window changed; a failure
of either never fails the save, and neither part is built for the kinds that need neither."""
import logging
from dataclasses import replace
from datetime import datetime, timezone

from automations.domain.model import Automation, Conditions, SubjectKind, Trigger
from automations.service.automation_changes import AutomationChanges

AT = datetime(2026, 12, 7, tzinfo=timezone.utc)


def automation(trigger, subject=SubjectKind.CONTACT, window=None):
    config = {"delay": {}, **({"window": window} if window else {})}
    return Automation(account_id="acc", id=7, uuid="u", title="t", active=True, position=1, subject=subject,
                      trigger=trigger, conditions=Conditions(), actions=(), created_at=AT, updated_at=AT,
                      trigger_config=config)


class Recorder:
    def __init__(self, failing=False):
        self.calls, self.failing = [], failing

    def automation_changed(self, before, after):
        self.calls.append(("schedule", before, after))
        if self.failing:
            raise ConnectionError("Scheduler is unreachable")

    def replan_rule(self, automation):
        self.calls.append(("replan", automation))


def changes(firings, replanning, built):
    def part(name, value):
        def build():
            built.append(name)
            return value
        return build
    return AutomationChanges(firings=part("firings", firings), replanning=part("replanning", replanning))


def test_a_recurring_rule_s_schedule_follows_it():
    firings, built = Recorder(), []
    rule = automation(Trigger.RECURRING)
    changes(firings, Recorder(), built).changed(None, rule)
    assert firings.calls == [("schedule", None, rule)] and built == ["firings"]


def test_a_contact_rule_whose_window_changed_has_its_waiting_runs_re_planned():
    replanning, built = Recorder(), []
    before = automation(Trigger.LIST_JOINED, window={"from": "09:00", "to": "17:00"})
    after = replace(before, trigger_config={"delay": {}, "window": {"from": "10:00", "to": "17:00"}})
    changes(Recorder(), replanning, built).changed(before, after)
    assert replanning.calls == [("replan", after)] and built == ["replanning"]


def test_other_kinds_build_no_part_of_the_run_engine():
    built = []
    ticket_rule = automation(Trigger.SWEEP, subject=SubjectKind.TICKET)
    same_window = automation(Trigger.LIST_JOINED, window={"from": "09:00", "to": "17:00"})
    changed = changes(Recorder(), Recorder(), built)
    changed.changed(None, ticket_rule)
    changed.changed(same_window, replace(same_window, title="renamed"))
    assert built == []


def test_a_failing_schedule_never_fails_the_save_and_the_re_plan_still_happens(caplog):
    firings, replanning, built = Recorder(failing=True), Recorder(), []
    before = automation(Trigger.DATE_FIELD, window={"from": "09:00", "to": "17:00"})
    after = replace(before, trigger_config={"delay": {}, "window": {"from": "08:00", "to": "17:00"}})
    with caplog.at_level(logging.ERROR):
        changes(firings, replanning, built).changed(before, after)
    assert [c[0] for c in firings.calls] == ["schedule"] and replanning.calls == [("replan", after)]
    assert "schedule of automation 7 not updated" in caplog.text
