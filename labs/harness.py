"""The lab harness: discover labs, run a lab's code, run its checks, keep progress.

A lab is a package ``labs/lNNN_slug`` with ``lab.py`` (``LAB = LabInfo(...)`` and ``main(ctx)``),
``checks.py`` (functions decorated with :func:`check`, run in order; the docstring is what the
learner sees, a failure raises :class:`CheckFailed` with expected/found/hint), ``solution/``
(the reference ``main(ctx)`` CI runs) and a Korean ``README.md`` guide.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sim import clients, profiles, settings


class LabError(ValueError):
    """Unknown lab or unusable lab input; one actionable line."""


class CheckFailed(AssertionError):
    """A check's verdict: what was expected, what was found, and a hint for the learner."""

    def __init__(self, expected: str, found: str, hint: str) -> None:
        super().__init__(f"expected {expected}; found {found}")
        self.expected = expected
        self.found = found
        self.hint = hint


@dataclass(frozen=True)
class LabInfo:
    id: str  # course numbering, e.g. "1.2.4"
    slug: str  # package name, e.g. "l124_s3_partitioning"
    title: str  # Korean title
    part: int
    summary: str = ""


CheckFn = Callable[["LabContext"], None]
_CHECK_ORDER = "_bdlab_check_order"


def check(order: int) -> Callable[[CheckFn], CheckFn]:
    """Mark a function as the ``order``-th check of its lab."""

    def deco(fn: CheckFn) -> CheckFn:
        setattr(fn, _CHECK_ORDER, order)
        return fn

    return deco


@dataclass
class LabContext:
    """What lab code and checks get: the profile, clients and resource names."""

    lab: LabInfo
    profile: profiles.Profile
    options: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return clients.client(service, self.profile)

    def account_id(self) -> str:
        if "_account" not in self.options:
            self.options["_account"] = str(self.client("sts").get_caller_identity()["Account"])
        return str(self.options["_account"])

    def name(self, resource: str) -> str:
        """A resource name unique per account and lab (S3 bucket names are global on AWS)."""
        return f"bdlab-{self.account_id()}-{self.lab.slug.split('_')[0]}-{resource}"


@dataclass
class CheckResult:
    order: int
    name: str
    title: str
    passed: bool
    expected: str = ""
    found: str = ""
    hint: str = ""
    seconds: float = 0.0


@dataclass
class Lab:
    info: LabInfo
    module: Any
    path: Path

    def checks(self) -> list[CheckFn]:
        mod = importlib.import_module(f"labs.{self.info.slug}.checks")
        fns = [f for f in vars(mod).values() if callable(f) and hasattr(f, _CHECK_ORDER)]
        return sorted(fns, key=lambda f: getattr(f, _CHECK_ORDER))

    def runner(self, solution: bool) -> Callable[[LabContext], Any]:
        if solution:
            return importlib.import_module(f"labs.{self.info.slug}.solution").main  # type: ignore[no-any-return]
        return self.module.main  # type: ignore[no-any-return]

    def reset(self, ctx: LabContext) -> Any:
        fn = getattr(self.module, "reset", None)
        return fn(ctx) if fn else None


def discover() -> dict[str, Lab]:
    """All labs, keyed by course id (1.2.4) in course order."""
    import labs as pkg

    found: dict[str, Lab] = {}
    for m in pkgutil.iter_modules(pkg.__path__):
        if not m.ispkg or not m.name.startswith("l"):
            continue
        mod = importlib.import_module(f"labs.{m.name}.lab")
        info: LabInfo = mod.LAB
        found[info.id] = Lab(info, mod, Path(pkg.__path__[0]) / m.name)
    return dict(sorted(found.items(), key=lambda kv: [int(x) for x in kv[0].split(".")]))


def find(lab_id: str) -> Lab:
    all_labs = discover()
    for key, lab in all_labs.items():
        if lab_id in (key, lab.info.slug, key.replace(".", "")):
            return lab
    raise LabError(
        f"unknown lab {lab_id!r}: `bdlab labs` lists them "
        f"({', '.join(all_labs) or 'none installed'})."
    )


def context(lab: Lab, profile: profiles.Profile | None = None, **options: Any) -> LabContext:
    return LabContext(lab.info, profile or clients.active_profile(), options)


def run_checks(lab: Lab, ctx: LabContext, stop_at_first: bool = False) -> list[CheckResult]:
    """Run the checks in order; a failing check does not stop the rest unless asked."""
    results: list[CheckResult] = []
    for fn in lab.checks():
        title = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        t0 = time.perf_counter()
        res = CheckResult(getattr(fn, _CHECK_ORDER), fn.__name__, title, True)
        try:
            fn(ctx)
        except CheckFailed as f:
            res.passed, res.expected, res.found, res.hint = False, f.expected, f.found, f.hint
        except Exception as exc:  # a crash in a check is a failure with the reason shown
            res.passed = False
            res.expected = "the check to run"
            res.found = f"{type(exc).__name__}: {exc}"
            res.hint = (
                "이전 단계가 끝났는지 확인하세요 (`bdlab run` 먼저). "
                + traceback.format_exception_only(exc)[-1].strip()
            )
        res.seconds = round(time.perf_counter() - t0, 3)
        results.append(res)
        if stop_at_first and not res.passed:
            break
    return results


# ------------------------------------------------------------------ progress
def _progress_file() -> Path:
    return settings.load().state_path / "labs.json"


def load_progress() -> dict[str, Any]:
    try:
        return dict(json.loads(_progress_file().read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def record(lab: Lab, profile: str, results: list[CheckResult]) -> None:
    data = load_progress()
    passed = sum(r.passed for r in results)
    data[lab.info.id] = {
        "status": "passed" if passed == len(results) else "failed",
        "passed": passed,
        "total": len(results),
        "profile": profile,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = _progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)


def forget(lab: Lab) -> None:
    data = load_progress()
    if data.pop(lab.info.id, None) is not None:
        _progress_file().write_text(json.dumps(data, indent=1, ensure_ascii=False))


def results_json(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
