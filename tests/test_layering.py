"""Dependencies point down only: the engine and toolkit layers never reach up into tasks, the demo or the report."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import angiogen

PACKAGE_ROOT = Path(angiogen.__file__).resolve().parent
LOWER_LAYERS = ("io", "xray", "synth", "train", "metrics", "nets")
UPPER_MODULES = ("angiogen.tasks", "angiogen.demo", "angiogen.report")


def _is_upper(module: str) -> bool:
    """Whether a dotted module name is one of the upper layers or inside one (``angiogen.demo_engine`` counts)."""
    return any(module == upper or module.startswith(upper + ".") or module.startswith(upper + "_")
               for upper in UPPER_MODULES)


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a source file, at any depth (functions, TYPE_CHECKING blocks)."""
    relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
    package = list(relative.parts[:-1])  # the package a relative import of this file starts from
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the file's own package
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)  # from angiogen import tasks
    return found


def _layer_files(layer: str) -> list[Path]:
    files = sorted((PACKAGE_ROOT / layer).rglob("*.py"))
    assert files, f"no modules found under {PACKAGE_ROOT / layer}"
    return files


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layer_sources_do_not_import_upper_layers(layer: str) -> None:
    offending: dict[str, str] = {}  # first upper-layer module per import statement
    for path in _layer_files(layer):
        for line, module in _imported_modules(path):
            if _is_upper(module):
                offending.setdefault(f"{path.relative_to(PACKAGE_ROOT)}:{line}", module)
    assert offending == {}, "\n".join(f"{where} imports {module}" for where, module in offending.items())


_IMPORT_LAYER = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_importing_a_lower_layer_alone_loads_no_upper_layer(layer: str) -> None:
    # Every module of the layer, in a fresh interpreter, so nothing another test imported can hide a dependency.
    done = subprocess.run([sys.executable, "-c", _IMPORT_LAYER, f"angiogen.{layer}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"angiogen.{layer}" in loaded
    assert [name for name in loaded if _is_upper(name)] == []
