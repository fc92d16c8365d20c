"""What moto's DynamoDB redoes for every item of every request, done once (installed with the
local runtime's patches; seeding 10,000 tickets writes 30,000 items in transactions):

- a condition expression is parsed once for the same expression and the names and values it
  names, also where moto's request validation and its UpdateItem parse it (a transaction's
  condition was parsed two or three times an item, each time the same tree);
- an update expression is parsed once for the same text (each update parsed it twice, in the
  request's validation and in the update); moto's validator works on its own copy of the tree,
  now unpickled from the tree as parsed, and finds the node types each of its ten passes
  processes once for each pass's class, not once for each node;
- a response writes a scalar attribute value (S, N, BOOL, NULL) as the one-entry dict moto
  holds, where moto's serializer looked each of AttributeValue's ten members up through its
  alias providers (reading back a job's 100 tickets: 30,000 lookups)."""
from __future__ import annotations

import copy
import functools
import json
import pickle
import threading
from collections.abc import Callable
from typing import Any

EXPRESSIONS_KEPT = 4096  # parsed condition expressions kept, the oldest forgotten first
_SCALAR_TYPES = {"S": str, "N": str, "BOOL": bool, "NULL": bool}  # what moto writes as it holds it
_conditions: dict[tuple[str | None, str, str], tuple[Any, tuple[str, ...], tuple[str, ...]]] = {}
_conditions_lock = threading.Lock()
_node_types_of: dict[type, tuple[type, ...]] = {}


def install(replace: Callable[[object, str, Any], None]) -> None:
    """Each shortcut put in place through ``replace(owner, name, value)``, which keeps what it
    replaces to undo it (the patches' own, or a test's monkeypatch)."""
    from moto.core import serialize
    from moto.dynamodb import comparisons, models, responses
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    _conditions.clear()
    for module in (comparisons, models, responses):  # where moto's reads, writes and validation parse conditions
        replace(module, "create_condition_expression_parser", RememberedCondition)
    replace(UpdateExpressionParser, "make", classmethod(_parsed_with_its_copy(UpdateExpressionParser.make.__func__)))
    replace(validators, "deepcopy", _copy)
    replace(DepthFirstTraverser, "nodes_to_be_processed", _node_types)
    replace(serialize.BaseJSONSerializer, "_serialize_type_structure",
            _scalars_as_held(serialize.BaseJSONSerializer._serialize_type_structure))


class RememberedCondition:
    """moto's ConditionExpressionParser for one expression with its names and values, its parse
    remembered: the tree (evaluated against items, never changed by them) and the names and
    values it found (fresh lists each time: moto's callers extend them)."""

    def __init__(self, condition_expression: str | None, expression_attribute_names: dict | None,
                 expression_attribute_values: dict | None) -> None:
        self.condition_expression = condition_expression
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.expr_attr_names_found: list[str] = []
        self.expr_attr_values_found: list[str] = []

    def parse(self) -> Any:
        try:
            key = (self.condition_expression, _named_in(self.condition_expression, self.expression_attribute_names),
                   _named_in(self.condition_expression, self.expression_attribute_values))
        except (TypeError, AttributeError):  # not dicts, or a value JSON cannot write (bytes): parsed as moto does
            key = None
        parsed = _conditions.get(key) if key else None
        if parsed is None:
            parsed = self._parse()
            if key:
                with _conditions_lock:
                    _conditions[key] = parsed
                    while len(_conditions) > EXPRESSIONS_KEPT:
                        del _conditions[next(iter(_conditions))]
        tree, names, values = parsed
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return tree

    def _parse(self) -> tuple[Any, tuple[str, ...], tuple[str, ...]]:
        from moto.dynamodb.comparisons import ConditionExpressionParser

        parser = ConditionExpressionParser(self.condition_expression, self.expression_attribute_names,
                                           self.expression_attribute_values)
        tree = parser.parse()  # refused (moto's error raised): nothing remembered
        return tree, tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found)


def _parsed_with_its_copy(make: Callable) -> Callable:
    """moto's update expression parser, remembering each tree with a pickle of it as parsed (a
    copy from it costs a fifth of a deep copy of the tree, which moto's validator takes each
    time: it changes its copy as it resolves it against the item)."""
    @functools.lru_cache(maxsize=EXPRESSIONS_KEPT)
    def parsed(cls: type, expression: str) -> Any:
        tree = make(cls, expression)
        tree.as_parsed = pickle.dumps(tree)
        return tree

    return parsed


def _copy(value: Any, memo: dict | None = None) -> Any:
    """copy.deepcopy, from the pickle of a remembered tree as parsed where it is one."""
    as_parsed = getattr(value, "as_parsed", None) if memo is None else None
    return pickle.loads(as_parsed) if type(as_parsed) is bytes else copy.deepcopy(value, memo)


def _node_types(traverser: Any) -> tuple[type, ...]:
    """The node types a traverser processes: its map's keys, the same classes for every instance
    of its class (moto built the map for each node of each tree, ten traversers an update)."""
    types = _node_types_of.get(type(traverser))
    if types is None:
        types = _node_types_of[type(traverser)] = tuple(traverser._processing_map())
    return types


def _named_in(expression: str | None, placeholders: dict | None) -> str:
    """The names or values an expression can name, as JSON: moto's parser looks up only those of
    its own words (a transaction's items share a condition, each with its own values). None reads
    as none named: a parse that looked one up in None or {} was refused, and refusals are not kept."""
    return json.dumps({name: value for name, value in (placeholders or {}).items() if name in (expression or "")},
                      sort_keys=True)


def _scalars_as_held(serialize_structure: Callable) -> Callable:
    def serialize(serializer: Any, serialized: dict, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
            (kind, scalar), = value.items()
            if type(scalar) is _SCALAR_TYPES.get(kind):
                serializer._default_serialize(serialized, {kind: scalar}, shape, key)
                return
        serialize_structure(serializer, serialized, value, shape, key)

    return serialize
