"""The house's layering: no import circles, and no import from a lower layer up to a higher one.

Every ``import`` in ``bot/`` counts, those inside functions and ``TYPE_CHECKING`` blocks too: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# Lowest first. A module may import its own layer and the layers below it.
LAYERS = (
    ("bot.settings",),
    ("bot.domain",),
    ("bot.plain", "bot.ansi", "bot.logs"),  # plain-text and ANSI rendering, logging; no Discord
    ("bot.terminal", "bot.plumbing", "bot.health"),
    ("bot.client",),
    ("bot.exts",),
    ("bot.cli", "bot.__main__"),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "bot" or name.startswith("bot.")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in (ROOT / "bot").rglob("*.py")}
    return {
        module: {name for name in _imports(path, module) if name in files} - {module} for module, path in files.items()
    }


def _layer(module: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return level
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if module != "bot"
        for target in targets
        if target != "bot" and _layer(target) > _layer(module)
    ]
    assert not upward, "imports from a lower layer up to a higher one:\n" + "\n".join(sorted(upward))


def test_no_import_circles():
    graph = _graph()
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                circle = path[path.index(target) :]
                if circle[0] == min(circle):  # report each circle once
                    circles.append([*circle, target])
            elif target > path[0]:  # only walk from each circle's smallest member
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    # A package may import its own submodules (re-exports); a submodule must not import its package.
    circles = [
        c for c in circles if not any(b.startswith(a + ".") and len(c) == 3 for a, b in zip(c, c[1:], strict=False))
    ]
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_domain_imports_no_discord():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "bot" / "domain").rglob("*.py")
        if any(
            isinstance(node, ast.Import | ast.ImportFrom)
            and any(
                (name or "").split(".")[0] == "discord"
                for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])
            )
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert not offenders
