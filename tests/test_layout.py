"""The package's stages import one way: each stage imports only stages below it (or itself)."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "talkinghead"

# Lowest first. A module of a stage may import from its own stage and from any stage before it.
STAGES = ["errors", "config", "io", "face", "motion", "models", "render", "drivers", "provenance",
          "pipelines", "eval", "train", "interfaces"]


def _stage(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def _imported_stages(path: Path) -> list[tuple[str, int]]:
    """(stage, line) of every ``talkinghead.<stage>`` import in the file, lazy ones in functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "talkinghead" else [f"talkinghead.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(n.split(".")[1], node.lineno) for n in names if n.startswith("talkinghead.")]
    return found


def test_every_module_belongs_to_a_stage() -> None:
    stages = {_stage(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert stages <= set(STAGES), stages - set(STAGES)


def test_imports_point_down_the_stages() -> None:
    rank = {s: i for i, s in enumerate(STAGES)}
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        own = _stage(path)
        if own not in rank:  # the package's own __init__ (the public API) may import any stage
            continue
        for stage, line in _imported_stages(path):
            if stage in rank and rank[stage] > rank[own]:
                upward.append(f"{path.relative_to(SRC)}:{line} ({own}) imports {stage}")
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path) -> None:
    """The scanner finds imports at module level and inside functions."""
    f = tmp_path / "m.py"
    f.write_text("import talkinghead.io.video\n\ndef g():\n    from talkinghead.interfaces.cli import main\n")
    assert _imported_stages(f) == [("io", 1), ("interfaces", 4)]
