"""`python -m benchmarks NAME [args]`: run the benchmark NAME (a module of this package with a main(argv)).

`python -m benchmarks NAME --worker JSON` is how a benchmark runs one measurement in a process of its own
(benchmarks.common.run_worker): the module's worker(job), its result printed as JSON on the last line.
"""

import ast
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

import benchmarks

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def names():
    """{name: the first line of its docstring} of the package's modules that define main(argv), read unimported
    (no TensorFlow for a listing)."""
    found = {}
    for module in pkgutil.iter_modules(benchmarks.__path__):
        tree = ast.parse((Path(benchmarks.__path__[0]) / f"{module.name}.py").read_text(encoding="utf-8"))
        if module.name != "__main__" and any(
            isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body
        ):
            found[module.name] = (ast.get_docstring(tree) or "").splitlines()[0]
    return dict(sorted(found.items()))


def main(argv):
    available = names()
    if not argv or argv[0] not in available:
        asked = not argv or argv[0] in ("-h", "--help")
        print(
            "usage: python -m benchmarks NAME [args]   (NAME --help: its own)\n\n"
            + "\n".join(f"  {name:16} {line}" for name, line in available.items()),
            file=sys.stdout if asked else sys.stderr,
        )
        return 0 if asked else 2
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    if argv[1:2] == ["--worker"] and len(argv) == 3:
        print(json.dumps(module.worker(json.loads(argv[2]))))
        return 0
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
