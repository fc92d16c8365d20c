"""One boto3 client per service per process, however many threads ask at once, and nothing
wired during a reset keeps the clients it replaced."""
from __future__ import annotations

import sys
import threading
import time

import boto3

from automations import bootstrap
from automations.adapters import aws


def _slow_clients(monkeypatch, seconds: float) -> list:
    """Building a client takes ``seconds`` (tens of milliseconds for real); returns those built."""
    built = []
    real = boto3.session.Session.client

    def slow_client(session, *args, **kwargs):
        time.sleep(seconds)
        made = real(session, *args, **kwargs)
        built.append(made)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", slow_client)
    return built


def test_threads_asking_at_once_after_a_reset_share_one_client(monkeypatch):
    built = _slow_clients(monkeypatch, 0.05)
    aws.reset_clients()
    start, got = threading.Barrier(8), []

    def ask():
        start.wait()
        got.append(aws.client("dynamodb"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(built) == 1
        assert all(one is aws.client("dynamodb") for one in got)
    finally:
        aws.reset_clients()


def test_services_wired_while_a_reset_runs_hold_the_new_clients(monkeypatch):
    """The e2e CLI tests reset the wiring while the local runtime's threads serve: a service built
    between the reset's steps kept the old DynamoDB client, unseen by hooks on the new one."""
    _slow_clients(monkeypatch, 0.002)
    interval, stop, stale = sys.getswitchinterval(), threading.Event(), 0

    def serve():
        while not stop.is_set():
            bootstrap.services()._db
            aws.client("sqs")

    sys.setswitchinterval(1e-5)  # threads interleave finely, as under load
    threads = [threading.Thread(target=serve) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            bootstrap.reset()
            time.sleep(0.01)
            stale += bootstrap.services()._db is not aws.client("dynamodb")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(interval)
        bootstrap.reset()
    assert stale == 0


def test_the_clients_of_a_process_come_from_one_session(monkeypatch):
    """A session of its own per client reads botocore's endpoint and retry data again: on a cold
    start, the larger part of making a second client. A reset starts a new session."""
    sessions = []
    real = boto3.session.Session.__init__

    def counted(session, *args, **kwargs):
        sessions.append(session)
        real(session, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counted)
    aws.reset_clients()
    try:
        aws.client("dynamodb"), aws.client("sqs"), aws.client("scheduler")
        assert len(sessions) == 1
        aws.reset_clients()
        aws.client("dynamodb")
        assert len(sessions) == 2
    finally:
        aws.reset_clients()
