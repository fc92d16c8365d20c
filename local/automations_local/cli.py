"""The ``automations`` command: serve the local runtime, and manage accounts and API keys on a
local or deployed stack."""
from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading

from automations import config

TABLE_ENV = "AUTOMATIONS_TABLE"  # the deployed table's name (stack output TableName)
DEFAULT_DATA_DIR = ".automations-local"  # beside the project, git-ignored
STOP_GRACE_S = 0.5  # what serve gives functions in progress on SIGTERM or Ctrl-C: it stops within 2 s
STOP_LIMIT_S = 10.0  # a stop still going after this is stuck: serve shows where and ends anyway


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.run(args, extra) or 0
    except Exception as error:  # a one-line message, never a traceback
        print(f"automations: {' '.join(str(error).split()) or type(error).__name__}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automations", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the whole stack locally (moto in process)")
    serve.add_argument("--port", type=int, default=os.environ.get("PORT", "3000"),
                       help="HTTP port (default: $PORT or 3000; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--template", help="path to template.yaml (default: found from here)")
    keep = serve.add_mutually_exclusive_group()
    keep.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                      help=f"where the state is kept across restarts (default: {DEFAULT_DATA_DIR})")
    keep.add_argument("--ephemeral", action="store_true", help="keep the state in memory only, lost on stop")
    serve.set_defaults(run=_serve)

    accounts = commands.add_parser("accounts", help="manage accounts").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    create_account = accounts.add_parser("create", help="create an account and its first API key")
    create_account.add_argument("name")
    create_account.add_argument("--email", required=True)
    create_account.add_argument("--timezone", default="UTC", help="IANA time zone (default: UTC)")
    create_account.set_defaults(run=_create_account)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    create_key = keys.add_parser("create", help="create another API key for an account")
    create_key.add_argument("account_id")
    create_key.set_defaults(run=_create_key)
    revoke_key = keys.add_parser("revoke", help="revoke an API key")
    revoke_key.add_argument("key_id")
    revoke_key.set_defaults(run=_revoke_key)

    migrate = commands.add_parser(
        "migrate", help="run the pending data migrations to the end (a deploy's step), or show them")
    migrate.add_argument("--status", action="store_true", help="show each migration and whether it is done")
    migrate.set_defaults(run=_migrate)

    openapi = commands.add_parser("openapi", help="regenerate the native API's OpenAPI document (openapi.json)")
    openapi.add_argument("--template", help="path to template.yaml (default: found from here)")
    openapi.set_defaults(run=_openapi)

    iam_report = commands.add_parser(
        "iam-report", help="evaluate the AWS calls the tests recorded against each function's IAM role: "
                           "denials (exit 1) and grants no call used")
    iam_report.add_argument("--calls", default=".aws-calls",
                            help="directory the tests wrote the calls to (default: .aws-calls)")
    iam_report.add_argument("--template", help="path to template.yaml (default: found from here)")
    iam_report.set_defaults(run=_iam_report)

    # --- bench: owned by automations_local.bench, which parses its own arguments ---
    bench = commands.add_parser("bench", add_help=False, help="run the benchmarks (see `automations bench -h`)")
    bench.set_defaults(run=_bench)

    return parser


# --- serve ---------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    from automations_local import LOGGER_NAME
    from automations_local.runtime import LocalRuntime

    # Libraries warn only; the runtime's access log and handler tracebacks show.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger(LOGGER_NAME).setLevel(logging.INFO)
    runtime = LocalRuntime(template_path=args.template, port=args.port, host=args.host,
                           data_dir=None if args.ephemeral else args.data_dir)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    runtime.start()
    try:
        print(f"Automations local runtime at {runtime.base_url}", flush=True)
        print(f"  AWS endpoint: {runtime.aws_endpoint}")
        print(f"  Dev account:  {runtime.dev_email} ({runtime.dev_account_id})")
        print(f"  Dev API key:  {runtime.dev_api_key}")
        print(f"  Console:      {runtime.base_url}/_local/console")
        print(f"  API docs:     {runtime.base_url}/docs")
        print(f"  State:        {runtime.state.path if runtime.state else 'in memory only (--ephemeral)'}")
        if not os.environ.get("AUTOMATIONS_DEV_API_KEY"):
            print("  (a new key each start: set AUTOMATIONS_DEV_API_KEY to keep one)")
        print("Press Ctrl-C to stop.", flush=True)
        # A signal may land on any thread; Python runs its handler on the main thread only when
        # that wakes up, which a wait without a timeout would not do.
        while not stopping.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        watchdog = threading.Timer(STOP_LIMIT_S, _stop_stuck)
        watchdog.daemon = True
        watchdog.start()
        runtime.stop(grace_s=STOP_GRACE_S)
    print("Stopped.", flush=True)
    # Tearing down the interpreter would free a large heap object by object (minutes at 10 GB):
    # everything that must last is saved, so the process ends here.
    logging.shutdown()
    os._exit(0)


def _stop_stuck() -> None:
    """Ctrl-C always ends serve: a stop that hangs names every thread's place, then exits 1
    (what was saved is kept; persistence loses at most its last second, as after a crash)."""
    print(f"Stopping took over {STOP_LIMIT_S:.0f} s; where each thread was:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    os._exit(1)


# --- accounts and keys ---------------------------------------------------------------------------


def _services():
    """Services wired to whatever AWS the environment names: a deployed table (AUTOMATIONS_TABLE
    and real credentials) or a local stack (AWS_ENDPOINT_URL, table name from the template)."""
    from automations import bootstrap

    if os.environ.get(TABLE_ENV):
        os.environ[config.TABLE_NAME_ENV] = os.environ[TABLE_ENV]
    elif os.environ.get("AWS_ENDPOINT_URL") and not os.environ.get(config.TABLE_NAME_ENV):
        from automations_local.template import load_template

        names = {f.environment[config.TABLE_NAME_ENV] for f in load_template().functions.values()
                 if config.TABLE_NAME_ENV in f.environment}
        if names:
            os.environ[config.TABLE_NAME_ENV] = min(names)
    if not os.environ.get(config.TABLE_NAME_ENV):
        raise RuntimeError(f"set {TABLE_ENV} to the deployed table's name, or AWS_ENDPOINT_URL to a local stack")
    if os.environ.get("AWS_ENDPOINT_URL"):  # an emulator takes any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    bootstrap.reset()
    return bootstrap.services()


def _create_account(args: argparse.Namespace, extra: list[str]) -> int:
    account, key = _services().accounts.create_account(args.name, args.email, args.timezone)
    print(f"Account: {account.id} ({account.name}, {account.email}, {account.timezone})")
    _print_key(key)
    return 0


def _create_key(args: argparse.Namespace, extra: list[str]) -> int:
    key_id, key = _services().accounts.create_key(args.account_id)
    print(f"Key id:  {key_id}")
    _print_key(key)
    return 0


def _revoke_key(args: argparse.Namespace, extra: list[str]) -> int:
    _services().accounts.revoke_key(args.key_id)
    print(f"Revoked {args.key_id}.")
    return 0


def _migrate(args: argparse.Namespace, extra: list[str]) -> int:
    """On the table AUTOMATIONS_TABLE names (with real credentials) or the local stack's."""
    migrations = _services().migrations
    if not args.status:
        ran = migrations.run()
        print(f"Migrated {ran['migrated']} items; finished: {', '.join(ran['finished']) or 'none'}")
    for migration in migrations.status():
        print(f"  {migration['name']:<28} {'done' if migration['done'] else 'pending':<8} "
              f"{migration['migrated']:>9} items  {migration['about']}")
    return 0


def _print_key(key: str) -> None:
    print(f"API key: {key}")
    print("Store it now: it will not be shown again.")


# --- openapi -------------------------------------------------------------------------------------


def _openapi(args: argparse.Namespace, extra: list[str]) -> int:
    from automations_local import openapi
    from automations_local.template import load_template

    template = load_template(args.template)
    document = openapi.build(template)
    path = openapi.document_path(template)
    path.write_text(openapi.render(document), encoding="utf-8")
    operations = sum(len(item) for item in document["paths"].values())
    print(f"Wrote {path}: {operations} operations on {len(document['paths'])} paths.")
    return 0


# --- iam-report ----------------------------------------------------------------------------------


def _iam_report(args: argparse.Namespace, extra: list[str]) -> int:
    from automations_local import iam_coverage
    from automations_local.template import load_template

    calls = iam_coverage.read_calls(args.calls)
    if not calls:
        raise RuntimeError(f"no recorded calls in {args.calls}: run the tests first (make test)")
    result = iam_coverage.report(iam_coverage.IamModel(load_template(args.template)), calls)
    print(f"{len(calls)} distinct calls recorded in {args.calls}.")
    print(iam_coverage.format_report(result))
    return 1 if result.denials else 0


# --- bench ---------------------------------------------------------------------------------------


def _bench(args: argparse.Namespace, extra: list[str]) -> int:
    from automations_local import bench

    return bench.main(extra)
