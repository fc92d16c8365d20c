"""The ``automations`` command: serve the local runtime, and manage accounts and API keys on a
local or deployed stack."""
from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import shlex
import signal
import sys
import threading
from datetime import datetime, timedelta

from automations import config
from automations_local import instance

TABLE_ENV = "AUTOMATIONS_TABLE"  # the deployed table's name (stack output TableName)
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
    keep.add_argument("--data-dir", default=instance.default_data_dir(),
                      help=f"where the state is kept across restarts (default: ${instance.DATA_DIR_ENV} "
                           f"or {instance.DEFAULT_DATA_DIR}); one runtime at a time")
    keep.add_argument("--ephemeral", action="store_true", help="keep the state in memory only, lost on stop")
    _output_options(serve)
    serve.set_defaults(run=_serve)

    # --- accounts and keys: on the local runtime serving from --data-dir, or a deployed table ---
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--data-dir", default=instance.default_data_dir(),
                       help=f"the local runtime's data folder (default: ${instance.DATA_DIR_ENV} or "
                            f"{instance.DEFAULT_DATA_DIR}); ${TABLE_ENV} names a deployed table instead")
    accounts = commands.add_parser("accounts", help="manage accounts").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    create_account = accounts.add_parser("create", parents=[where], help="create an account and its first API key")
    create_account.add_argument("name")
    create_account.add_argument("--email", required=True)
    create_account.add_argument("--timezone", default="UTC", help="IANA time zone (default: UTC)")
    create_account.set_defaults(run=_create_account)
    list_accounts = accounts.add_parser("list", parents=[where], help="list the accounts")
    list_accounts.set_defaults(run=_list_accounts)
    zone = accounts.add_parser("set-timezone", parents=[where], help="move an account to another time zone (waiting runs follow)")
    zone.add_argument("account_id")
    zone.add_argument("timezone", help="IANA time zone")
    zone.set_defaults(run=_set_timezone)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    create_key = keys.add_parser("create", parents=[where], help="create another API key for an account")
    create_key.add_argument("account_id")
    create_key.set_defaults(run=_create_key)
    list_keys = keys.add_parser("list", parents=[where], help="list an account's API keys (ids, never the keys)")
    list_keys.add_argument("account_id")
    list_keys.set_defaults(run=_list_keys)
    revoke_key = keys.add_parser("revoke", parents=[where], help="revoke an API key")
    revoke_key.add_argument("key_id")
    revoke_key.set_defaults(run=_revoke_key)

    env = commands.add_parser("env", parents=[where],
                              help="print the running local runtime's URL and development key as shell exports: "
                                   'eval "$(automations env)"')
    env.set_defaults(run=_env)

    seed = commands.add_parser("seed", help="make a realistic account on the running local stack (its development "
                                            "account): templates, lists, contacts, automations, tickets")
    seed.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}",
                      help="the local stack (default: http://127.0.0.1:$PORT, or port 3000)")
    seed.add_argument("--contacts", type=int, default=200, help="contacts, who join the lists and ask (default 200)")
    seed.add_argument("--tickets", type=int, default=1000, help="tickets, through create_many (default 1000)")
    seed.set_defaults(run=_seed)

    migrate = commands.add_parser(
        "migrate", parents=[where], help="run the pending data migrations to the end (a deploy's step), or show them")
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

    limits = commands.add_parser(
        "limits", help="translate template.yaml and its nested stacks as CloudFormation will, and fail "
                       "when any stack, role or API reaches a share of a CloudFormation, IAM or API Gateway limit")
    limits.add_argument("--template", help="path to template.yaml (default: found from here)")
    limits.add_argument("--env", action="append", dest="envs",
                        help="samconfig.toml env whose parameters to translate with (default: default and prod)")
    limits.add_argument("--threshold", type=float, default=None, help="share of a limit that fails (default: 0.8)")
    limits.add_argument("--tools-python", help="python of SAM CLI's virtualenv (default: .venv-tools/bin/python)")
    limits.set_defaults(run=_limits)

    deploy = commands.add_parser(
        "deploy", help="sam build, then sam deploy a samconfig.toml env with its whole parameter list and the "
                       "Release that makes every function publish what it ships (make deploy ENV=...)")
    deploy.add_argument("--env", default="default", help="samconfig.toml env (default: default, the dev stack)")
    deploy.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="changes",
                        help="a parameter value instead of samconfig's for this deploy (a hotfix: SafeDeploys=false)")
    deploy.add_argument("sam_args", nargs=argparse.REMAINDER, help="after --: more sam deploy options")
    deploy.set_defaults(run=_deploy)

    # --- bench: owned by automations_local.bench, which parses its own arguments ---
    bench = commands.add_parser("bench", add_help=False, help="run the benchmarks (see `automations bench -h`)")
    bench.set_defaults(run=_bench)

    return parser


def _limits(args: argparse.Namespace, extra: list[str]) -> int:
    from pathlib import Path

    from automations_local import limits

    return limits.run(args.template, args.envs or ["default", "prod"],
                      limits.FAIL_AT if args.threshold is None else args.threshold,
                      Path(args.tools_python) if args.tools_python else None)


def _deploy(args: argparse.Namespace, extra: list[str]) -> int:
    from automations_local import deploy
    from automations_local.template import find_template

    changes = {}
    for change in args.changes:
        name, sep, value = change.partition("=")
        if not sep or not name:
            raise deploy.DeployError(f"--set {change}: give NAME=VALUE")
        changes[name] = value
    sam_args = args.sam_args[1:] if args.sam_args[:1] == ["--"] else args.sam_args
    return deploy.run(find_template().parent, args.env, changes, sam_args)


# --- serve ---------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    from automations_local import LOGGER_NAME
    from automations_local.runtime import LocalRuntime

    # Libraries warn only; the runtime's access log and handler tracebacks show.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:  # the product's records have their own line (--verbose: JSON)
        handler.addFilter(lambda record: record.name.partition(".")[0] != "automations")
    logging.getLogger(LOGGER_NAME).setLevel(logging.INFO)
    runtime = LocalRuntime(template_path=args.template, port=args.port, host=args.host,
                           data_dir=None if args.ephemeral else args.data_dir, output=_output(args, readable=True))
    stopping = threading.Event()
    # Ctrl-C stops serve even when it was started with SIGINT ignored (a background job of a
    # script inherits that), as SIGTERM does.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopping.set())
    runtime.start()
    try:
        print(f"Automations local runtime at {runtime.base_url}", flush=True)
        print(f"  AWS endpoint: {runtime.aws_endpoint}")
        print(f"  Dev account:  {runtime.dev_email} ({runtime.dev_account_id})")
        print(f"  Dev API key:  {runtime.dev_api_key}")
        print(f"  Console:      {runtime.base_url}/_local/console")
        print(f"  API docs:     {runtime.base_url}/docs")
        print(f"  State:        {runtime.state.path if runtime.state else 'in memory only (--ephemeral)'}")
        print(f"  Clock:        {clock_text(runtime.clock.now(), runtime.clock_offset)}")
        if runtime.state:
            folder = "" if args.data_dir == instance.DEFAULT_DATA_DIR else f" --data-dir {shlex.quote(args.data_dir)}"
            print(f'  In a shell:   eval "$(.venv/bin/automations env{folder})"  '
                  "(sets $AUTOMATIONS_URL, $AUTOMATIONS_KEY, ...)")
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


def clock_text(now: datetime, offset: timedelta) -> str:
    """The local clock for people: its time, and how far from real time it is and how to go back."""
    if not offset:
        return f"{now:%Y-%m-%d %H:%M:%S} UTC (real time)"
    seconds = abs(int(offset.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")) if n]
    return (f"{now:%Y-%m-%d %H:%M:%S} UTC, {' '.join(parts)} {'ahead of' if offset > timedelta(0) else 'behind'} "
            "real time (moved through /_local/clock; POST {\"real_time\": true} there to go back)")


def _output_options(command: argparse.ArgumentParser) -> None:
    where = command.add_mutually_exclusive_group()
    where.add_argument("--verbose", action="store_true",
                       help="the functions' JSON log lines and metric lines on stderr too")
    where.add_argument("--log-file", metavar="PATH", help="append the functions' JSON log lines and metric lines to PATH")


def _output(args: argparse.Namespace, *, readable: bool):
    """Where the functions' lines go: JSON log and metric lines with --verbose (stderr) or to
    --log-file, and, unless --verbose, one readable line per log record at INFO on stderr when
    ``readable`` (else none)."""
    from automations.telemetry import Output

    if args.verbose:
        return Output(sys.stderr)
    structured = open(args.log_file, "a", buffering=1, encoding="utf-8") if args.log_file else None  # noqa: SIM115
    return Output(structured, sys.stderr if readable else None)


def _stop_stuck() -> None:
    """Ctrl-C always ends serve: a stop that hangs names every thread's place, then exits 1
    (what was saved is kept; persistence loses at most its last second, as after a crash)."""
    print(f"Stopping took over {STOP_LIMIT_S:.0f} s; where each thread was:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    os._exit(1)


# --- accounts and keys ---------------------------------------------------------------------------


def _services(args: argparse.Namespace):
    """Services wired to a deployed table (AUTOMATIONS_TABLE and real credentials), to the AWS
    endpoint the environment names (AWS_ENDPOINT_URL), or else to the local runtime serving from
    the data folder, on its clock."""
    from automations import bootstrap

    if os.environ.get(TABLE_ENV):
        os.environ[config.TABLE_NAME_ENV] = os.environ[TABLE_ENV]
    elif os.environ.get("AWS_ENDPOINT_URL"):
        if not os.environ.get(config.TABLE_NAME_ENV):
            from automations_local.template import load_template

            names = {f.environment[config.TABLE_NAME_ENV] for f in load_template().functions.values()
                     if config.TABLE_NAME_ENV in f.environment}
            if names:
                os.environ[config.TABLE_NAME_ENV] = min(names)
    else:
        _use_local_runtime(_local_runtime(args))
    if not os.environ.get(config.TABLE_NAME_ENV):
        raise RuntimeError(f"set {TABLE_ENV} to the deployed table's name, or AWS_ENDPOINT_URL to a local stack")
    if os.environ.get("AWS_ENDPOINT_URL"):  # an emulator takes any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    bootstrap.reset()
    return bootstrap.services()


def _local_runtime(args: argparse.Namespace) -> dict:
    found = instance.running(args.data_dir)
    if found is None:
        raise RuntimeError(f"no local runtime is running with the data folder {args.data_dir}: start one with "
                           f"`make run` (or give its --data-dir), or set {TABLE_ENV} to a deployed table's name")
    return found


def _use_local_runtime(runtime: dict) -> None:
    """Act as the runtime's own functions do: its AWS endpoint and table, and its clock."""
    import json
    import urllib.request

    from automations.clock import MovableClock, set_clock

    os.environ.update({"AWS_ENDPOINT_URL": runtime["aws_endpoint"], config.TABLE_NAME_ENV: runtime["table"],
                       "AWS_DEFAULT_REGION": runtime["region"], "AWS_REGION": runtime["region"]})
    with urllib.request.urlopen(f"{runtime['url']}/_local/clock", timeout=10) as answer:
        offset = json.load(answer)["offset_seconds"]
    clock = MovableClock()
    clock.advance(offset)
    set_clock(clock)


def _create_account(args: argparse.Namespace, extra: list[str]) -> int:
    accounts = _services(args).accounts
    account, key = accounts.create_account(args.name, args.email, args.timezone)
    print(f"Account: {account.id} ({account.name}, {account.email}, {account.timezone})")
    _print_key(accounts.key_record(key).key_id, key)
    return 0


def _list_accounts(args: argparse.Namespace, extra: list[str]) -> int:
    accounts = _services(args).accounts
    after, listed = None, 0
    while True:
        ids, after = accounts.account_page(100, after)
        for account in map(accounts.get_account, ids):
            print(f"{account.id}  {account.name}  {account.email}  {account.timezone}")
        listed += len(ids)
        if after is None:
            break
    print(f"{listed} account{'' if listed == 1 else 's'}.")
    return 0


def _set_timezone(args: argparse.Namespace, extra: list[str]) -> int:
    account = _services(args).accounts.change_timezone(args.account_id, args.timezone)
    print(f"Account: {account.id} ({account.name}, {account.email}, {account.timezone})")
    return 0


def _create_key(args: argparse.Namespace, extra: list[str]) -> int:
    key_id, key = _services(args).accounts.create_key(args.account_id)
    _print_key(key_id, key)
    return 0


def _list_keys(args: argparse.Namespace, extra: list[str]) -> int:
    keys = _services(args).accounts.list_keys(args.account_id)
    for key in keys:
        print(f"{key.key_id}  created {key.created_at:%Y-%m-%d %H:%M} UTC  {'revoked' if key.revoked else 'active'}")
    print(f"{len(keys)} key{'' if len(keys) == 1 else 's'} of {args.account_id}.")
    return 0


def _revoke_key(args: argparse.Namespace, extra: list[str]) -> int:
    _services(args).accounts.revoke_key(args.key_id)
    print(f"Revoked {args.key_id}.")
    return 0


def _migrate(args: argparse.Namespace, extra: list[str]) -> int:
    """On the table AUTOMATIONS_TABLE names (with real credentials) or the local stack's."""
    migrations = _services(args).migrations
    if not args.status:
        ran = migrations.run()
        print(f"Migrated {ran['migrated']} items; finished: {', '.join(ran['finished']) or 'none'}")
    for migration in migrations.status():
        print(f"  {migration['name']:<28} {'done' if migration['done'] else 'pending':<8} "
              f"{migration['migrated']:>9} items  {migration['about']}")
    return 0


def _print_key(key_id: str, key: str) -> None:
    print(f"Key id:  {key_id} (to revoke it: automations keys revoke {key_id})")
    print(f"API key: {key}")
    print("Store it now: it will not be shown again.")


def _env(args: argparse.Namespace, extra: list[str]) -> int:
    runtime = _local_runtime(args)
    exports = {"AUTOMATIONS_URL": runtime["url"], "AUTOMATIONS_EMAIL": runtime["email"],
               "AUTOMATIONS_KEY": runtime["api_key"], "AUTOMATIONS_ACCOUNT": runtime["account_id"]}
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


# --- seed ----------------------------------------------------------------------------------------


def _seed(args: argparse.Namespace, extra: list[str]) -> int:
    import time

    from automations_local import seed

    if args.contacts < 1 or args.tickets < 0:
        raise RuntimeError("--contacts must be at least 1 and --tickets at least 0")
    account = seed.dev_account(args.url.rstrip("/"))
    print(f"Seeding the development account ({account.email}) at {account.base_url}", flush=True)
    started = time.monotonic()
    made = seed.seed(account, contacts=args.contacts, ticket_count=args.tickets, say=lambda line: print(line, flush=True))
    print(f"Made {', '.join(f'{count:,} {kind}' for kind, count in made.items())} "
          f"in {time.monotonic() - started:.0f} s. See them in {account.base_url}/_local/console")
    return 0


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
