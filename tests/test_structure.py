"""The package's shape (issue 20): no import circles in tracker/, no view longer than 30 lines, and no module
longer than 400 lines (one a reader takes in at one sitting).
Read from the source with ast: nothing is imported or run."""

import ast
import sys
from collections import defaultdict
from pathlib import Path

TRACKER = Path(__file__).resolve().parent.parent / "tracker"
VIEW_DECORATORS = {"route", "get", "post"}
MAX_VIEW_LINES = 30
MAX_MODULE_LINES = 400


def _modules() -> dict[str, Path]:
    modules = {}
    for path in TRACKER.rglob("*.py"):
        name = ".".join(path.relative_to(TRACKER.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the tracker modules it imports anywhere in its source (a function's import counts too)."""
    graph = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            graph[name].update(c for c in candidates if c in modules and c != name)
    return graph


def _circles(graph: dict[str, set[str]], nodes) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(nodes):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _is_view(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        call = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (
            isinstance(call, ast.Attribute)
            and call.attr in VIEW_DECORATORS
            and isinstance(call.value, ast.Name)
            and call.value.id == "bp"
        ):
            return True
    return False


def test_tracker_has_no_import_circles():
    modules = _modules()
    assert _circles(_import_graph(modules), modules) == []


def test_no_view_is_longer_than_30_lines():
    long_views = []
    for path in sorted(TRACKER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and _is_view(node):
                lines = node.end_lineno - node.lineno + 1  # from `def` to the last line, decorators apart
                if lines > MAX_VIEW_LINES:
                    long_views.append(f"{path.relative_to(TRACKER.parent)}:{node.name} ({lines} lines)")
    assert long_views == []


def test_no_module_is_longer_than_400_lines():
    long_modules = [
        f"{path.relative_to(TRACKER.parent)} ({lines} lines)"
        for path in sorted(TRACKER.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long_modules == []


def test_the_check_sees_a_circle():
    graph = defaultdict(set, {"a": {"b"}, "b": {"a"}, "c": {"a"}})
    assert _circles(graph, ["a", "b", "c"]) == [["a", "b"]]
