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


def sms_allowed_country_codes() -> tuple[str, ...]:
    """The country calling codes texts may go to ("1,44,31": North America, the UK, the Netherlands)."""
    codes = os.environ.get("SMS_ALLOWED_COUNTRY_CODES", "1,44,31")
    return tuple(code.strip().lstrip("+") for code in codes.split(",") if code.strip())


def sms_send_rate() -> float:
    """Texts per second SNS allows the account (its SMS quota, 20 by default): the outbox relay's pace."""
    return float(os.environ.get("SMS_SEND_RATE", "20"))


def sweep_queue_url() -> str:
    return os.environ["SWEEP_QUEUE_URL"]


def sweep_fan_out_queue_url() -> str:
    return os.environ["SWEEP_FAN_OUT_QUEUE_URL"]


# -- the run engine: where runs are scheduled and queued (template.yaml sets these) ---------------
def run_schedule_group() -> str:
    return os.environ["RUN_SCHEDULE_GROUP"]


def run_executor_arn() -> str:
    return os.environ["RUN_EXECUTOR_ARN"]


def rule_expander_arn() -> str:
    return os.environ["RULE_EXPANDER_ARN"]


def scheduler_role_arn() -> str:
    return os.environ["SCHEDULER_ROLE_ARN"]


def schedule_dead_letter_arn() -> str:
    return os.environ["SCHEDULE_DLQ_ARN"]


def run_queue_url() -> str:
    return os.environ["RUN_QUEUE_URL"]


def expand_queue_url() -> str:
    return os.environ["EXPAND_QUEUE_URL"]


def event_bus_name() -> str:
    return os.environ.get("EVENT_BUS_NAME", "default")


def events_queue_url() -> str:
    """The ingestion queue: /v1/events, the bus's rule and the product's own contact events feed it."""
    return os.environ["EVENTS_QUEUE_URL"]


def ticket_job_queue_url() -> str:
    return os.environ["TICKET_JOB_QUEUE_URL"]
