"""The layout is a picture of the architecture: imports only go down the layers (see ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Each package of the core and what it may import from DeepFER's own code (a lower layer, or itself).
LAYERS = {
    "deepfer.model": {"deepfer.model"},
    "deepfer.analysis": {"deepfer.model", "deepfer.analysis"},
    "deepfer.outputs": {"deepfer.model", "deepfer.analysis", "deepfer.outputs"},
    "deepfer.training": {"deepfer.model", "deepfer.analysis", "deepfer.outputs", "deepfer.training"},
    "deepfer.apps": {"deepfer.model", "deepfer.analysis", "deepfer.outputs", "deepfer.training", "deepfer.apps"},
}
LAYERS["deepfer.__main__"] = LAYERS["deepfer.apps"]  # `python -m deepfer`: the command line's entry point
BASE = {"deepfer.state", "deepfer", "deepfer.labels", "deepfer.errors", "deepfer.config", "deepfer.media", "deepfer.fileio", "deepfer.faces",
        "deepfer.preprocess"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in ("deepfer", "batch", "dashboard", "benchmarks", "tests")}


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in ("model", "analysis", "outputs", "training", "apps")) else module


@pytest.mark.parametrize("path", sorted((REPO / "deepfer").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_core_imports_only_go_down(path):
    module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    own = _package(module)
    allowed = BASE | LAYERS.get(own, set())
    for name in _imports(path):
        assert name.split(".")[0] == "deepfer", f"{module} imports {name}: the core never imports batch, dashboard or tests"
        if own in BASE:
            assert name in BASE, f"{module} (base) imports {name}"
        else:
            assert name in BASE or _package(name) in allowed, f"{module} ({own}) imports {name}, a higher layer"


def test_batch_imports_no_front_end():
    for path in (REPO / "batch").rglob("*.py"):
        assert not {n for n in _imports(path) if n.startswith(("dashboard", "deepfer.apps"))}, path


def test_analysis_and_outputs_load_without_training_or_apps():
    """Importing the per-frame path (and running nothing) loads no training, app, batch or dashboard module."""
    code = ("import sys, deepfer.outputs.video, deepfer.analysis.live, deepfer.outputs.readers; "
            "bad = sorted(m for m in sys.modules if m.startswith(('deepfer.training', 'deepfer.apps', 'batch', 'dashboard', 'tensorflow', 'keras'))); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
