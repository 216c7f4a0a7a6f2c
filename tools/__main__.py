"""`python -m tools NAME [args]`: run the script NAME (a module of this package with a main(argv))."""

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import tools


def scripts():
    """{name: the first line of its docstring} of the package's modules that define main(argv), read unimported."""
    found = {}
    for module in pkgutil.iter_modules(tools.__path__):
        tree = ast.parse((Path(tools.__path__[0]) / f"{module.name}.py").read_text(encoding="utf-8"))
        if module.name != "__main__" and any(
            isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body
        ):
            found[module.name] = (ast.get_docstring(tree) or "").splitlines()[0]
    return dict(sorted(found.items()))


def main(argv):
    available = scripts()
    if not argv or argv[0] not in available:
        print(
            "usage: python -m tools NAME [args]\n\n"
            + "\n".join(f"  {name:12} {line}" for name, line in available.items()),
            file=sys.stdout if not argv or argv[0] in ("-h", "--help") else sys.stderr,
        )
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return importlib.import_module(f"tools.{argv[0]}").main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
