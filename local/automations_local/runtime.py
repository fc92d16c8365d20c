"""The local runtime: moto in process, the template's resources created in it, every API route
served in process behind a movable clock, SQS event sources driven and schedules fired on that
clock, and a development account ready to use."""
from __future__ import annotations

import errno
import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import boto3

from automations import bootstrap, config, telemetry
from automations.clock import MovableClock, SystemClock, set_clock
from automations_local import (
    LOGGER_NAME, aws_model_check, console, control_api, expiry, iam_coverage, instance, openapi, outbox, patches,
    persistence, transport,
)
from automations_local.api_gateway import ApiGateway, HttpRequest, HttpResponse
from automations_local.delays import follow_the_clock
from automations_local.queues import QueueDriver
from automations_local.resources import create_resources
from automations_local.scheduler import LocalScheduler
from automations_local.server import ControlApi, LocalHttpServer
from automations_local.template import ACCOUNT_ID, DEFAULT_REGION, DEFAULT_STACK_NAME, Template, load_template

log = logging.getLogger(LOGGER_NAME)

DEV_ACCOUNT_NAME = "Development"
DEFAULT_DEV_EMAIL = "dev@example.com"

SENDER_EMAIL_ENV = "SENDER_EMAIL"  # the SES identity the product sends from
DEFAULT_STOP_GRACE_S = 30.0  # how long stop() waits for a function in progress
SERVER_POLL_S = 0.1  # how often the HTTP servers look for a shutdown request
# What the runtime answers itself, before route matching: the control API and the local pages.
CONTROL_API = ControlApi(control_api.endpoints, console.endpoints, openapi.endpoints, outbox.endpoints)

# Credentials and region for the emulated AWS; values already in the environment win.
_LOCAL_AWS_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
    "AWS_REGION": DEFAULT_REGION,
}


class LocalRuntime:
    # Where the functions' log and metric lines go while running: stdout is the command's. The
    # default (None): JSON lines to stderr. A command sets its own (serve: readable lines).
    output: telemetry.Output | None = None

    def __init__(self, template_path: str | os.PathLike | None = None, port: int = 3000,
                 host: str = "127.0.0.1", aws_endpoint: str | None = None,
                 stack_name: str = DEFAULT_STACK_NAME, data_dir: str | os.PathLike | None = None,
                 output: telemetry.Output | None = None) -> None:
        """``data_dir``: where the state is kept across restarts; None keeps it in memory only."""
        self.template_path = template_path
        self.host = host
        self.port = port  # the bound port once started (port=0 picks a free one)
        self.aws_endpoint = aws_endpoint  # the one in use once started
        self._requested_aws_endpoint = aws_endpoint
        self.stack_name = stack_name
        self.clock = MovableClock()
        self.template: Template | None = None
        self.gateway: ApiGateway | None = None
        self.queues: QueueDriver | None = None  # drives the template's SQS event sources
        self.scheduler: LocalScheduler | None = None  # fires schedules on self.clock
        self.dev_account_id: str | None = None
        self.dev_email: str | None = None
        self.dev_api_key: str | None = None
        self._moto = None  # moto's WSGI server, when this runtime started one
        self.data_dir = data_dir
        self.state: persistence.StateStore | None = None  # saves the state while running, with a data_dir
        self._claim: instance.Claim | None = None  # this runtime's hold on data_dir
        self._server: LocalHttpServer | None = None
        self._saved_environment: dict[str, str | None] = {}
        self._undo_iam_check: Callable[[], object] | None = None
        self._undo_transport: Callable[[], object] = lambda: None  # this process's calls to its own moto
        self._expiry: expiry.Expiry | None = None  # DynamoDB's TTL, on its own moto
        self.output = output or self.output
        self._output_before = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalRuntime:
        try:
            if self.data_dir is not None:  # first: no other runtime may be reading or writing its state
                self._claim = instance.Claim(self.data_dir)
            self._start_aws()
            self._restore_state()
            self.template = load_template(self.template_path, stack_name=self.stack_name,
                                          aws_endpoint=self.aws_endpoint)
            self._install_function_environment()
            self._install_aws_checks()
            self._setenv("AUTOMATIONS_LOCAL", "1")  # e.g. webhooks may call receivers on loopback
            set_clock(self.clock)
            self._output_before = telemetry.route_output(self.output or telemetry.Output(sys.stderr))
            bootstrap.reset()  # services() must see this endpoint and table
            create_resources(self.template)
            if self._moto is not None:
                self._expiry = expiry.Expiry(self._moto.app.lock, self.clock).start(paused=_aws_mocked_in_process)
            bootstrap.services().migrations.run()  # as a deploy's step: a restored old state is migrated
            self._verify_senders()
            self.gateway = ApiGateway(self.template)
            self._ensure_dev_account()
            self.queues = QueueDriver(self.template).start(paused=_aws_mocked_in_process)
            self.scheduler = LocalScheduler(self.template, self.clock).start(paused=_aws_mocked_in_process)
            if self.state is not None:
                self.state.start()
            # Last: the first request answered, /_local/health included, finds every part ready.
            self._server = self._listen()
            self.port = self._server.server_address[1]
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": SERVER_POLL_S},
                             name="automations-local-http", daemon=True).start()
            if self._claim is not None:
                self._claim.publish({"url": self.base_url, "aws_endpoint": self.aws_endpoint,
                                     "region": self.template.region, "table": os.environ.get(config.TABLE_NAME_ENV),
                                     "account_id": self.dev_account_id, "email": self.dev_email,
                                     "api_key": self.dev_api_key})
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """Stop serving, then the drivers: schedules first (they enqueue), then the poller, while
        AWS is still up for both. A function still running after ``grace_s`` is left to finish
        on its daemon thread (or to die with the process)."""
        deadline = time.monotonic() + grace_s
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for driver in (self.scheduler, self.queues):
            if driver is not None:
                driver.stop(max(0.0, deadline - time.monotonic()))
        self.scheduler = self.queues = None
        if self._expiry is not None:
            self._expiry.stop()
            self._expiry = None
        if self.state is not None:
            self.state.stop()  # the last changes, while AWS is still up and nothing else calls it
            self.state = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        if self._moto is not None:
            self._moto.shutdown()
            self._moto.server_close()
            self._moto = None
            patches.uninstall()
            self._undo_transport()
        set_clock(SystemClock())
        if self._undo_iam_check is not None:
            self._undo_iam_check()
            self._undo_iam_check = None
        if self._output_before is not None:
            telemetry.restore_output(self._output_before)
            self._output_before = None
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environment.clear()
        bootstrap.reset()

    @property
    def clock_offset(self) -> timedelta:
        """How far the local clock is from real time, to the second (ahead when positive)."""
        return timedelta(seconds=round(self.clock.offset.total_seconds()))

    def handle(self, request: HttpRequest) -> HttpResponse:
        if CONTROL_API.serves(request):
            return CONTROL_API.dispatch(self, request)
        return self.gateway.handle(request)

    @property
    def emulates_aws(self) -> bool:
        """Whether AWS is this runtime's own moto (not another endpoint)."""
        return self._moto is not None

    def stored_item(self, table: str, key: dict) -> dict | None:
        """An item as this runtime's own moto holds it now (DynamoDB's wire shape), read in
        process between two AWS calls: for tools that watch the table without adding calls."""
        from moto.dynamodb.models import dynamodb_backends

        if not self.emulates_aws:
            raise RuntimeError("this runtime uses another AWS endpoint: read it with GetItem")
        with self._moto.app.lock:
            item = dynamodb_backends[ACCOUNT_ID][self.template.region].get_item(table, key)
            return item.to_json()["Attributes"] if item is not None else None

    def create_account(self, name: str, email: str, timezone: str = "UTC") -> dict:
        account, key = bootstrap.services().accounts.create_account(name, email, timezone)
        return {"account_id": account.id, "name": account.name, "email": account.email,
                "timezone": account.timezone, "api_key": key}

    # --- start-up steps ----------------------------------------------------------------------

    def _setenv(self, key: str, value: str) -> None:
        self._saved_environment.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def _start_aws(self) -> None:
        self.aws_endpoint = self._requested_aws_endpoint or os.environ.get("AWS_ENDPOINT_URL")
        if not self.aws_endpoint:
            follow_the_clock()
            self._moto = _start_moto()
            patches.install(self.clock)
            self.aws_endpoint = f"http://127.0.0.1:{self._moto.server_port}"
            self._undo_transport = transport.send_in_process(self.aws_endpoint, self._moto.app)
        self._setenv("AWS_ENDPOINT_URL", self.aws_endpoint)
        for key, value in _LOCAL_AWS_DEFAULTS.items():
            if not os.environ.get(key):
                self._setenv(key, value)

    def _listen(self) -> LocalHttpServer:
        try:
            return LocalHttpServer((self.host, self.port), self.handle)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise RuntimeError(f"port {self.port} on {self.host} is already in use (another runtime, or another "
                               f"program): stop it, or choose another port: PORT={self.port + 1} make run, or "
                               f"automations serve --port {self.port + 1}") from None

    def _restore_state(self) -> None:
        if self.data_dir is None:
            return
        if self._moto is None:
            raise RuntimeError(f"{self.aws_endpoint} is not this runtime's own moto: its state is not kept here "
                               "(run with --ephemeral, or unset AWS_ENDPOINT_URL)")
        state = persistence.StateStore(self.data_dir, self._moto.app, self.clock)
        if state.restore():  # a refused file raises, and is never saved over
            log.info("state restored from %s", state.path)
        self.state = state

    def _install_function_environment(self) -> None:
        environment, warnings = self.template.shared_environment()
        for warning in warnings:
            log.warning(warning)
        for key, value in environment.items():
            self._setenv(key, value)

    def _install_aws_checks(self) -> None:
        """Under their flags: requests checked against the AWS API model, and each function's
        calls against its IAM role (violations and denials are logged as errors)."""
        if aws_model_check.enabled():
            aws_model_check.install()
        if iam_coverage.enabled():
            before = iam_coverage.enable(self.template)
            self._undo_iam_check = lambda: iam_coverage.enable(before)  # stop() evaluates the earlier template again
            iam_coverage.current_model()  # built now (seconds), not in the first function call

    def _verify_senders(self) -> None:
        """moto's SES refuses mail from an unverified address, as SES does."""
        senders = {f.environment[SENDER_EMAIL_ENV] for f in self.template.functions.values()
                   if f.environment.get(SENDER_EMAIL_ENV)}
        if senders:
            ses = boto3.session.Session(region_name=self.template.region).client("ses")
            for sender in sorted(senders):
                ses.verify_email_identity(EmailAddress=sender)

    def _ensure_dev_account(self) -> None:
        email = os.environ.get("AUTOMATIONS_DEV_EMAIL") or DEFAULT_DEV_EMAIL
        key = os.environ.get("AUTOMATIONS_DEV_API_KEY") or None
        account, key = bootstrap.services().accounts.ensure_account(DEV_ACCOUNT_NAME, email, key)
        self.dev_account_id, self.dev_email, self.dev_api_key = account.id, account.email, key


def _aws_mocked_in_process() -> bool:
    """A test's mock_aws is active in this process. It intercepts every botocore call, this
    runtime's included, so the background drivers pause rather than act on the mock's world
    (taking its queue's messages, firing its schedules)."""
    models = sys.modules.get("moto.core.models")
    return bool(models and models.botocore_stubber.enabled)


class OneCallAtATime:
    """moto's server app, answering one AWS call at a time: its backends are not thread-safe
    (two conditional transactions could both win), whereas every AWS call is atomic. Each call
    that succeeded and may have changed state is told to ``on_change`` (the saved state's),
    inside the call."""

    def __init__(self, app) -> None:
        self.app, self.lock = app, threading.Lock()
        self.on_change: Callable[[dict, bytes], object] | None = None

    def __call__(self, environ, start_response):
        body = b""
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
        statuses = []

        def answer(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        with self.lock:
            response = list(self.app(environ, answer))
            if self.on_change is not None and statuses[-1].startswith("2") and persistence.changes_state(environ, body):
                self.on_change(environ, body)
            return response


def _start_moto():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from moto.moto_api._internal.models import moto_api_backend

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    # moto's backends are process-wide: a runtime that starts its own emulation starts empty,
    # whatever an earlier runtime in this process left there.
    moto_api_backend.reset()
    app = OneCallAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SERVER_POLL_S}, name="moto",
                     daemon=True).start()
    return server
