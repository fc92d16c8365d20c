"""SnapStart (the template's ApiSnapStart, on in prod for the API's functions): Lambda runs a
published version's init once, snapshots the sandbox, and starts new sandboxes from that
snapshot instead of a fresh interpreter.

Before the snapshot, ``prime`` does what a first request would otherwise build: boto3, its
session and the DynamoDB client, the X-Ray SDK, the surface's and the service's modules, the
route's validation models and botocore's operation models. It runs the function's own requests
(``requests``: each route of a native function, one request for the others) through its handler,
as an account that does not exist, and stops each at its first AWS call, before anything is
sent: priming stores nothing, reads nothing, opens no connection, and logs and counts nothing.

After a restore, what a snapshot would otherwise share between sandboxes is renewed: ``random``'s
state (every sandbox would draw the same backoff jitter); the first invocation still counts as a
cold start (priming leaves it so). Nothing else is unique or connected: ids come from ``secrets`` and ``uuid4`` (the
kernel's generator at each call), no connection was opened, and credentials are the runtime's
container credentials, which botocore refreshes.

The hooks are registered with ``snapshot_restore_py``, which every Python managed runtime carries;
Lambda runs them only for a function with SnapStart on."""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

PRIMING_ACCOUNT = "acc_snapstart_priming"  # no account has this id (theirs are acc_ and 16 hex digits)

Handler = Callable[[dict[str, Any], Any], Any]


class PrimingStopped(Exception):
    """What a priming request's first AWS call raises instead of being sent."""


_priming = False
_renewal_registered = False


def prime_before_snapshot(handler: Handler, requests: Callable[[], Iterable[dict[str, Any]]]) -> None:
    """Have Lambda prime ``handler`` with ``requests()`` before it snapshots the function, and
    renew what the snapshot shares after each restore."""
    global _renewal_registered
    try:
        import snapshot_restore_py  # noqa: PLC0415 - the Lambda runtime's
    except ImportError:  # not in a Lambda runtime: no snapshot is ever taken
        return
    snapshot_restore_py.register_before_snapshot(prime, handler, requests)
    if not _renewal_registered:
        snapshot_restore_py.register_after_restore(renew)
        _renewal_registered = True


def prime(handler: Handler, requests: Callable[[], Iterable[dict[str, Any]]]) -> None:
    """Run ``requests()`` through ``handler``, each stopped at its first AWS call, unseen."""
    global _priming
    from automations import telemetry  # noqa: PLC0415
    from automations.adapters import aws  # noqa: PLC0415

    aws.before_every_send(_stop_while_priming)
    aws.client("dynamodb")  # every function's: made even by a request that stops before its first call
    _priming = True
    try:
        with telemetry.unobserved():
            for request in requests():
                try:
                    handler(request, None)
                except PrimingStopped:  # a handler that lets errors out, as the authorizer's does
                    pass
    finally:
        _priming = False


def _stop_while_priming(**_: Any) -> None:
    if _priming:
        raise PrimingStopped("priming sends nothing")


def renew() -> None:
    """After a restore: ``random`` seeded anew (from the kernel)."""
    random.seed()


def api_request(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    """An HTTP API request as API Gateway hands it to a function after the authorizer, from the
    account no one has."""
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "snapstart.invalid"},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                           "requestId": "snapstart-priming", "domainName": "snapstart.invalid", "stage": "$default",
                           "authorizer": {"lambda": {"account_id": PRIMING_ACCOUNT, "key_id": "", "email": ""}}},
        "pathParameters": {}, "body": body, "isBase64Encoded": False,
    }
