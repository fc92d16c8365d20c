"""A throwaway SAM project on disk, for the local runtime's own tests: a template and the handler
sources it names, where load_template finds them."""
from __future__ import annotations

import textwrap
from pathlib import Path


def write_project(root: Path, template: str, handlers: dict[str, str]) -> Path:
    """``template`` as root/template.yaml and each handler's source (dedented) as
    root/functions/<name>/app.py; returns the template's path."""
    (root / "template.yaml").write_text(template)
    for name, source in handlers.items():
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "app.py").write_text(textwrap.dedent(source))
    return root / "template.yaml"
