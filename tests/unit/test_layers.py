"""The layers of shared/design.md, checked on the import graph (every import statement,
also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as dotted names (``from sim import x`` gives sim.x)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _offenders(folder: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in sorted((ROOT / folder).rglob("*.py")):
        bad = sorted(m for m in _imports(f) if any(m == b or m.startswith(b + ".") for b in banned))
        if bad:
            found[str(f.relative_to(ROOT))] = bad
    return found


def test_the_emulator_stands_alone() -> None:
    """sim/emulator imports nothing of Spark, the labs, the settings, the profiles or the
    layers above it; what it needs (a step launcher, its config) is handed in."""
    banned = (
        "spark",
        "labs",
        "dashboards",
        "sim.settings",
        "sim.profiles",
        "sim.clients",
        "sim.cli",
        "sim.runtime",
        "sim.admin",
        "sim.doctor",
        "sim.demo",
    )
    assert _offenders("sim/emulator", banned) == {}


def test_the_import_checker_sees_function_level_imports(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from sim import settings\n    import spark.session\n")
    assert {"sim.settings", "spark.session"} <= _imports(f)


def test_only_entry_points_resolve_settings() -> None:
    """settings.load() runs in the CLI (the composition root) and the public entries that
    stand in for it (notebooks, the client factory's default, scripts); labs and Spark code
    below them are handed the resolved settings."""
    allowed = {
        "sim/settings.py",
        "sim/cli/common.py",
        "sim/clients.py",  # active_profile(): the public entry for notebooks and scripts
        "spark/notebook.py",
        "spark/jars.py",  # python -m spark.jars
    }
    calls = []
    for pkg in ("sim", "spark", "labs", "dashboards"):
        for f in (ROOT / pkg).rglob("*.py"):
            rel = str(f.relative_to(ROOT))
            if rel not in allowed and "settings.load(" in f.read_text():
                calls.append(rel)
    assert calls == []
