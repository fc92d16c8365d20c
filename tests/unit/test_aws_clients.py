"""One boto3 client per service per process, however many threads ask at once."""
from __future__ import annotations

import threading
import time

import boto3

from automations.adapters import aws


def test_threads_asking_at_once_after_a_reset_share_one_client(monkeypatch):
    built = []
    real = boto3.session.Session.client

    def slow_client(session, *args, **kwargs):  # building a client takes tens of milliseconds
        time.sleep(0.05)
        made = real(session, *args, **kwargs)
        built.append(made)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", slow_client)
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
