"""What contacts and users share: a person's name and email address, as the product checks
them. No I/O here."""
from __future__ import annotations

import re
from typing import Any

from automations.errors import Problems

MAX_NAME = 200

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def normalize_email(text: str) -> str | None:
    """The address lower-cased, or None when it is not an email address."""
    text = text.strip()
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text.partition("@")[0] \
            or text.startswith(".") or text.partition("@")[0].endswith("."):
        return None
    return text.lower()


def required_name(value: Any, label: str, problems: Problems, field_name: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        problems.add(field_name, f"{label}: cannot be blank")
        return ""
    if len(value) > MAX_NAME:
        problems.add(field_name, f"{label}: must be at most {MAX_NAME} characters")
    return value.strip()
