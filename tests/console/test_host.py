"""The console sits on its narrow host: nothing under ``omniline.console`` imports the application
(it used to take the whole ``Omniline``, reach eleven of its attributes and write one of them)."""

from __future__ import annotations

import ast
from pathlib import Path

import omniline.console

DESK = Path(omniline.console.__file__).parent


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_console_module_imports_the_application_even_for_typing() -> None:
    modules = sorted(DESK.rglob("*.py"))
    assert len(modules) > 10
    offenders = {
        str(path.relative_to(DESK)): sorted(
            m for m in imported_modules(path) if "omniline.app" in m
        )
        for path in modules
    }
    assert {path: found for path, found in offenders.items() if found} == {}
