"""Settings read from the environment that template.yaml (or the local runtime) gives each function."""
from __future__ import annotations

import os

TABLE_NAME_ENV = "TABLE_NAME"


def table_name() -> str:
    return os.environ.get(TABLE_NAME_ENV, "automations")


def stage() -> str:
    return os.environ.get("STAGE", "dev")


def auth_cache_seconds() -> int:
    """How long a warm container trusts a verified key (bounds how late a revocation bites)."""
    return int(os.environ.get("AUTH_CACHE_SECONDS", "30"))


def sender_email() -> str:
    return os.environ.get("SENDER_EMAIL", "automations@example.com")


def sweep_queue_url() -> str:
    return os.environ["SWEEP_QUEUE_URL"]
