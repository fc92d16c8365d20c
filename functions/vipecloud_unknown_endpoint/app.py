"""ANY /automations(/{proxy+}) and /autoresponders(/{proxy+}): a path or method VipeCloud does not have."""
from automations.surfaces import vipecloud
from automations.surfaces.http import unknown_endpoint

handler = unknown_endpoint(vipecloud.SURFACE)
