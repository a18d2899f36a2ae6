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
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sim import admin, clients, profiles, progress, settings


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
    """What lab code and checks get: the profile, the resolved settings, clients, the
    emulator's admin client, a SparkSession and resource names."""

    lab: LabInfo
    profile: profiles.Profile
    settings: settings.Settings
    options: dict[str, Any] = field(default_factory=dict)
    reporter: progress.Reporter = field(default_factory=progress.Reporter)

    def step(self, name: str) -> Any:
        """``with ctx.step("1단계: ..."):`` shows the step live (name, elapsed time, Spark's
        progress) when run from the CLI; silent elsewhere."""
        return progress.timed(self.reporter, name)

    def client(self, service: str) -> Any:
        return clients.client(service, self.profile)

    def can(self, capability: str) -> bool:
        """What the profile can do (``sim.profiles.CAPABILITIES``): ask, never its name."""
        return self.profile.can(capability)

    def admin(self, capability: str = "admin") -> admin.Admin:
        """The emulator's admin client; ``ProfileError`` when the profile cannot."""
        return admin.Admin.of(self.profile, capability)

    def spark(self, app_name: str | None = None) -> Any:
        """The SparkSession of this profile and settings (cached; Java and jars checked)."""
        from spark.session import get_session

        return get_session(self.profile, self.settings, app_name=app_name or f"lab-{self.lab.id}")

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
    skipped: bool = False
    # For whoever debugs the check (``bdlab check --verbose``, ``--json``), never the learner's
    # found/hint: the exception a crashing check raised and where.
    details: str = ""


@dataclass
class Lab:
    info: LabInfo
    module: Any
    path: Path
    broken: str = ""  # why lab.py cannot be imported (its file and line), "" when it can

    def require_importable(self) -> None:
        if self.broken:
            raise LabError(self.broken)

    def checks(self) -> list[CheckFn]:
        self.require_importable()
        mod = importlib.import_module(f"labs.{self.info.slug}.checks")
        fns = [f for f in vars(mod).values() if callable(f) and hasattr(f, _CHECK_ORDER)]
        return sorted(fns, key=lambda f: getattr(f, _CHECK_ORDER))

    def runner(self, solution: bool) -> Callable[[LabContext], Any]:
        self.require_importable()
        if solution:
            return importlib.import_module(f"labs.{self.info.slug}.solution").main  # type: ignore[no-any-return]
        return self.module.main  # type: ignore[no-any-return]

    def reset(self, ctx: LabContext) -> Any:
        self.require_importable()
        fn = getattr(self.module, "reset", None)
        return fn(ctx) if fn else None


def discover() -> dict[str, Lab]:
    """All labs, keyed by course id (1.2.4) in course order."""
    import labs as pkg

    found: dict[str, Lab] = {}
    for m in pkgutil.iter_modules(pkg.__path__):
        if not m.ispkg or not re.fullmatch(r"l\d{3}_\w+", m.name):
            continue
        folder = Path(pkg.__path__[0]) / m.name
        try:
            mod = importlib.import_module(f"labs.{m.name}.lab")
            info: LabInfo = mod.LAB
        except Exception as exc:  # one broken lab.py must not hide the other labs
            info = LabInfo(_id_of(m.name), m.name, "(lab.py를 불러올 수 없음)", int(m.name[1]))
            found[info.id] = Lab(info, None, folder, broken=_import_problem(folder, exc))
            continue
        found[info.id] = Lab(info, mod, folder)
    return dict(sorted(found.items(), key=lambda kv: [int(x) for x in kv[0].split(".")]))


def _id_of(slug: str) -> str:
    """``l124_s3_partitioning`` -> ``1.2.4``."""
    return ".".join(slug[1:4])


def _frames_in(folder: Path, exc: BaseException) -> list[traceback.FrameSummary]:
    """The traceback frames of ``exc`` that ran code in ``folder`` (the learner's files)."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if str(folder) in (f.filename or "")]


def _aws_error(exc: BaseException) -> tuple[str, str] | None:
    """(code, message) when ``exc`` is an error AWS answered (botocore's ClientError)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return str(err.get("Code")), str(err.get("Message", ""))
    return None


def _import_problem(folder: Path, exc: BaseException) -> str:
    """One line naming the learner's file and line that keep a lab from loading."""
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else str(folder / "lab.py")
        return f"{where}: {type(exc).__name__}: {exc.msg}. Fix that line, then run again."
    frames = _frames_in(folder, exc)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else str(folder / "lab.py")
    return f"{where}: {type(exc).__name__}: {exc}. Fix that line, then run again."


def student_traceback(lab: Lab, exc: BaseException) -> str:
    """The learner's view of an exception raised while their code ran: the frames in the
    lab's folder (lab.py with line numbers), then what AWS (or Python) answered."""
    frames = _frames_in(lab.path, exc)
    lines = ["Traceback (your code, most recent call last):"]
    for f in frames:
        lines.append(f'  File "{f.filename}", line {f.lineno}, in {f.name}')
        if f.line:
            lines.append(f"    {f.line}")
    aws = _aws_error(exc)
    if aws:
        lines.append(f"AWS answered {aws[0]}: {aws[1]}")
    else:
        lines.append(f"{type(exc).__name__}: {exc}")
    return "\n".join(lines)


def find(lab_id: str) -> Lab:
    all_labs = discover()
    for key, lab in all_labs.items():
        if lab_id in (key, lab.info.slug, key.replace(".", "")):
            return lab
    raise LabError(
        f"unknown lab {lab_id!r}: `bdlab labs` lists them "
        f"({', '.join(all_labs) or 'none installed'})."
    )


def context(
    lab: Lab,
    profile: profiles.Profile,
    cfg: settings.Settings,
    reporter: progress.Reporter | None = None,
    **options: Any,
) -> LabContext:
    return LabContext(lab.info, profile, cfg, options, reporter or progress.Reporter())


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
            same = next(
                (
                    r.order
                    for r in results
                    if not r.passed
                    and (r.expected, r.found, r.hint) == (f.expected, f.found, f.hint)
                ),
                None,
            )
            if same is not None:
                # The same cause as an earlier check (e.g. the results file is missing):
                # one thing to fix, reported once.
                res.skipped = True
                res.expected, res.found = f"{same}번 확인 통과", "건너뜀"
                res.hint = f"건너뜀: 먼저 {same}번 확인을 통과하세요."
        except Exception as exc:
            res.passed = False
            res.details = _technical(exc)
            failed_before = next((r.order for r in results if not r.passed), None)
            if failed_before is not None:
                # What this check reads does not exist because an earlier step is unfinished:
                # not a second failure to fix, just the order to work in.
                res.skipped = True
                res.expected = f"{failed_before}번 확인 통과"
                res.found = "건너뜀"
                res.hint = f"건너뜀: 먼저 {failed_before}번 확인을 통과하세요."
            else:
                res.expected = "확인이 읽는 자원과 결과가 예상한 모양으로 있음"
                res.found = _plain_error(exc)
                res.hint = (
                    "이 확인이 읽는 자원이 없거나 예상과 다릅니다. `bdlab run "
                    f"{lab.info.id}`를 다시 실행한 뒤 확인하세요 (자세한 원인: "
                    f"`bdlab check {lab.info.id} --verbose`)."
                )
        res.seconds = round(time.perf_counter() - t0, 3)
        results.append(res)
        if stop_at_first and not res.passed:
            break
    return results


# What a crashing check found, said in the learner's words (the exception stays in ``details``).
_CRASH_KINDS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((FileNotFoundError,), "확인이 읽을 파일이 없습니다"),
    ((LookupError, StopIteration), "확인이 찾는 항목이 결과에 없습니다"),
    ((TypeError, ValueError, AttributeError), "결과의 형식이나 값의 타입이 예상과 다릅니다"),
)


def _plain_error(exc: BaseException) -> str:
    """What went wrong in one Korean line: AWS's error code and message, or the kind of
    problem; never a Python exception's name (that is :func:`_technical`'s)."""
    aws = _aws_error(exc)
    if aws:
        return f"AWS가 거절했습니다 ({aws[0]}) {aws[1]}".strip()
    for kinds, said in _CRASH_KINDS:
        if isinstance(exc, kinds):
            return said
    return "확인을 끝까지 실행하지 못했습니다"


def _technical(exc: BaseException) -> str:
    """The exception and the line of the check that raised it, for debugging."""
    text = traceback.format_exception_only(exc)[-1].strip()
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename and "/labs/" in f.filename.replace("\\", "/")]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    return f"{text} (at {where.filename}:{where.lineno})" if where else text


# ------------------------------------------------------------------ progress
# Progress is kept per profile in <state folder>/labs.json: {"embedded": {"1.2.4": {...}}}.
# A check run on real AWS never overwrites what the learner passed on the emulator.
def _progress_file(cfg: settings.Settings) -> Path:
    return cfg.state_path / "labs.json"


def _load_all(cfg: settings.Settings) -> dict[str, dict[str, Any]]:
    try:
        data = dict(json.loads(_progress_file(cfg).read_text()))
    except (FileNotFoundError, ValueError):
        return {}
    if any(isinstance(v, dict) and "status" in v for v in data.values()):
        # The flat layout of earlier versions (one profile): keep it under its profile.
        old: dict[str, dict[str, Any]] = {}
        for lab_id, entry in data.items():
            old.setdefault(entry.get("profile", "embedded"), {})[lab_id] = entry
        return old
    return data


def _save_all(cfg: settings.Settings, data: dict[str, dict[str, Any]]) -> None:
    path = _progress_file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)


def load_progress(cfg: settings.Settings, profile: str) -> dict[str, Any]:
    """``{lab id: {"status", "passed", "total", "at"}}`` of ``profile``."""
    return dict(_load_all(cfg).get(profile, {}))


def record(cfg: settings.Settings, lab: Lab, profile: str, results: list[CheckResult]) -> None:
    data = _load_all(cfg)
    passed = sum(r.passed for r in results)
    data.setdefault(profile, {})[lab.info.id] = {
        "status": "passed" if passed == len(results) else "failed",
        "passed": passed,
        "total": len(results),
        "profile": profile,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _save_all(cfg, data)


def forget(cfg: settings.Settings, lab: Lab, profile: str) -> None:
    data = _load_all(cfg)
    if data.get(profile, {}).pop(lab.info.id, None) is not None:
        _save_all(cfg, data)


def results_json(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
