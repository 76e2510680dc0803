"""The packages import one way: model < hls < sim < flow < host (the data path, each layer
using only those below it). hls holds the engines and the accelerator description, so the
simulator reads a description without the flow; two doors upward are declared, not hidden:
the simulator's fold-from-architecture CLIs and the host may use the flow's public API (the
names of flow/__init__.py), nothing inside it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["model", "hls", "sim", "flow", "host"]
# modules allowed to import the flow's public API (`flow` itself, not `flow.<module>`)
FLOW_API_USERS = {"sim/run.py", "sim/bench.py"}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every absolute import of a file (module level and inside functions), with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def layering_violations(root: Path = ROOT) -> list[str]:
    bad = []
    for rank, pkg in enumerate(LAYERS):
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, mod in imports_of(path):
                top = mod.split(".")[0]
                if top not in LAYERS or LAYERS.index(top) <= rank:
                    continue
                if mod == "flow" and (pkg == "host" or rel in FLOW_API_USERS):
                    continue
                bad.append(f"{rel}:{line} imports {mod} ({top} is above {pkg})")
    return bad


def test_no_package_imports_one_above_it():
    assert layering_violations() == []


def test_layering_check_catches_an_upward_import(tmp_path):
    for pkg in LAYERS:
        (tmp_path / pkg).mkdir()
    (tmp_path / "sim" / "x.py").write_text("def f():\n    from flow.folding import fold_for_fps\n")
    (tmp_path / "hls" / "y.py").write_text("import sim.golden\n")
    (tmp_path / "host" / "z.py").write_text("from flow.build import build\nfrom flow import build\n")
    assert layering_violations(tmp_path) == [
        "hls/y.py:1 imports sim.golden (sim is above hls)",
        "sim/x.py:2 imports flow.folding (flow is above sim)",
    ]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_outside_main(path: Path) -> list[str]:
    """A file's absolute imports, except those under `if __name__ == "__main__":` (a CLI's
    entry point runs as its own module) and `if TYPE_CHECKING:` (never run)."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and any(k in ast.unparse(node.test) for k in ("__main__", "TYPE_CHECKING")):
            skip |= {id(n) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]  # `from pkg import module`
    return out


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Cycles among the project's modules (function-local imports count: they hide a cycle,
    they do not remove it)."""
    files = {_module_name(p, root): p for pkg in LAYERS for p in (root / pkg).rglob("*.py")}
    graph = {m: sorted({i for i in _imports_outside_main(p) if i in files and i != m
                        and not (files[i].name == "__init__.py" and m.startswith(i + "."))})
             for m, p in files.items()}
    cycles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return cycles


def test_no_import_cycles_between_modules():
    assert import_cycles() == []
