#!/usr/bin/env python3
"""The shape of the code, checked: the layers of each crate, import cycles, file and function
sizes. Part of scripts/lint.sh; ARCHITECTURE.md describes the same layers in words.

- Layers: each crate's top-level modules are in one of its layers (LAYERS below, highest
  first). A module imports only from its own layer or the ones below it; a top-level module
  this table does not name is an error (add it where it belongs, and to ARCHITECTURE.md).
- Cycles: within a crate, no two modules (files) import each other, directly or through
  others. A module's `mod.rs` that uses its children counts as importing them, so children
  take what they share from a sibling module (`error.rs`, `principal.rs`), never from their
  parent.
- Crates: the modules FORBIDDEN_CRATES names use none of the crates it lists (in a `use` or
  a path written out in code), so the core stays free of HTTP.
- Sizes: no file over MAX_FILE_LINES lines before its `#[cfg(test)]` module (test files
  aside). Function length is clippy's `too_many_lines` (clippy.toml).

An import is any `crate::`, `super::` or `self::` path (in a `use` or written out in code) and
any `use` of a child module by its name; it counts for the longest prefix that is a module.
Comments, strings and the `#[cfg(test)]` module at the end of a file are not read.

Usage: python3 scripts/layers.py  (exit 1 with every finding listed)
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Per crate, its layers, highest first: a module imports only from its layer and those after.
LAYERS = {
    "server": [
        ["lib", "main", "cli"],
        ["serve"],
        ["http"],
        ["core"],
        ["storage", "identity"],
        ["observe", "urls"],
    ],
    "app": [["lib"], ["pages"], ["components"], ["api"], ["format"]],
    "agent": [["lib", "main"], ["execute", "run", "store_artifacts", "download"], ["upload"], ["client"], ["paths", "duration"]],
    "wire": [["lib"], ["agent"], ["domain", "report"]],
    "store": [
        ["lib"],
        ["sqlite", "postgres", "copy"],
        ["accounts", "projects", "identities", "builds", "artifacts", "uploads", "retention", "audit", "limits", "servers", "test_results"],
        ["columns", "rows"],
        ["error", "models", "ids"],
    ],
    "s3": [["lib"], ["s3", "access", "import", "backup"], ["store"]],
}

# Per crate, top-level modules and the other crates they must not use: the core speaks no
# HTTP and knows nothing of the app's pages; leaves (`observe`, `urls`) serve no requests.
FORBIDDEN_CRATES = {
    "server": {
        "core": ["axum", "http", "http_body", "hyper", "tower", "tower_http", "vitrine_app", "leptos", "leptos_axum", "utoipa"],
        "observe": ["axum", "hyper", "tower", "tower_http", "vitrine_app", "leptos"],
        "urls": ["axum", "hyper", "tower", "tower_http", "vitrine_app", "leptos"],
    },
}

# Where a file's own tests start: its `#[cfg(test)] mod ...`.
TESTS = re.compile(r"^#\[cfg\(test\)\]\s*\n\s*mod\s", re.M)

RAW_STRING = re.compile(r'r(#*)"')
CHAR = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'")

# Files longer than this (before their tests) are split by what they do.
MAX_FILE_LINES = 600

# Files still over the limit, each with the reason it is left so; the list only shrinks (it
# is empty: keep it so).
LONG_FILES: dict = {}


def before_tests(text: str) -> str:
    """`text` up to its `#[cfg(test)]` module, if it has one."""
    tests = TESTS.search(text)
    return text[: tests.start()] if tests else text


def strip(code: str) -> str:
    """`code` without comments and without the contents of string and char literals."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            i = n if j < 0 else j
        elif code.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if code.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif code.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and (raw := RAW_STRING.match(code, i)) and (i == 0 or not (code[i - 1].isalnum() or code[i - 1] == "_")):
            end = code.find('"' + raw.group(1), raw.end())
            out.append('""')
            i = n if end < 0 else end + 1 + len(raw.group(1))
        elif c == '"':
            j = i + 1
            while j < n and code[j] != '"':
                j += 2 if code[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and (char := CHAR.match(code, i)):
            out.append("' '")
            i = char.end()
        else:  # a lifetime's quote, or code
            out.append(c)
            i += 1
    return "".join(out)


def module_of(src: Path, file: Path) -> tuple:
    """`http/v1_1/artifacts.rs` -> ("http", "v1_1", "artifacts"); `mod.rs` names its folder;
    `lib.rs` and `main.rs` are the roots ("lib",) and ("main",)."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def expand_use(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    return [p for item in items if item for p in expand_use(prefix + item)]


def imports(module: tuple, code: str, modules: set) -> set:
    """The modules `code` (of `module`) imports."""
    is_root = module in (("lib",), ("main",))
    here = () if is_root else module
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        paths += expand_use(re.sub(r"\s+as\s+\w+", "", m.group(1)))
    paths += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", code)
    found = set()
    for path in paths:
        segs = [s for s in path.split("::") if s and s != "*"]
        if not segs:
            continue
        if segs[0] == "crate":
            absolute = segs[1:]
        elif segs[0] in ("super", "self"):
            base = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            absolute = base + segs
        elif tuple(here) + (segs[0],) in modules:
            absolute = list(here) + segs
        else:
            continue  # another crate, or an item in scope
        for k in range(len(absolute), 0, -1):
            target = tuple(absolute[:k])
            if target in modules:
                if target != module:
                    found.add(target)
                break
    return found


def cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def path_in(graph: dict, comp: list) -> list:
    """One cycle through `comp`, as a list of modules (first repeated at the end)."""
    members, start = set(comp), sorted(comp)[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    chain = [v]
                    while prev[chain[-1]] is not None:
                        chain.append(prev[chain[-1]])
                    return list(reversed(chain)) + [start]
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def check_crate(name: str, src: Path, problems: list) -> None:
    # Test modules in files of their own (`#[cfg(test)] mod tests;`) are tests: not read.
    files = sorted(p for p in src.rglob("*.rs") if p.name != "tests.rs" and "tests" not in p.relative_to(src).parts[:-1])
    modules = {module_of(src, f): f for f in files}
    layers = LAYERS[name]
    layer_of = {top: i for i, layer in enumerate(layers) for top in layer}
    graph = {}
    for module, file in modules.items():
        text = before_tests(file.read_text())
        code = strip(text)
        graph[module] = imports(module, code, set(modules))
        rel = file.relative_to(ROOT)
        for crate in FORBIDDEN_CRATES.get(name, {}).get(module[0], []):
            if re.search(rf"(?<![\w:]){crate}::", code):
                problems.append(f"{rel}: uses `{crate}`, which `{module[0]}` must not (FORBIDDEN_CRATES)")
        if module[0] not in layer_of:
            problems.append(f"{rel}: the module `{module[0]}` is in no layer of `{name}` (scripts/layers.py, ARCHITECTURE.md)")
        lines = text.count("\n")
        if lines <= MAX_FILE_LINES and str(rel) in LONG_FILES:
            problems.append(f"{rel}: {lines} lines now: take it out of LONG_FILES")
        if lines > MAX_FILE_LINES and str(rel) not in LONG_FILES:
            problems.append(f"{rel}: {lines} lines before its tests (at most {MAX_FILE_LINES}): split it by what it does")
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer_of.get(module[0]), layer_of.get(target[0])
            if a is not None and b is not None and b < a:
                problems.append(
                    f"{name}: `{'::'.join(module)}` imports `{'::'.join(target)}`, a layer above it "
                    f"({', '.join(layers[b])} is above {', '.join(layers[a])})"
                )
    for comp in cycles(graph):
        chain = " -> ".join("::".join(m) for m in path_in(graph, comp))
        problems.append(f"{name}: import cycle among {len(comp)} modules: {chain}")


def main() -> int:
    problems = []
    for name in LAYERS:
        src = ROOT / name / "src"
        if src.is_dir():
            check_crate(name, src, problems)
    for long_file in LONG_FILES:
        if not (ROOT / long_file).exists():
            problems.append(f"{long_file} is in LONG_FILES but does not exist: take it out")
    for p in problems:
        print(p)
    if problems:
        print(f"layers: {len(problems)} finding(s)")
        return 1
    allowed = f" but the {len(LONG_FILES)} in LONG_FILES" if LONG_FILES else ""
    print(f"layers: every import goes down its crate's layers, no import cycle, no file too long{allowed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
