"""A run as stored (adapters/dynamo_runs.py): its id and its defaults left out so the item stays
small (under 1 KB, a write unit, for an email run), but only what the previous release also read
with a default, so during a canary deploy a function of either release reads what the other
wrote."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from automations.adapters.dynamo_runs import run_document, run_from_document
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus

MADE = datetime(2026, 12, 7, 9, tzinfo=timezone.utc)
# What the previous release's reader took from a stored run without a default (its id it takes
# from the run's key).
READ_WITHOUT_DEFAULT = {"automation_id", "subject_kind", "subject_id", "occurrence", "status", "created_at",
                        "updated_at", "due_at"}


def _waiting() -> Run:
    due = MADE + timedelta(hours=1)
    return Run(account_id="acc_1", id="run_1", automation_id=2, subject_kind=SubjectKind.CONTACT, subject_id="c-1",
               occurrence="evt_1", status=RunStatus.SCHEDULED, created_at=MADE, updated_at=MADE, due_at=due,
               not_before=due)


def test_a_waiting_run_is_stored_without_its_defaults_and_read_back_whole():
    run = _waiting()
    doc = run_document(run)
    # no id, data, changes, deliveries, history, error, attempts, lease, template, step, trigger,
    # moves; not_before is due_at
    assert set(doc) == READ_WITHOUT_DEFAULT
    assert doc["due_at"] == "2026-12-07T10:00:00Z"  # UTC with Z: five bytes less than +00:00
    assert run_from_document("acc_1", "run_1", doc) == run
    # what a release before this one wrote (every field) reads the same
    written_before = {"id": "run_1", "data": None, "changes": {}, "deliveries": [], "history": [], "error": None,
                      "attempts": 0, "lease_until": None, "template_id": None, "step": None, "trigger": None,
                      "not_before": None, "moves": 0, **doc}
    assert run_from_document("acc_1", "run_1", written_before) == run


def test_what_differs_from_a_default_is_stored_and_read_back():
    run = replace(_waiting(), status=RunStatus.RUNNING, attempts=2, lease_until=MADE + timedelta(hours=2),
                  template_id=4, step=1, trigger="list_joined", moves=1, due_at=MADE + timedelta(hours=3))
    doc = run_document(run)
    assert {"attempts", "lease_until", "template_id", "step", "trigger", "not_before", "moves"} <= set(doc)
    assert run_from_document("acc_1", "run_1", doc) == run
    finished = replace(run, status=RunStatus.FAILED, data={"plan": "gold"}, changes={"tags": ["vip"]},
                       deliveries=("dlv_1",), history=({"at": "2026-12-07T09:00:00+00:00", "event": "scheduled"},),
                       error="bounced")
    doc = run_document(finished)
    assert {"data", "changes", "deliveries", "history", "error"} <= set(doc)
    assert run_from_document("acc_1", "run_1", doc) == finished


def _due_sk(run: Run) -> str | None:
    from automations.adapters import migration_state
    from automations.adapters.dynamo_runs import DynamoRunStore

    # A table with no runs of before the SubjectRunsIndex (whether it has any is read once, from the table).
    migration_state.learned_finished("table", migration_state.RUNS_SUBJECT_INDEX)
    due = DynamoRunStore(None, "table").item(run).get("DUE_SK")
    return due["S"].split("#")[0] if due else None


def test_a_claim_leaves_the_run_at_its_due_time_where_a_wait_for_the_next_attempt_moves_it():
    """In the DueIndex a run in an attempt stays at its due time (moving it at each claim would
    cost the index a delete and a put); one waiting for a retry or after a throttle sits at its
    lease's end, so the hourly re-drive leaves it alone until then."""
    from automations.clock import sortable
    from automations.domain.run import STARTED, history_entry

    waiting, lease = _waiting(), MADE + timedelta(hours=1, minutes=5)
    claimed = replace(waiting, status=RunStatus.RUNNING, attempts=1, lease_until=lease,
                      history=(history_entry(MADE, "scheduled", None), history_entry(waiting.due_at, STARTED, None)))
    assert _due_sk(waiting) == _due_sk(claimed) == sortable(waiting.due_at)
    retrying = replace(claimed, history=claimed.history + (history_entry(waiting.due_at, "retrying", "in 60 s"),))
    assert _due_sk(retrying) == sortable(lease)
    assert _due_sk(replace(claimed, due_at=None)) == sortable(lease)  # no due time: its lease's end
    assert _due_sk(replace(claimed, status=RunStatus.SUCCEEDED)) is None  # finished runs leave the index
