"""Lambda REQUEST authorizer of the HTTP API (payload 2.0, simple responses)."""
from automations.surfaces.authorizer import authorize


def handler(event, context):
    return authorize(event)
