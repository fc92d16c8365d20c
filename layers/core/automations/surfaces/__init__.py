"""The surfaces: each API and queue the engine answers, over the services.

Two Powertools packages only gather names from their modules, and a cold start pays for all of
them: ``event_handler`` imports every resolver (AppSync's brings in asyncio, Bedrock's, VPC
Lattice's...) and ``utilities.data_classes`` every event class (CodePipeline's brings in zipfile
and tempfile). Before any surface imports them, each is registered without running its
``__init__``: a name it exports is imported from its own module when first asked for (PEP 562),
so a handler loads only the resolver and event classes it uses."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

_GATHERING_PACKAGES = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def _is_docstring_or_all(node: ast.stmt) -> bool:
    return ((isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            or (isinstance(node, ast.Assign) and [ast.unparse(target) for target in node.targets] == ["__all__"]))


def _import_names_on_first_use(name: str) -> None:
    if name in sys.modules:  # already imported whole (e.g. by a test): nothing to save
        return
    parent, _, child = name.rpartition(".")
    importlib.import_module(parent)
    spec = importlib.util.find_spec(name)
    package = importlib.util.module_from_spec(spec)
    body = ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body
    if not all(isinstance(node, ast.ImportFrom) or _is_docstring_or_all(node) for node in body):
        return  # the __init__ does more than gather names: it runs whole, when imported
    # name -> (module, its name there); `from . import x` gives the module x itself (None)
    origin = {alias.asname or alias.name: ("." * node.level + node.module, alias.name) if node.module
              else ("." * node.level + alias.name, None)
              for node in body if isinstance(node, ast.ImportFrom) for alias in node.names}

    def __getattr__(attr: str) -> Any:  # noqa: N807 - the module attribute hook of PEP 562
        if attr not in origin:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        module, original = origin[attr]
        imported = importlib.import_module(module, name)
        value = getattr(imported, original) if original else imported
        setattr(package, attr, value)
        return value

    package.__getattr__ = __getattr__
    package.__all__ = list(origin)
    sys.modules[name] = package
    setattr(sys.modules[parent], child, package)


for _name in _GATHERING_PACKAGES:
    _import_names_on_first_use(_name)
