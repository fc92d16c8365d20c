"""The native API (/v1) in handler tests: requests built from the sample events, and its error
answers read."""
from __future__ import annotations

import json
from typing import Any


def with_request(event: dict[str, Any], auth: str, *, body: Any = None, raw_body: str | None = None,
                 query: dict[str, str] | None = None) -> dict[str, Any]:
    """``event`` with ``auth`` as its Authorization header and, where given, ``body`` (as JSON),
    ``raw_body`` (as it is) and ``query`` as its query string parameters."""
    event["headers"]["authorization"] = auth
    if body is not None:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if query is not None:
        event["queryStringParameters"] = query
    return event


def error_code(body: dict[str, Any]) -> str:
    """The code of a native error answer, once it has the native error's shape."""
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]
