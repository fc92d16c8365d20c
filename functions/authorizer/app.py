"""Lambda REQUEST authorizer of the HTTP API (payload 2.0, simple responses)."""
from automations.snapstart import prime_before_snapshot
from automations.surfaces.authorizer import authorize, priming_requests
from automations.telemetry import lambda_handler


@lambda_handler
def handler(event, context):
    return authorize(event)


prime_before_snapshot(handler, priming_requests)
