"""ANY /api/v3/{proxy+}: a path or method the Piggy surface does not have."""
from automations.surfaces import piggy
from automations.surfaces.http import unknown_endpoint

handler = unknown_endpoint(piggy.SURFACE)
