"""Lambda REQUEST authorizer of the HTTP API (payload 2.0, simple responses)."""
from automations.surfaces.authorizer import authorize
from automations.telemetry import lambda_handler


@lambda_handler
def handler(event, context):
    return authorize(event)
