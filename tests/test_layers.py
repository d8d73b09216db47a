"""The package's layers, from its import graph (read from the source, nothing imported).

Each module may import from its own layer or the layers below (the
``anotutor/__init__`` docstring draws them); no method module may reach the
test-defect generator ``anotutor.data.defects``, directly or through another
module of the package (a method that saw the test generator would be scored
on its own training noise).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "anotutor"
LAYERS = [
    {"runtime", "checks", "ops", "viz", "log"},
    {"data", "metrics", "losses", "theory", "results"},
    {"models"},
    {"methods"},
    {"widgets", "pretrained", "contamination", "catalog", "compare", "protocol"},
    {"report", "deploy", "export", "cli", "parser", "outputs", "__main__"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()


def _exists(name: str) -> bool:
    base = PACKAGE.parent / name.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The anotutor modules ``path`` imports anywhere (function bodies included); ``from pkg import mod``
    counts as importing ``pkg.mod`` when ``mod`` is a module."""
    here = _module_name(path)
    package = here if _is_package(here) else here.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("anotutor")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("anotutor"):
                continue
            subs = [f"{module}.{a.name}" for a in node.names if _exists(f"{module}.{a.name}")]
            out |= set(subs) if subs and len(subs) == len(node.names) else {module} | set(subs)
    return out


GRAPH = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _layer(name: str) -> int:
    top = name.split(".")[1] if name.count(".") else "__init__"
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and to the anotutor docstring")


def test_every_module_sits_in_a_layer():
    for name in GRAPH:
        if name != "anotutor":
            _layer(name)


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if n != "anotutor"))
def test_no_import_climbs_a_layer(name):
    climbs = [m for m in GRAPH[name] if m not in ("anotutor",) and _layer(m) > _layer(name)]
    assert not climbs, f"{name} (layer {_layer(name)}) imports {climbs} from a higher layer"


def test_no_method_reaches_the_test_defect_generator():
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for m in GRAPH.get(todo.pop(), ()):
                if m not in seen and m != "anotutor" and not (_is_package(m) and m.count(".") == 1):
                    seen.add(m)
                    todo.append(m)
        return seen

    for name in GRAPH:
        if name.startswith("anotutor.methods"):
            assert "anotutor.data.defects" not in reach(name), f"{name} reaches anotutor.data.defects"
    # the check can fail: the texture data set does reach the generator
    assert "anotutor.data.defects" in reach("anotutor.data.textures")
