"""The structure bar (docs/ARCHITECTURE.md, "The bar"): no module over 400 lines and no function
over 60 in the packages. Prints each one over, exits 1 if any; `make lint` runs it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("monitor", "probes", "continuity", "reports", "store", "config", "domain", "render", "kernel")
MODULE_LINES, FUNCTION_LINES = 400, 60


def over(root: Path) -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            name = path.relative_to(root)
            if (lines := len(text.splitlines())) > MODULE_LINES:
                out.append(f"{name}: {lines} lines (module bar {MODULE_LINES})")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > FUNCTION_LINES:
                        out.append(f"{name}:{node.lineno}: {node.name}() {length} lines (bar {FUNCTION_LINES})")
    return out


if __name__ == "__main__":
    found = over(Path(__file__).resolve().parents[1])
    print("\n".join(found) or "structure bar: every module and function within it")
    sys.exit(1 if found else 0)
