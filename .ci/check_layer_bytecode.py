"""Fails unless every module of the built core layer has hash-based bytecode that needs no source
check: /opt is read-only in Lambda, so a module without it is compiled again on every cold start.
Usage: python .ci/check_layer_bytecode.py .aws-sam/build/CoreLayer/python"""
import importlib.util
import sys
from pathlib import Path

UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def missing_bytecode(layer: Path) -> list[str]:
    problems = []
    for source in sorted(layer.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists():
            problems.append(f"{source.relative_to(layer)}: no {cached.name}")
        elif int.from_bytes(cached.read_bytes()[4:8], "little") != UNCHECKED_HASH:
            problems.append(f"{source.relative_to(layer)}: {cached.name} is not unchecked-hash bytecode")
    return problems


if __name__ == "__main__":
    layer = Path(sys.argv[1])
    modules = list(layer.rglob("*.py"))
    problems = missing_bytecode(layer) if modules else [f"{layer}: no modules (was the layer built?)"]
    for problem in problems[:20]:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(f"{len(problems)} of {len(modules)} layer modules lack compiled bytecode")
    print(f"layer bytecode: {len(modules)} modules, all unchecked-hash")
