"""The native API's error format, {"error": {"code", "message", "details"}}, apart from its resolver:
the catch-all route answers in it without importing Powertools' resolver or pydantic."""
from __future__ import annotations

import json
from typing import Any

from automations.snapstart import api_request, prime_before_snapshot
from automations.telemetry import lambda_handler


def error_payload(code: str, message: str, details: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"error": {"code": code, "message": message, "details": details or []}})


def error_answer(status: int, code: str, message: str) -> dict[str, Any]:
    """A whole Lambda proxy answer, for what is refused before (or without) any route."""
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": error_payload(code, message), "isBase64Encoded": False}


@lambda_handler
def unknown_endpoint(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The handler of ``ANY /v1/{proxy+}``: a path or method no native route declares."""
    return error_answer(404, "not_found", "No such endpoint")


prime_before_snapshot(unknown_endpoint, lambda: [api_request("GET", "/v1/priming")])
