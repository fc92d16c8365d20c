"""Logs, metrics and traces, through Powertools, in one place.

- ``logger``: the product's structured logger. Module loggers under ``automations`` propagate to
  it, so their lines carry the same keys.
- ``lambda_handler``: every handler goes through it (the HTTP surfaces' ``endpoint`` and the queue
  and schedule handlers): the invocation's keys (function name, request id, cold start) on every
  line, per thread, so concurrent invocations in the local runtime never borrow each other's;
  and the Powertools Tracer around the handler, created at the first invocation (the X-Ray SDK
  is not paid for at import, as boto3 is not).
- ``log_keys``: keys for the lines inside a block (a run's ``account_id``, ``automation_id``,
  ``run_id``; a sweep task's ``sweep_id``).
- ``count`` and ``measure``: CloudWatch embedded-format metrics in the ``Automations`` namespace.
  Dimensions stay bounded: ``service`` (the stack, so two stacks never mix) and at most one small
  set (a trigger kind, a channel, a reason). Account, run and other ids go in as properties: in the
  log line, searchable, never a dimension."""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from aws_lambda_powertools import Logger

from automations import invocation

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "automations")
_metrics_stream: TextIO | None = None  # None: stdout, where Lambda takes embedded-format metrics from

_cold = True


@functools.cache
def _tracer():
    from aws_lambda_powertools import Tracer  # noqa: PLC0415 - the X-Ray SDK only when invoked

    # Botocore only: the functions call out with nothing else the SDK patches (by default it
    # imports sqlite3 and ten other libraries' patches at the first invocation).
    return Tracer(patch_modules=("botocore",))


def lambda_handler(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap a Lambda handler: invocation keys on its log lines, a trace around it, and the time
    left (``invocation.seconds_left``) for calls nothing else bounds."""

    @functools.wraps(fn)
    def handler(event: Any, context: Any) -> Any:
        global _cold
        cold, _cold = _cold, False
        keys = {"cold_start": cold}
        if context is not None:
            keys |= {"function_name": getattr(context, "function_name", None),
                     "function_request_id": getattr(context, "aws_request_id", None)}
        with log_keys(**keys), invocation.serving(context):
            return _traced(fn)(event, context)

    handler.observed = True  # what tests look for on every handler
    return handler


@functools.cache
def _traced(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return _tracer().capture_lambda_handler(fn, capture_response=False)


@contextmanager
def log_keys(**keys: Any) -> Iterator[None]:
    """``keys`` on every log line of this thread inside the block (None values are left out)."""
    keys = {key: value for key, value in keys.items() if value is not None}
    before = logger.thread_safe_get_current_keys()
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)
        restored = {key: before[key] for key in keys if key in before}
        if restored:
            logger.thread_safe_append_keys(**restored)


def count(name: str, value: float = 1, *, dimension: tuple[str, str] | None = None, **properties: Any) -> None:
    """Add ``value`` to the count ``name`` (by ``dimension``, e.g. ("trigger", "event"))."""
    measure(name, value, "Count", dimension=dimension, **properties)


def measure(name: str, value: float, unit: str, *, dimension: tuple[str, str] | None = None,
            **properties: Any) -> None:
    """One data point of ``name`` in ``unit`` (Count, Seconds, Milliseconds) as an EMF line."""
    from aws_lambda_powertools.metrics.base import SingleMetric  # noqa: PLC0415 - on first use
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled  # noqa: PLC0415

    if is_metrics_disabled():
        return
    metric = SingleMetric(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Automations")
    metric.add_metric(name=name, unit=unit, value=value)
    metric.add_dimension(name="service", value=os.environ.get("STACK_NAME") or "automations")
    if dimension is not None:
        metric.add_dimension(name=dimension[0], value=str(dimension[1]))
    for key, item in properties.items():
        if item is not None:
            metric.add_metadata(key=key, value=item)
    print(json.dumps(metric.serialize_metric_set(), separators=(",", ":"), default=str),
          file=_metrics_stream or sys.stdout, flush=True)


@dataclass(frozen=True)
class Output:
    """Where the product's lines go in a process with a console of its own (the local runtime and
    its commands), instead of stdout as in Lambda: its JSON log lines and embedded-format metric
    lines to ``structured`` (None: nowhere), and one readable line per log record at INFO and
    above to ``console`` (None: none)."""

    structured: TextIO | None
    console: TextIO | None = None


def send_output_to(stream: TextIO | None) -> tuple[Any, ...]:
    """Log lines and metrics to ``stream`` (None: back to stdout); returns what to pass to
    ``restore_output``."""
    return route_output(Output(stream or sys.stdout))


def route_output(output: Output) -> tuple[Any, ...]:
    """Send the product's lines as ``output`` says; returns what to pass to ``restore_output``."""
    global _metrics_stream
    structured = output.structured or _nowhere()
    console = None
    if output.console is not None:
        console = logging.StreamHandler(output.console)
        console.setLevel(logging.INFO)
        console.setFormatter(OneLine())
        logger.addHandler(console)
    before = (logger.registered_handler.setStream(structured), _metrics_stream, console)
    _metrics_stream = structured
    return before


def restore_output(before: tuple[Any, ...]) -> None:
    global _metrics_stream
    stream, _metrics_stream, console = before
    logger.registered_handler.setStream(stream)
    if console is not None:
        logger.removeHandler(console)


@contextmanager
def unobserved() -> Iterator[None]:
    """Invocations inside the block leave no log line (theirs nor a library's) and no metric, and
    the next one outside it is still the process's cold start, in its log lines and its trace
    (SnapStart's priming, before the snapshot)."""
    from aws_lambda_powertools.tracing import tracer  # noqa: PLC0415 - its ColdStart annotation's flag

    global _cold
    cold, traced_cold, before = _cold, tracer.is_cold_start, route_output(Output(None))
    # The X-Ray SDK, in Lambda, logs each subsegment it discards before a trace exists.
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(disabled)
        restore_output(before)
        _cold, tracer.is_cold_start = cold, traced_cold


@functools.cache
def _nowhere() -> TextIO:
    return open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


class OneLine(logging.Formatter):
    """A product log record as one line a person reads: time, level, the function it ran in,
    the message, and an exception's type and message (its traceback is in the JSON line)."""

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {' '.join(str(error).split())})"
        function = logger.thread_safe_get_current_keys().get("function_name")
        where = f"{function}: " if function else ""
        return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {where}{text}"


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a time.monotonic())."""
    return round((time.monotonic() - started) * 1000, 1)
