"""Imports run one way: models (pure) <- effects (dondoc/*) <- flows <- entry points (cli, serve, demo)."""
from __future__ import annotations

import ast

from tests.conftest import ROOT

ENTRY = {"dondoc/cli.py", "dondoc/serve.py", "dondoc/demo.py"}


def imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0] + ("." + node.module.split(".")[1] if "." in node.module else ""))
    return out


def test_each_layer_imports_only_the_layers_below():
    for path in sorted(ROOT.glob("models/*.py")):
        assert not {m for m in imports(path) if m.split(".")[0] in ("dondoc", "flows", "prefect")}, path
    for path in sorted(ROOT.glob("dondoc/*.py")):
        rel = str(path.relative_to(ROOT))
        if rel not in ENTRY:
            assert not {m for m in imports(path) if m.split(".")[0] in ("flows", "prefect")}, rel
    for path in sorted(ROOT.glob("flows/*.py")):
        assert not {m for m in imports(path) if m in {e[:-3].replace("/", ".") for e in ENTRY}}, path
