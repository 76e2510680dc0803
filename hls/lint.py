"""Schedule lint of the HLS engine headers: every loop must be one whose time can be read off
the code, as a synthesis tool schedules it.

    python -m hls.lint [FILES...]     # default: hls/include/*.h; exit 1 on any finding

The headers are read as Vitis HLS reads them (`__SYNTHESIS__` defined; C-sim-only branches
dropped, comments removed, line numbers kept). Rules:

  loop kinds   every loop is PIPELINE'd (one iteration per cycle), UNROLL'ed inside a
               pipelined loop (or inside a helper function called only from pipelined loops),
               or a pure wrapper whose body holds nothing but such loops. Loops of constexpr
               functions run at compile time and are exempt.
  bounds       `for` loops only, with braces, comparing the loop variable against a constant:
               literals, UPPER_CASE template parameters / constexpr names, casts. No `while`,
               no `do`: a data-dependent trip count has no schedule.
  counting     a pipelined body starts with VG_CYCLE(p) (the schedule check counts it), and
               VG_CYCLE appears nowhere else.
  ports        a pipelined body reads each stream at most once and writes it at most once
               (lexically: `x.read(` / `x.write(`).
  banks        an array indexed by an unrolled loop variable inside a pipelined loop is
               ARRAY_PARTITION'ed or ARRAY_RESHAPE'd (complete) along that dimension in the
               same function (dim 0 covers all; no dim means 1); for an array handed to a
               helper that indexes it by an unrolled variable, along the dimension the helper
               indexes. Word members (`w.v[i]`) are registers of a struct and exempt.

What the lint cannot tell, only a synthesis run can (`make hls-check`): whether the tool
achieves II = 1 (dependence through memories, timing), and the pipeline depth of each loop.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from hls.paths import INCLUDE_DIR

SYNTHESIS_DEFINES = frozenset({"__SYNTHESIS__"})
_KEYWORDS = {"int", "long", "unsigned", "short", "char", "bool", "const", "constexpr", "static_cast",
             "sizeof", "true", "false"}


@dataclass
class Finding:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


# ---- reading the synthesis view -------------------------------------------------------------
def _strip_comments(text: str) -> str:
    """Comments and the contents of string and character literals to spaces, newlines kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            out.append(q + " " * (j - i - 1) + q)
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _eval_condition(expr: str, defines: frozenset) -> bool:
    # Vitis HLS has its own headers (ap_axi_sdata.h, ...): __has_include holds there
    e = re.sub(r"__has_include\s*\([^)]*\)", "1", expr)
    e = re.sub(r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)",
               lambda m: "1" if (m.group(1) or m.group(2)) in defines else "0", e)
    e = e.replace("&&", " and ").replace("||", " or ")
    e = re.sub(r"!(?!=)", " not ", e)
    e = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: m.group(0) if m.group(0) in ("and", "or", "not") else "0", e)
    return bool(eval(e, {"__builtins__": {}}))  # noqa: S307 - digits and boolean operators only


def synthesis_view(text: str, defines: frozenset = SYNTHESIS_DEFINES) -> str:
    """The text with inactive preprocessor branches, #include/#define lines and comments
    blanked (same line count); #pragma lines kept."""
    lines = _strip_comments(text).split("\n")
    stack: list[tuple[bool, bool]] = []  # (this branch active, some branch taken)
    out = []
    for ln in lines:
        s = ln.strip()
        m = re.match(r"#\s*(ifdef|ifndef|if|elif|else|endif)\b(.*)", s)
        active = all(a for a, _ in stack)
        if m:
            kw, rest = m.group(1), m.group(2).strip()
            if kw in ("ifdef", "ifndef"):
                c = (rest in defines) == (kw == "ifdef")
                stack.append((c, c))
            elif kw == "if":
                c = _eval_condition(rest, defines)
                stack.append((c, c))
            elif kw == "elif":
                _, taken = stack.pop()
                c = not taken and _eval_condition(rest, defines)
                stack.append((c, taken or c))
            elif kw == "else":
                _, taken = stack.pop()
                stack.append((not taken, True))
            else:
                stack.pop()
            out.append("")
        elif not active or re.match(r"#\s*(include|define|undef)\b", s):
            out.append("")
        else:
            out.append(ln)
    return "\n".join(out)


# ---- structure: functions, loops, pragmas --------------------------------------------------------
@dataclass
class Function:
    name: str
    start: int  # offset of its body's '{'
    end: int  # offset of the matching '}'
    constexpr: bool
    params: list[str]
    streams: frozenset = frozenset()  # the parameters that are hls::streams (not arrays)


@dataclass
class Loop:
    kw: str
    start: int  # offset of the keyword
    header: str
    var: Optional[str]
    body: tuple[int, int]  # '{' .. '}' offsets; (-1, -1) when the body has no braces
    func: Optional[Function]
    parent: Optional["Loop"] = None
    children: list["Loop"] = field(default_factory=list)
    pragmas: list[str] = field(default_factory=list)
    direct: str = ""  # body text without nested loops

    @property
    def pipelined(self) -> bool:
        return any(re.search(r"\bPIPELINE\b", p) for p in self.pragmas)

    @property
    def unrolled(self) -> bool:
        return any(re.search(r"\bUNROLL\b", p) for p in self.pragmas)


def _matches(text: str) -> dict[int, int]:
    """Offsets of matching brackets ((, [, {) outside string literals."""
    pairs, stack, i = {}, [], 0
    close = {")": "(", "]": "[", "}": "{"}
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            stack.append((c, i))
        elif c in close:
            if stack and stack[-1][0] == close[c]:
                pairs[stack.pop()[1]] = i
        i += 1
    return pairs


_CONTROL = ("for", "while", "if", "else", "do", "switch", "namespace", "struct", "class", "union",
            "enum")


def _functions(text: str, pairs: dict[int, int]) -> list[Function]:
    out = []
    for open_, close in pairs.items():
        if text[open_] != "{":
            continue
        j = open_ - 1
        while j >= 0 and text[j] in " \t\n":
            j -= 1
        if j < 0 or text[j] != ")":
            continue
        # the parameter list: the ( that matches this )
        p_open = next((o for o, c in pairs.items() if c == j and text[o] == "("), None)
        if p_open is None:
            continue
        m = re.search(r"([A-Za-z_]\w*)\s*(<[^;{}]*>)?\s*$", text[:p_open])
        if not m or m.group(1) in _CONTROL:
            continue
        head_start = max(text.rfind(";", 0, p_open), text.rfind("}", 0, p_open), text.rfind("{", 0, p_open))
        head = text[head_start + 1:p_open]
        params = _param_names(text[p_open + 1:j])
        streams = frozenset(n for n, d in zip(params, _split_params(text[p_open + 1:j])) if "stream<" in d)
        out.append(Function(m.group(1), open_, close, "constexpr" in head.split(), params, streams))
    return out


def _split_params(plist: str) -> list[str]:
    """The declarations of a parameter list (top-level commas; templates' <> respected)."""
    decls, depth, cur = [], 0, []
    for c in plist + ",":
        if c in "<([":
            depth += 1
        elif c in ">)]":
            depth -= 1
        if c == "," and depth == 0:
            decls.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    return decls


def _param_names(plist: str) -> list[str]:
    """Parameter names of a parameter list."""
    names = []
    for d in _split_params(plist):
        m = re.search(r"([A-Za-z_]\w*)\s*$", re.sub(r"\[.*", "", d).strip())
        names.append(m.group(1) if m else "")
    return names


def _loops(text: str, pairs: dict[int, int], funcs: list[Function]) -> list[Loop]:
    loops = []
    for m in re.finditer(r"\b(for|while|do)\b", text):
        kw, k = m.group(1), m.end()
        func = min((f for f in funcs if f.start < m.start() < f.end), key=lambda f: f.end - f.start,
                   default=None)
        header, var, body = "", None, (-1, -1)
        if kw == "do":
            j = k
        else:
            p = text.index("(", k)
            header = text[p + 1:pairs[p]]
            vm = re.match(r"\s*(?:const\s+)?(?:unsigned\s+|long\s+)*(?:int|long|short|char)\s+(\w+)\s*=", header)
            var = vm.group(1) if vm else None
            j = pairs[p] + 1
        while j < len(text) and text[j] in " \t\n":
            j += 1
        if j < len(text) and text[j] == "{":
            body = (j, pairs[j])
        loops.append(Loop(kw, m.start(), header, var, body, func))
    for lp in loops:  # nesting: the innermost loop whose body holds the keyword
        outer = [o for o in loops if o is not lp and o.body[0] < lp.start < o.body[1]]
        if outer:
            lp.parent = min(outer, key=lambda o: o.body[1] - o.body[0])
            lp.parent.children.append(lp)
    for lp in loops:
        if lp.body[0] < 0:
            continue
        a, b = lp.body
        spans = sorted((c.start, c.body[1] if c.body[1] > 0 else c.start) for c in lp.children)
        parts, cur = [], a + 1
        for s, e in spans:
            parts.append(text[cur:s])
            cur = e + 1
        parts.append(text[cur:b])
        lp.direct = "".join(parts)
        lp.pragmas = re.findall(r"#pragma\s+HLS\s+([^\n]*)", lp.direct)
    return loops


def _partitions(body: str) -> dict[str, set[int]]:
    """array name -> dimensions partitioned or reshaped completely (0: all)."""
    out: dict[str, set[int]] = {}
    for m in re.finditer(r"#pragma\s+HLS\s+ARRAY_(?:PARTITION|RESHAPE)\b([^\n]*)", body):
        args = m.group(1)
        v = re.search(r"variable\s*=\s*(\w+)", args)
        if not v or not re.search(r"\bcomplete\b", args):
            continue
        d = re.search(r"\bdim\s*=\s*(\d+)", args)
        out.setdefault(v.group(1), set()).add(int(d.group(1)) if d else 1)
    return out


def _accesses(text: str) -> list[tuple[str, list[str], int]]:
    """(array name, index expressions, offset) of every `name[..][..]` not preceded by '.'."""
    out = []
    pairs = _matches(text)
    for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\s*\[", text):
        idx, j = [], m.end() - 1
        while j < len(text) and text[j] == "[" and j in pairs:
            idx.append(text[j + 1:pairs[j]])
            j = pairs[j] + 1
            while j < len(text) and text[j] in " \t":
                j += 1
        out.append((m.group(1), idx, m.start()))
    return out


def _uses(expr: str, names: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(n)}\b", expr) for n in names)


def _constant_bound(lp: Loop) -> bool:
    parts = lp.header.split(";")
    if len(parts) != 3 or lp.var is None:
        return False
    cond = parts[1]
    m = re.match(rf"\s*{re.escape(lp.var)}\s*(<|<=|!=)\s*(.+)$", cond.strip())
    if not m:
        return False
    names = set(re.findall(r"\b[A-Za-z_]\w*\b", m.group(2)))
    return all(n in _KEYWORDS or n.upper() == n for n in names)


def lint_text(text: str, path: str = "<text>") -> list[Finding]:
    view = synthesis_view(text)
    pairs = _matches(view)
    funcs = _functions(view, pairs)
    loops = _loops(view, pairs, funcs)
    line = lambda off: view.count("\n", 0, off) + 1  # noqa: E731
    found: list[Finding] = []

    def bad(off: int, rule: str, msg: str) -> None:
        found.append(Finding(path, line(off), rule, msg))

    live = [lp for lp in loops if not (lp.func and lp.func.constexpr)]
    # helper functions: their unrolled loops are legal when every call is in a pipelined body
    helpers = {f.name for f in funcs if not f.constexpr and any(
        lp.func is f and lp.unrolled and lp.parent is None for lp in live)}
    pipelined_bodies = [lp for lp in live if lp.pipelined]
    for lp in live:
        _loop_findings(view, lp, funcs, helpers, pipelined_bodies, bad)
    # VG_CYCLE only directly in pipelined bodies
    for m in re.finditer(r"\bVG_CYCLE\s*\(", view):
        owner = min((lp for lp in loops if lp.body[0] < m.start() < lp.body[1]),
                    key=lambda lp: lp.body[1] - lp.body[0], default=None)
        if owner is None or not owner.pipelined:
            bad(m.start(), "counting", "VG_CYCLE outside the body of a pipelined loop")
    _bank_findings(view, funcs, live, bad)
    return sorted(found, key=lambda f: (f.path, f.line, f.rule))


def _in_pipelined(lp: Loop) -> bool:
    """Whether lp lies in a pipelined loop, through unrolled loops only."""
    p = lp.parent
    while p is not None:
        if p.pipelined:
            return True
        if not p.unrolled:
            return False
        p = p.parent
    return False


def _called_only_from_pipelined(view: str, name: str, funcs: list[Function],
                                pipelined_bodies: list[Loop]) -> bool:
    calls = [m.start() for m in re.finditer(rf"\b{name}\s*(<[^;{{}}]*?>)?\s*\(", view)]
    calls = [c for c in calls if not any(f.name == name and f.start > c and
                                         view.rfind(name, 0, f.start) <= c for f in funcs)]
    inside = [c for c in calls if any(p.body[0] < c < p.body[1] for p in pipelined_bodies)]
    return len(inside) == len(calls)


def _loop_findings(view: str, lp: Loop, funcs: list[Function], helpers: set[str],
                   pipelined_bodies: list[Loop], bad) -> None:
    """The rules on one loop: kinds, bounds, counting and ports."""
    if lp.kw != "for":
        bad(lp.start, "bounds", f"`{lp.kw}` loop: a data-dependent trip count has no schedule")
        return
    if lp.body[0] < 0:
        bad(lp.start, "bounds", "loop body without braces")
        return
    if not _constant_bound(lp):
        bad(lp.start, "bounds", f"loop bound `{lp.header.split(';')[1].strip()}` is not a "
                                f"compile-time constant")
    if lp.pipelined:
        if not re.match(r"\s*VG_CYCLE\s*\(", re.sub(r"#pragma[^\n]*", "", lp.direct)):
            bad(lp.start, "counting", "pipelined loop body does not start with VG_CYCLE(p)")
        if _in_pipelined(lp):
            bad(lp.start, "loop kinds", "pipelined loop inside a pipelined loop")
        for op in ("read", "write"):
            names = re.findall(rf"\b(\w+)\s*\.\s*{op}\s*\(", _all_body(view, lp))
            for n in sorted(set(names)):
                if names.count(n) > 1:
                    bad(lp.start, "ports", f"stream {n}: {names.count(n)} {op}s in one iteration")
    elif lp.unrolled:
        if not _in_pipelined(lp) and not (lp.func and lp.func.name in helpers and lp.parent is None
                                          and _called_only_from_pipelined(view, lp.func.name, funcs,
                                                                          pipelined_bodies)):
            bad(lp.start, "loop kinds", "unrolled loop outside a pipelined loop (it would take "
                                        "a cycle per copy, or hide a schedule)")
    else:
        rest = re.sub(r"#pragma[^\n]*", "", lp.direct).strip(" \t\n;")
        wrapper = lp.children and not rest and all(c.pipelined or c.children for c in lp.children)
        if not wrapper:
            bad(lp.start, "loop kinds", "loop is neither pipelined, unrolled inside a pipelined "
                                        "loop, nor a pure wrapper of pipelined loops")


def _all_body(view: str, lp: Loop) -> str:
    return view[lp.body[0] + 1:lp.body[1]]


def _helper_dims(view: str, funcs: list[Function], live: list[Loop]) -> dict[tuple[str, int], set[int]]:
    """(helper, parameter position) -> the dimensions (1-based, of the helper's indices) the
    helper indexes by an unrolled variable ({1} for `thr[t]`, {1, 3} for `w[i / S][row][i % S]`)."""
    out: dict[tuple[str, int], set[int]] = {}
    for f in funcs:
        for lp in live:
            if lp.func is not f or not lp.unrolled or lp.parent is not None or lp.var is None:
                continue
            for name, idx, _ in _accesses(_all_body(view, lp)):
                dims = {k for k, e in enumerate(idx, start=1) if _uses(e, {lp.var})}
                if name in f.params and dims:
                    out.setdefault((f.name, f.params.index(name)), set()).update(dims)
    return out


def _bank_findings(view: str, funcs: list[Function], live: list[Loop], bad) -> None:
    helper_dims = _helper_dims(view, funcs, live)
    for lp in live:
        if not lp.pipelined or lp.func is None:
            continue
        parts = _partitions(view[lp.func.start:lp.func.end])
        unrolled = {d.var for d in live if d.var and d.unrolled and lp.body[0] < d.start < lp.body[1]}
        body = _all_body(view, lp)
        for name, idx, off in _accesses(body):
            # every unrolled copy must reach its own memory: each unrolled variable in the
            # indices must index a partitioned (or reshaped) dimension
            dims = parts.get(name, set()) | _caller_partitions(view, funcs, lp.func, name)
            used = {v for e in idx for v in unrolled if _uses(e, {v})}
            banked = {v for k, e in enumerate(idx, start=1) if {0, k} & dims for v in unrolled
                      if _uses(e, {v})}
            for v in sorted(used - banked):
                bad(lp.body[0] + 1 + off, "banks",
                    f"{name}[...] is indexed by the unrolled variable {v} in no partitioned or "
                    f"reshaped (complete) dimension: its copies would share one memory's ports")
        # arrays handed to helpers that index them in parallel
        for (helper, pos), hdims in helper_dims.items():
            for m in re.finditer(rf"\b{helper}\s*(<[^;{{}}]*?>)?\s*\(", body):
                args = _split_args(body, m.end() - 1)
                if pos >= len(args):
                    continue
                am = re.match(r"\s*([A-Za-z_]\w*)\s*((?:\[[^\]]*\]\s*)*)$", args[pos])
                if not am:
                    continue
                given = len(re.findall(r"\[", am.group(2)))
                dims = parts.get(am.group(1), set()) | _caller_partitions(view, funcs, lp.func, am.group(1))
                for k in sorted(given + d for d in hdims):
                    if not ({0, k} & dims):
                        bad(lp.body[0] + 1 + m.start(), "banks",
                            f"{am.group(1)} is read in parallel by {helper} along dimension {k}, "
                            f"which is not partitioned or reshaped (complete)")


def _caller_partitions(view: str, funcs: list[Function], f: Function, name: str,
                       seen: Optional[set] = None) -> set[int]:
    """Dimensions partitioned for the array f receives as its parameter `name` at every call
    of f (an intersection: each caller must bank it): where the caller declares it (a DATAFLOW
    region's buffer), or, where the caller hands on its own parameter (an entry point around a
    binding's wrapper), by that caller's callers. A call that passes a stream is not counted
    (the helper then reads a word, not an array)."""
    if name not in f.params:
        return set()
    seen = set() if seen is None else seen
    if (f.name, f.start, name) in seen:
        return set()
    seen = seen | {(f.name, f.start, name)}
    pos, sites = f.params.index(name), []
    for g in funcs:
        if g is f:
            continue
        body = view[g.start:g.end]
        for m in re.finditer(rf"\b{f.name}\s*(<[^;{{}}]*?>)?\s*\(", body):
            args = _split_args(body, m.end() - 1)
            if pos < len(args) and re.fullmatch(r"\s*\w+\s*", args[pos]):
                arg = args[pos].strip()
                if arg in g.streams:
                    continue
                sites.append(_partitions(body).get(arg, set()) | _caller_partitions(view, funcs, g, arg, seen))
    return set.intersection(*sites) if sites else set()


def _split_args(text: str, open_paren: int) -> list[str]:
    """The top-level comma-separated arguments of the call whose '(' is at open_paren."""
    depth, cur, out = 0, [], []
    for c in text[open_paren + 1:]:
        if c in "([{":
            depth += 1
        if c in ")]}":
            if depth == 0:
                out.append("".join(cur))
                return out
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(c)
    return out


def lint_files(paths: Sequence[Path]) -> list[Finding]:
    out = []
    for p in paths:
        out += lint_text(Path(p).read_text(), str(p))
    return out


def default_files() -> list[Path]:
    return sorted(INCLUDE_DIR.glob("*.h"))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.lint", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path, help="headers to check (default: hls/include/*.h)")
    a = ap.parse_args(argv)
    files = a.files or default_files()
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    found = lint_files(files)
    for f in found:
        print(f)
    n_loops = sum(len(re.findall(r"\bfor\b", synthesis_view(Path(p).read_text()))) for p in files)
    print(f"{len(files)} files, {n_loops} loops, {len(found)} findings")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
