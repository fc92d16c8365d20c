"""The local runtime: template.yaml served in process over moto, no Docker (see ``automations serve``)."""

# Not "automations...": Powertools filters every logger whose name contains its service name
# (POWERTOOLS_SERVICE_NAME=automations) out of the root handlers, which would hide our tracebacks.
LOGGER_NAME = "local_runtime"
