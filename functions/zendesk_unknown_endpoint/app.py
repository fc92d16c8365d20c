"""ANY /api/v2/{proxy+}: a path or method the Zendesk surface does not have (404 InvalidEndpoint)."""
from automations.surfaces import zendesk
from automations.surfaces.http import unknown_endpoint

handler = unknown_endpoint(zendesk.SURFACE)
