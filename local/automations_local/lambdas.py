"""Lambda, in process: a function's handler invoked as Lambda invokes it, in a warm sandbox of
its own with the function's context and Timeout, synchronously (the API, the SQS event sources)
or asynchronously with retries and the OnFailure destination (EventBridge Scheduler's)."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from automations import clock
from automations_local import LOGGER_NAME, iam_coverage
from automations_local.template import ACCOUNT_ID, Function

log = logging.getLogger(LOGGER_NAME)


class LambdaContext:
    """What Lambda passes as ``context`` (the attributes Powertools and handlers read)."""

    def __init__(self, function: Function, region: str, request_id: str | None = None) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function.name}"
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Sandboxes:
    """A function's warm sandboxes. Each is its own instance of the handler module (its own
    Powertools resolver, whose ``current_event`` and ``context`` belong to one request) and
    serves one invocation at a time, as a Lambda sandbox does; concurrent invocations get
    another, loaded on demand, and an idle one is reused."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._idle: list[Callable] = []
        self._loaded = 0
        self._lock = threading.Lock()

    @contextmanager
    def handler(self) -> Iterator[Callable]:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
            number = self._loaded
            self._loaded += handler is None
        if handler is None:
            try:
                handler = self._load(number)
            except BaseException:
                with self._lock:
                    self._loaded -= 1
                raise
        try:
            yield handler
        finally:
            with self._lock:
                self._idle.append(handler)

    def _load(self, number: int) -> Callable:
        """Import the handler module under a name unique to its file and sandbox."""
        source = self.function.handler_file
        digest = hashlib.sha1(str(source).encode()).hexdigest()[:8]
        module_name = f"_lambda_{self.function.logical_id}_{digest}_{number}"
        spec = importlib.util.spec_from_file_location(module_name, source)
        if spec is None or not source.is_file():
            raise FileNotFoundError(f"{self.function.logical_id}: no handler module at {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # pydantic and dataclasses look modules up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return getattr(module, self.function.handler_name)


_sandboxes: dict[tuple[str, str], _Sandboxes] = {}
_sandboxes_lock = threading.Lock()


def sandboxes(function: Function) -> _Sandboxes:
    key = (str(function.handler_file), function.handler_name)
    with _sandboxes_lock:
        if key not in _sandboxes:
            _sandboxes[key] = _Sandboxes(function)
        return _sandboxes[key]


def invoke(function: Function, event: Any, *, region: str = "us-east-1", request_id: str | None = None) -> Any:
    """Call a function's handler in process, in a sandbox of its own, as Lambda would;
    exceptions propagate."""
    with sandboxes(function).handler() as handler, iam_coverage.running(function.logical_id):
        started = time.monotonic()
        try:
            return handler(event, LambdaContext(function, region, request_id))
        finally:
            elapsed = time.monotonic() - started
            if elapsed > function.timeout_s:  # Lambda would have killed it; say so rather than hide it
                log.warning("%s ran %.1fs, over its %ss Timeout", function.logical_id, elapsed, function.timeout_s)


def invoke_async(function: Function, event: Any, *, region: str = "us-east-1") -> tuple[Any, Exception | None]:
    """An asynchronous invocation (EventBridge Scheduler's), as Lambda handles one: a function
    error is retried ``async_retries`` times (back to back here), then the invocation record goes
    to the function's OnFailure queue, if it has one. (result, None), or (None, the last error).
    Every attempt has the invocation's one request id, as in Lambda."""
    error: Exception | None = None
    request_id = str(uuid.uuid4())
    for _ in range(1 + function.async_retries):
        try:
            return invoke(function, event, region=region, request_id=request_id), None
        except Exception as failure:  # noqa: BLE001 - any function error is retried, as Lambda does
            error = failure
    log.error("%s failed %d times on an asynchronous invocation: %s", function.logical_id,
              1 + function.async_retries, error, exc_info=error)
    if function.on_failure_arn:
        _send_invocation_record(function, event, error, region)
    return None, error


def _send_invocation_record(function: Function, event: Any, error: Exception, region: str) -> None:
    """Lambda's invocation record for an OnFailure destination."""
    import boto3  # noqa: PLC0415 - only failed asynchronous invocations need it
    from botocore.exceptions import ClientError  # noqa: PLC0415

    record = {
        "version": "1.0", "timestamp": clock.iso_z(clock.now()),
        "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetriesExhausted",
                           "functionArn": f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function.name}:$LATEST",
                           "approximateInvokeCount": 1 + function.async_retries},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }
    sqs = boto3.client("sqs", region_name=region)
    try:
        url = sqs.get_queue_url(QueueName=function.on_failure_arn.rsplit(":", 1)[1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
    except ClientError:
        log.exception("could not send %s's failed invocation to %s", function.logical_id, function.on_failure_arn)
