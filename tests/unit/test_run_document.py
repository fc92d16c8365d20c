"""A run as stored (adapters/dynamo_runs.py): defaults left out so the item stays small, but only
those the previous release also read with a default, so during a canary deploy a function of
either release reads what the other wrote."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from automations.adapters.dynamo_runs import run_document, run_from_document
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus

MADE = datetime(2026, 12, 7, 9, tzinfo=timezone.utc)
# What the previous release's reader took from a stored run without a default.
READ_WITHOUT_DEFAULT = {"id", "automation_id", "subject_kind", "subject_id", "occurrence", "status", "created_at",
                        "updated_at", "due_at", "data", "changes", "deliveries", "history", "error"}


def _waiting() -> Run:
    due = MADE + timedelta(hours=1)
    return Run(account_id="acc_1", id="run_1", automation_id=2, subject_kind=SubjectKind.CONTACT, subject_id="c-1",
               occurrence="evt_1", status=RunStatus.SCHEDULED, created_at=MADE, updated_at=MADE, due_at=due,
               not_before=due)


def test_a_waiting_run_is_stored_without_its_defaults_and_read_back_whole():
    run = _waiting()
    doc = run_document(run)
    assert set(doc) == READ_WITHOUT_DEFAULT  # no attempts, lease, template, step, trigger, moves; not_before is due_at
    assert run_from_document("acc_1", "run_1", doc) == run
    assert run_from_document("acc_1", "run_1", {k: v for k, v in doc.items() if k != "id"}) == run  # the key names it


def test_what_differs_from_a_default_is_stored_and_read_back():
    run = replace(_waiting(), status=RunStatus.RUNNING, attempts=2, lease_until=MADE + timedelta(hours=2),
                  template_id=4, step=1, trigger="list_joined", moves=1, due_at=MADE + timedelta(hours=3))
    doc = run_document(run)
    assert {"attempts", "lease_until", "template_id", "step", "trigger", "not_before", "moves"} <= set(doc)
    assert run_from_document("acc_1", "run_1", doc) == run
