"""ANY /v1/{proxy+}: a path or method the native API does not have."""
from automations.surfaces.native_errors import unknown_endpoint as handler  # noqa: F401 (Lambda's entry point)
