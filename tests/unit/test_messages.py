"""The queues' messages (domain/messages.py): each parses every shape the release before them
wrote (a deploy runs both side by side for minutes, and the queues hold the old one's messages),
writes the same keys back, and a body that is none of them is a MalformedMessage."""
import json
from datetime import date, datetime, timezone

import pytest

from automations.domain.messages import (
    BucketDispatch, ContactReplan, Continued, Expansion, HourlyCheck, MalformedMessage, RedrivePass, RuleReplan,
    RunReference, TicketJob, expand_queue_message, in_pages, run_queue_message)
from automations.domain.sweep import FanOut, SweepTask

MINUTE = datetime(2026, 11, 2, 14, 30, tzinfo=timezone.utc)

# Each body exactly as the code before typed messages wrote it (json.dumps, its separators and
# key order), and what it is.
RUN_QUEUE = [
    # SqsRunQueue.execute_soon, json.dumps with its default separators
    ('{"account_id": "acc_1", "run_id": "run_1"}', RunReference("acc_1", "run_1")),
    ('{"account_id": "acc_1", "run_id": "run_1", "redriven": true}', RunReference("acc_1", "run_1", True)),
    # a run's (and a retry's) schedule input
    ('{"account_id":"acc_1","run_id":"run_1"}', RunReference("acc_1", "run_1")),
    # a time bucket's schedule input (domain/run.py's bucket_task), and its rest handed on
    ('{"due_minute":"2026-11-02T14:30:00+00:00","shard":7}', BucketDispatch(MINUTE, 7)),
    ('{"due_minute":"2026-11-02T14:30:00+00:00","shard":7,"after":"2026-11-02T14:30:12|run_9"}',
     BucketDispatch(MINUTE, 7, "2026-11-02T14:30:12|run_9")),
    # the rest of an hourly re-drive: each shard's position, its start or read to the end
    ('{"redrive_before":"2026-11-02T14:30:00+00:00","after":[null,"done","2026-11-02T14:01:00|run_3"]}',
     RedrivePass(MINUTE, (None, "done", "2026-11-02T14:01:00|run_3"))),
]
EXPAND_QUEUE = [
    # a firing's schedule input, its shards queued, and a shard's rest with its cursor
    ('{"account_id":"acc_1","automation_id":12,"day":"2026-11-02"}', Expansion("acc_1", 12, date(2026, 11, 2))),
    ('{"account_id":"acc_1","automation_id":12,"day":"2026-11-02","shard":3}',
     Expansion("acc_1", 12, date(2026, 11, 2), 3)),
    ('{"account_id":"acc_1","automation_id":12,"day":"2026-11-02","shard":3,"cursor":"eyJwayI6IDF9"}',
     Expansion("acc_1", 12, date(2026, 11, 2), 3, "eyJwayI6IDF9")),
    # an account's hourly check, and the rest of its catch-up
    ('{"account_id":"acc_1","hourly_check":true}', HourlyCheck("acc_1")),
    ('{"account_id":"acc_1","hourly_check":true,"since":"2026-11-02T12:30:00Z","cursor":"c1"}',
     HourlyCheck("acc_1", "2026-11-02T12:30:00Z", "c1")),
    # a rule's re-plan, a shard at a time, its rest; a contact's
    ('{"account_id":"acc_1","automation_id":12,"shard":5,"replan":true}', RuleReplan("acc_1", 12, 5)),
    ('{"account_id":"acc_1","automation_id":12,"shard":5,"replan":true,"after":"w1"}',
     RuleReplan("acc_1", 12, 5, "w1")),
    ('{"account_id":"acc_1","contact_uuid":"c-1","replan":true}', ContactReplan("acc_1", "c-1")),
]
OTHER_QUEUES = [  # ticket jobs (json.dumps, default separators), the sweep's tasks and fan-out steps
    (TicketJob.from_json, '{"account_id": "acc_1", "job_id": "job_1"}', TicketJob("acc_1", "job_1")),
    (SweepTask.from_json, '{"sweep_id":"s1","cycle":"c1","now":"2026-11-02T14:00:00+00:00","account_id":"acc_1",'
                          '"shard":2,"start":null}', SweepTask("s1", "c1", "2026-11-02T14:00:00+00:00", "acc_1", 2)),
    (SweepTask.from_json, '{"sweep_id":"s1","cycle":"c1","now":"2026-11-02T14:00:00+00:00","account_id":"acc_1",'
                          '"shard":2,"start":{"pk":"x"}}',
     SweepTask("s1", "c1", "2026-11-02T14:00:00+00:00", "acc_1", 2, {"pk": "x"})),
    (FanOut.from_json, '{"purpose":"sweep","sweep_id":"s1","cycle":"c1","now":"2026-11-02T14:00:00+00:00",'
                       '"after":null}', FanOut("sweep", "s1", "c1", "2026-11-02T14:00:00+00:00")),
    (FanOut.from_json, '{"purpose":"hourly_check","sweep_id":"s1","cycle":"c1","now":"2026-11-02T14:00:00+00:00",'
                       '"after":"acc_9"}', FanOut("hourly_check", "s1", "c1", "2026-11-02T14:00:00+00:00", "acc_9")),
]
EVERY_SHAPE = ([(run_queue_message, body, m) for body, m in RUN_QUEUE]
               + [(expand_queue_message, body, m) for body, m in EXPAND_QUEUE] + OTHER_QUEUES)


@pytest.mark.parametrize(("parse", "body", "message"), EVERY_SHAPE)
def test_every_shape_the_release_before_wrote_is_read_and_written_back_with_the_same_keys(parse, body, message):
    assert parse(body) == message
    assert json.loads(message.to_json()) == json.loads(body)  # the release before reads what this one writes


@pytest.mark.parametrize(("parse", "body", "message"), EVERY_SHAPE)
def test_a_message_goes_round_the_wire_unchanged(parse, body, message):
    assert parse(message.to_json()) == message


def test_a_schedule_input_as_lambda_decoded_it_is_read_too():
    assert run_queue_message({"account_id": "acc_1", "run_id": "run_1"}) == RunReference("acc_1", "run_1")
    assert expand_queue_message({"account_id": "acc_1", "automation_id": 12, "day": "2026-11-02"}) == Expansion(
        "acc_1", 12, date(2026, 11, 2))


def test_an_expansion_without_a_shard_is_its_firing_anew_whatever_cursor_it_carries():
    assert expand_queue_message('{"account_id":"a","automation_id":1,"day":"2026-11-02","cursor":"c"}').cursor is None


@pytest.mark.parametrize(("parse", "body"), [
    (run_queue_message, "not json"),
    (run_queue_message, '["acc_1", "run_1"]'),
    (run_queue_message, '{"run_id": "run_1"}'),
    (run_queue_message, '{"due_minute": "soon", "shard": 1}'),
    (run_queue_message, '{"due_minute": "2026-11-02T14:30:00+00:00", "shard": "seven"}'),
    (run_queue_message, '{"redrive_before": "2026-11-02T14:30:00+00:00", "after": "done"}'),
    (run_queue_message, '{"redrive_before": "2026-11-02T14:30:00+00:00", "after": [1]}'),
    (expand_queue_message, ""),
    (expand_queue_message, '{"hourly_check": true}'),
    (expand_queue_message, '{"account_id": "a", "hourly_check": true, "cursor": 5}'),
    (expand_queue_message, '{"account_id": "a", "automation_id": "twelve", "day": "2026-11-02"}'),
    (expand_queue_message, '{"account_id": "a", "automation_id": 12, "day": "Monday"}'),
    (expand_queue_message, '{"account_id": "a", "automation_id": 12, "replan": true}'),
    (TicketJob.from_json, '{"account_id": "a"}'),
    (SweepTask.from_json, '{"sweep_id": "s1"}'),
    (FanOut.from_json, "null"),
])
def test_a_body_that_is_none_of_its_queues_messages_is_malformed(parse, body):
    with pytest.raises(MalformedMessage, match="not a"):
        parse(body)


def _page(left):
    """A page of a task that is what its pages do, in turn: the first, and the rest."""
    return left[0], left[1:] or None


def test_in_pages_does_a_page_at_least_and_hands_the_rest_on_once_when_time_runs_short():
    handed = []
    assert in_pages((3, 4, 5), _page, has_time=lambda: False, hand_on=handed.append) == Continued(3, (4, 5))
    assert handed == [(4, 5)]


def test_in_pages_goes_on_while_there_is_time_and_hands_nothing_on_at_the_end():
    handed, time_left = [], iter([True, False])
    assert in_pages((3, 4, 5), _page, has_time=lambda: next(time_left), hand_on=handed.append) == Continued(7, (5,))
    assert in_pages((3, 4), _page, has_time=lambda: True, hand_on=handed.append) == Continued(7)
    assert handed == [(5,)]


def test_in_pages_adds_up_what_each_page_did_a_count_or_a_list():
    def page(left):
        return [left[0]], left[1:] or None

    assert in_pages(("a", "b"), page, has_time=lambda: True, hand_on=print) == Continued(["a", "b"])
