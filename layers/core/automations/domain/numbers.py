"""Reading ids written as text without ``int()``'s failure modes: stored text can hold what no
id is (superscript digits, thousands of digits, past Python's 4,300-digit conversion limit),
and one such value must not stop the work around it."""
from __future__ import annotations

MAX_ID_DIGITS = 20  # more than any id this product makes or DynamoDB's 38 digits would keep whole


def id_number(text: str) -> int | None:
    """``text`` as a whole number when it is ASCII digits short enough to be an id, else None."""
    if not text or len(text) > MAX_ID_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
