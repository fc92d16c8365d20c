"""What the product accepts from a client before any surface reads it: JSON text and whole
numbers, bounded so that nothing it lets through fails later, where a client cannot be told.

- JSON: at most ``MAX_JSON_DEPTH`` levels, no duplicate keys (which one would win is a parser's
  guess), no NaN or Infinity (not JSON), numbers DynamoDB can hold, and text without NUL
  characters or unpaired surrogates (they cannot be encoded for an email, a webhook or a log).
- Whole numbers: ASCII digits only and a bounded length. ``str.isdigit`` and ``\\d`` accept
  superscripts and other scripts' digits (``"١"`` is 1 to ``int``), and ``int`` refuses numbers
  over 4,300 digits."""
from __future__ import annotations

import json
import math
import re
from typing import Any

from automations.errors import MalformedRequest

MAX_JSON_DEPTH = 64

MAX_INT32 = 2 ** 31 - 1  # positions, hours: the native OpenAPI document's bound
MAX_ID = 10 ** 15 - 1  # record ids: automations, tickets, users (Zendesk's ids have at most 15 digits)
MAX_BULK = 100  # records or ids in one bulk request
MAX_SAFE_INTEGER = 2 ** 53 - 1  # the largest whole number a JSON client's double holds exactly
MAX_NUMBER_DIGITS = 38  # DynamoDB keeps 38 significant digits
MAX_WHOLE = 10 ** MAX_NUMBER_DIGITS - 1
MAX_NUMBER_MAGNITUDE = 1e125  # and numbers of magnitude up to 9.99...E+125
_DECIMAL = re.compile(r"[0-9]+")
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def parse_whole(text: str, maximum: int) -> int | None:
    """The value of ``text`` when it is ASCII digits (``0``-``9``) only, no longer than
    ``maximum`` written out, and at most ``maximum``; otherwise None."""
    if not isinstance(text, str) or len(text) > len(str(maximum)) or not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def is_whole(value: Any, maximum: int, minimum: int = 0) -> bool:
    """An int (not a bool) from ``minimum`` to ``maximum``."""
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum


def is_storable_text(text: str) -> bool:
    return _UNSTORABLE_TEXT.search(text) is None


def is_storable_number(value: int | float) -> bool:
    if isinstance(value, int):
        return len(str(abs(value))) <= MAX_NUMBER_DIGITS
    return math.isfinite(value) and (value == 0 or 1e-130 <= abs(value) <= MAX_NUMBER_MAGNITUDE)


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Refused(f'the key "{twice}" appears twice in one object')
    return out


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _number(text: str) -> float:
    value = float(text)
    if not is_storable_number(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _not_a_number(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value")


def _check_values(value: Any) -> None:
    """Depth and text, iteratively (the value may be as deep as the parser allowed)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise _Refused(f"it nests more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                for key in item:
                    if not is_storable_text(key):
                        raise _Refused("a key contains a NUL character or an unpaired surrogate")
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and not is_storable_text(item):
            raise _Refused("a text contains a NUL character or an unpaired surrogate")


def parse_json(text: str | bytes) -> Any:
    """``text`` as JSON within the rules above; MalformedRequest (kind ``json``) saying why not."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_integer, parse_float=_number,
                           parse_constant=_not_a_number)
        _check_values(value)
    except RecursionError:
        reason = f"it nests more than {MAX_JSON_DEPTH} levels deep"
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError and _Refused are ValueErrors
        reason = str(e)
    else:
        return value
    raise MalformedRequest(f"the request body is not valid JSON ({reason})", kind="json")
