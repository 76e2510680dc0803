"""Functions in flow/, sim/, host/ and hls/ stay short: at most 60 lines, unless a comment
right above the function says why it is longer ("longer than the house limit ...")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 60
PACKAGES = ("flow", "sim", "host", "hls")


def long_functions(root: Path = ROOT) -> list[str]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse("\n".join(lines), str(path))):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                n = node.end_lineno - node.lineno + 1
                if n <= LIMIT:
                    continue
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                above = []
                i = first - 2
                while i >= 0 and lines[i].lstrip().startswith("#"):
                    above.append(lines[i])
                    i -= 1
                if "house limit" not in " ".join(above):
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {n} lines")
    return out


def test_functions_are_short_or_say_why():
    assert long_functions() == []


def test_a_long_function_without_a_reason_is_found(tmp_path):
    (tmp_path / "flow").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "flow" / "long.py").write_text(f"def f():\n{body}\n\n\n# longer than the house "
                                               f"limit: a reason\ndef g():\n{body}\n")
    assert long_functions(tmp_path) == ["flow/long.py:1 f: 61 lines"]
