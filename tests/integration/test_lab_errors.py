"""Errors that point at the learner's line (issue 11, part 3): an AWS error raised by their
own code is their traceback with lab.py line numbers, not "bdlab bug?"; a syntax error in one
lab's lab.py names that file and leaves `bdlab labs` and the other labs working."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs import harness
from sim import profiles
from sim.emulator.server import ThreadedEmulator
from tests.conftest import ROOT, bdlab_env, free_port, run_bdlab, settings_for

pytestmark = pytest.mark.integration
LAB_PY = ROOT / "labs" / "l124_s3_partitioning" / "lab.py"

BAD_LIFECYCLE = """

def main(ctx):  # a learner's attempt: STANDARD_IA after 7 days, which S3 refuses
    s3 = ctx.client("s3")
    s3.create_bucket(Bucket=lake_bucket(ctx))
    s3.put_bucket_lifecycle_configuration(
        Bucket=lake_bucket(ctx),
        LifecycleConfiguration={"Rules": [{"ID": "ia", "Status": "Enabled",
            "Filter": {"Prefix": "raw/"},
            "Transitions": [{"Days": 7, "StorageClass": "STANDARD_IA"}]}]},
    )
"""


@pytest.fixture()
def learner_file() -> Iterator[Path]:
    """lab.py of 1.2.4 as a learner left it; restored afterwards whatever happens."""
    original = LAB_PY.read_bytes()
    try:
        yield LAB_PY
    finally:
        LAB_PY.write_bytes(original)


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    e = bdlab_env(tmp_path / "state", free_port())
    yield e
    run_bdlab(["down"], e)


def test_an_aws_error_in_the_learners_code_is_their_traceback(
    learner_file: Path, env: dict[str, str]
) -> None:
    learner_file.write_text(learner_file.read_text() + BAD_LIFECYCLE)
    r = run_bdlab(["run", "1.2.4"], env)
    assert r.returncode == 1
    assert "bdlab bug" not in r.stderr
    assert f'File "{learner_file}", line ' in r.stderr
    assert "put_bucket_lifecycle_configuration" in r.stderr
    assert "AWS answered InvalidArgument" in r.stderr
    assert "harness.py" not in r.stderr and "botocore" not in r.stderr


def test_a_syntax_error_names_the_file_and_spares_the_other_labs(
    learner_file: Path, env: dict[str, str]
) -> None:
    text = learner_file.read_text()
    learner_file.write_text(text.replace("def sample_events()", "def sample_events(:", 1))
    line = text[: text.index("def sample_events()")].count("\n") + 1
    r = run_bdlab(["labs", "--json"], env)
    assert r.returncode == 0, r.stderr
    labs = {x["id"]: x for x in json.loads(r.stdout)}
    assert labs["1.2.4"]["status"] == "broken"
    assert f"{learner_file}:{line}" in labs["1.2.4"]["problem"]
    assert labs["1.2.5"]["status"] == "not started" and not labs["1.2.5"]["problem"]
    r = run_bdlab(["labs"], env)
    assert r.returncode == 0 and "1.3.6" in r.stdout and f"{learner_file}:{line}" in r.stderr
    for verb in (["run", "1.2.4"], ["check", "1.2.4"]):
        r = run_bdlab(verb, env)
        assert (
            r.returncode == 2 and f"{learner_file}:{line}" in r.stderr and "SyntaxError" in r.stderr
        )
        assert "Traceback" not in r.stderr
    r = run_bdlab(["check", "1.1.3", "--json"], env)
    assert r.returncode == 1 and json.loads(r.stdout)["total"] > 0  # another lab still checks


def test_checks_after_a_failed_one_say_skipped(env: dict[str, str]) -> None:
    out = json.loads(run_bdlab(["check", "1.2.4", "--json"], env).stdout)
    checks = out["checks"]
    assert not checks[0]["passed"] and checks[0]["hint"] and not checks[0]["skipped"]
    later = [c for c in checks[1:] if not c["passed"]]
    assert later and all(c["hint"] for c in checks if not c["passed"])
    assert not any("IndexError" in c["found"] or "KeyError" in c["found"] for c in checks)
    assert any(c["skipped"] and "1번 확인" in c["hint"] for c in later)


def test_one_cause_is_reported_once(env: dict[str, str]) -> None:
    """1.2.5 not run: its results file is missing; checks that read it say skipped instead of
    repeating check 1's failure."""
    checks = json.loads(run_bdlab(["check", "1.2.5", "--json"], env).stdout)["checks"]
    failed = [c for c in checks if not c["passed"] and not c["skipped"]]
    assert len(failed) == 1 and failed[0]["order"] == 1, failed
    assert all("번 확인을 통과하세요" in c["hint"] for c in checks[1:])


RAW_ERROR = re.compile(r"Traceback|\b\w*(Error|Exception)\b:|^\w*(Error|Exception)$", re.MULTILINE)


@pytest.fixture(scope="module")
def fresh_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An emulator of this module's own (its labs are reset; others' state stays untouched)."""
    from spark.submit import LocalSparkSubmit

    state = tmp_path_factory.mktemp("nothing-done")
    emu = ThreadedEmulator(state, launcher=LocalSparkSubmit(settings_for(state))).start()
    cfg = settings_for(state, port=emu.port)
    yield cfg, profiles.resolve(cfg, "embedded")
    emu.stop()


def test_every_lab_in_the_nothing_done_state_fails_with_hints_not_crashes(
    fresh_profile: Any,
) -> None:
    """Whatever labs exist when this runs: reset, then every failing check carries a hint and
    no raw Python exception (``IndexError: ...``, a traceback) in what the learner reads."""
    cfg, profile = fresh_profile
    labs = harness.discover()
    assert labs
    bad: dict[str, list[tuple[int, str, str]]] = {}
    for lab_id, lab in labs.items():
        if lab.broken:
            continue  # a lab being edited right now by someone else; its syntax test covers it
        ctx = harness.context(lab, profile, cfg)
        lab.reset(ctx)
        results = harness.run_checks(lab, ctx)
        assert results, f"{lab_id} has no checks"
        for r in results:
            if r.passed:
                continue
            shown = f"{r.expected}\n{r.found}\n{r.hint}"
            if not r.hint.strip() or RAW_ERROR.search(shown):
                bad.setdefault(lab_id, []).append((r.order, r.found, r.hint))
    assert bad == {}


def test_a_crashing_check_says_what_in_korean_and_keeps_the_exception_for_debugging(
    env: dict[str, str],
) -> None:
    """1.2.5's results file holds a JSON number (check 1 iterates it) or is not JSON at all:
    the learner reads a Korean line and a hint; the exception is only in --verbose/--json."""
    from labs.l125_file_formats.lab import RESULTS_KEY, lab_bucket

    assert run_bdlab(["up"], env).returncode == 0
    cfg = settings_for(Path(env["BDLAB_STATE_DIR"]), port=int(env["BDLAB_PORT"]))
    p = profiles.resolve(cfg, "embedded")
    lab = harness.find("1.2.5")
    ctx = harness.context(lab, p, cfg)
    s3 = ctx.client("s3")
    s3.create_bucket(Bucket=lab_bucket(ctx))
    for body, crashed in ((b"5", True), (b"format,bytes\ncsv,1\n", False)):
        s3.put_object(Bucket=lab_bucket(ctx), Key=RESULTS_KEY, Body=body)
        first = json.loads(run_bdlab(["check", "1.2.5", "--json"], env).stdout)["checks"][0]
        assert not first["passed"] and not first["skipped"] and first["hint"], first
        shown = f"{first['expected']}\n{first['found']}\n{first['hint']}"
        assert not RAW_ERROR.search(shown), shown
        if crashed:
            assert first["found"] == "결과의 형식이나 값의 타입이 예상과 다릅니다"
            assert first["details"].startswith("TypeError: ") and "checks.py:" in first["details"]
    s3.put_object(Bucket=lab_bucket(ctx), Key=RESULTS_KEY, Body=b"5")
    plain = run_bdlab(["check", "1.2.5"], env)
    assert plain.returncode == 1 and "TypeError" not in plain.stdout + plain.stderr
    assert "--verbose" in plain.stdout
    verbose = run_bdlab(["check", "1.2.5", "--verbose"], env)
    assert "자세히: TypeError: " in verbose.stdout
