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


def test_dashboards_reach_aws_through_clients_and_admin_only() -> None:
    """dashboards/ use sim.clients and sim.admin; never the emulator's internals, the
    settings or the CLI (the CLI hands them the resolved profile)."""
    banned = ("sim.emulator", "sim.settings", "sim.cli", "sim.runtime", "boto3")
    assert _offenders("dashboards", banned) == {}


def test_the_import_checker_sees_function_level_imports(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from sim import settings\n    import spark.session\n")
    assert {"sim.settings", "spark.session"} <= _imports(f)


def _package_of(path: Path) -> str:
    """``sim/cli/labs.py`` -> ``sim.cli`` (for resolving relative imports)."""
    return ".".join(path.resolve().relative_to(ROOT).parent.parts)


def _settings_loads(path: Path) -> list[int]:
    """Lines of ``path`` that call ``sim.settings.load`` or import it by name, whatever the
    spelling: ``settings.load()``, ``from sim.settings import load [as x]``, ``import
    sim.settings as s; s.load()``, ``from sim import settings as cfgmod``, relative imports."""
    tree = ast.parse(path.read_text(), str(path))
    pkg = _package_of(path) if path.resolve().is_relative_to(ROOT) else ""
    modules = {"settings"}  # names bound to the sim.settings module (plus the bare name)
    dotted = set()  # dotted spellings such as "sim.settings"
    loads: set[str] = set()  # names bound to sim.settings.load
    hits: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "sim.settings":
                    if a.asname:
                        modules.add(a.asname)
                    else:
                        dotted.add("sim.settings")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".") if pkg else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for a in node.names:
                if base == "sim" and a.name == "settings":
                    modules.add(a.asname or a.name)
                elif base == "sim.settings" and a.name == "load":
                    loads.add(a.asname or a.name)
                    hits.append(node.lineno)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Name) and fn.id in loads:
            hits.append(node.lineno)
        elif isinstance(fn, ast.Attribute) and fn.attr == "load":
            owner = ast.unparse(fn.value)
            if owner in modules or owner in dotted:
                hits.append(node.lineno)
    return sorted(set(hits))


def test_the_settings_load_finder_sees_every_spelling(tmp_path: Path) -> None:
    spellings = {
        "from sim import settings\nsettings.load()\n": [2],
        "from sim import settings as s\ndef f():\n    return s.load({})\n": [3],
        "import sim.settings\nsim.settings.load()\n": [2],
        "import sim.settings as conf\nconf.load()\n": [2],
        "from sim.settings import load\nload()\n": [1, 2],
        "from sim.settings import load as resolve\ncfg = resolve()\n": [1, 2],
        "from sim.settings import Settings\nimport json\njson.load(f)\n": [],
    }
    for i, (code, lines) in enumerate(spellings.items()):
        f = tmp_path / f"m{i}.py"
        f.write_text(code)
        assert _settings_loads(f) == lines, code


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
    calls = {}
    for pkg in ("sim", "spark", "labs", "dashboards"):
        for f in (ROOT / pkg).rglob("*.py"):
            rel = str(f.relative_to(ROOT))
            if rel not in allowed and (lines := _settings_loads(f)):
                calls[rel] = lines
    assert calls == {}
