"""The house rules, checked on the files themselves: concepts instead of ticket numbers in code, tests and docs;
no import circles between the modules of `nst`; each module's docstring says in its first line what it is for."""

import ast
import re

import pytest

from nst.settings import PACKAGE_ROOT

ROOT = PACKAGE_ROOT
MODULES = sorted((ROOT / "nst").rglob("*.py"))
# A ticket word, an optional plural s, spaces, "#", "-" or "_", then a digit. (The examples below are built from
# parts, so that this file does not match itself.)
TICKET = re.compile("(issue|ticket)" + r"s?[\s_#-]*[0-9]", re.IGNORECASE)


def text_files():
    """Every text file of nst/, tests/ and docs/, and README.md."""
    files = [ROOT / "README.md"]
    for folder in ("nst", "tests", "docs"):
        files += [
            p
            for p in sorted((ROOT / folder).rglob("*"))
            if p.is_file()
            and "__pycache__" not in p.parts
            and p.suffix in (".py", ".md", ".ipynb", ".txt", ".json", ".toml", ".cfg", ".ini", ".sh")
        ]
    return files


def test_no_ticket_numbers_in_code_tests_or_docs():
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if TICKET.search(line)
    ]
    assert hits == []


def test_the_ticket_pattern_finds_what_it_should():
    issue, ticket = "iss" + "ue", "tick" + "et"
    for text in (
        f"see {issue} 5",
        f"{issue.title()} #12",
        f"{issue}-6",
        f"({issue}_4)",
        f"{issue.upper()}S 3 and 4",
        f"{ticket} 9",
    ):
        assert TICKET.search(text), text
    for text in (f"{issue}s show", f"a known {issue}", f"the {issue} of 2x2 pixels"):
        assert TICKET.search(text) is None, text


def module_name(path):
    """nst/weights/cache.py -> nst.weights.cache; a package's __init__.py -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, known):
    """The modules of `nst` that the file imports, anywhere in it (inside functions too)."""
    found = set()
    name = module_name(path)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = package + ("." + base if base else "")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # `import nst.x.y` imports nst.x too; `from nst import x` imports the module nst.x when there is one.
            # The root package counts only when named itself: its __init__ imports nothing of nst when it is
            # imported (test_the_root_package_imports_nothing_of_nst_when_imported), so it closes no circle.
            parts = name.split(".")
            found |= {".".join(parts[:k]) for k in range(2 if len(parts) > 1 else 1, len(parts) + 1)} & known
    found.discard(module_name(path))
    return found


def import_graph():
    known = {module_name(path) for path in MODULES}
    return {module_name(path): imported_modules(path, known) for path in MODULES}


def cycles(graph):
    """Every elementary cycle's node list found by a depth-first search from each node (each cycle once, as a
    rotation starting at its smallest name)."""
    found = set()

    def visit(start, node, path):
        for nxt in sorted(graph[node]):
            if nxt == start:
                found.add(tuple(path))
            elif nxt not in path and nxt > start:
                visit(start, nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, start, [start])
    return sorted(found)


def test_cycles_are_found_in_a_made_up_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "f"}, "f": set()}
    assert cycles(graph) == [("a", "b", "c"), ("d", "e")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_is_read_from_the_code():
    graph = import_graph()
    assert "nst.settings" in graph["nst.commands.cli"]
    assert "nst.commands.run" in graph["nst.commands.cli"]  # inside main()
    assert "nst.weights.matconvnet" in graph["nst.settings"]  # inside check_options()
    assert "nst" in graph["nst.sinks.report"]  # `import nst` for its version
    assert graph["nst.errors"] == set()


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    graph["nst"] = set()  # the root's imports all run when called (nst.paint), never on import: see below
    found = cycles(graph)
    assert found == [], "import circles: " + "; ".join(" -> ".join(c + (c[0],)) for c in found)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_says_in_its_first_docstring_line_what_it_is_for(path):
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.name} has no module docstring"
    first = docstring.splitlines()[0].strip()
    assert len(first.split()) >= 3 and first[-1] in ".:", f"{path.name}: first line {first!r} is not a sentence"


ENGINE_MAY_NOT_IMPORT = ("nst.settings", "nst.commands", "nst.sinks", "nst.files", "nst.studio", "nst.teaching")


def test_the_engine_writes_no_file_prints_nothing_and_takes_no_config():
    """nst.engine imports no Config, no sink, no command and no file writer; it never calls print or tqdm, and
    opens no file for writing."""
    graph = import_graph()
    engine = [path for path in MODULES if module_name(path).startswith("nst.engine")]
    assert len(engine) >= 8
    for path in engine:
        name = module_name(path)
        banned = {m for m in graph[name] if m.startswith(ENGINE_MAY_NOT_IMPORT)}
        assert banned == set(), f"{name} imports {banned}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert "print" not in names and "tqdm" not in imported and "Config" not in names, name
        writes = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "open"
            and any(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and set(a.value) & set("wax+")
                for a in node.args[1:]
            )
        ]
        assert writes == [], name
