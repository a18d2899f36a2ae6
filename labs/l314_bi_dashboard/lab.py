"""Lab 3.1.4 — S3/EMR 데이터 기반 BI 대시보드 (the learner's file).

Fill in the TODO step (see README.md), then:

    bdlab run 3.1.4      # writes the lake, saves your datasets, prints the dashboard command
    bdlab check 3.1.4    # reads what the dashboard serves: its datasets, SPICE and the page
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labs.harness import LabContext, LabInfo

LAB = LabInfo(
    id="3.1.4",
    slug="l314_bi_dashboard",
    title="S3/EMR 데이터 기반 BI 대시보드",
    part=3,
    summary="레이크의 gold Delta 테이블, 원본 S3 이벤트, EMR 결과를 SPICE 데이터 세트로 정의하고 "
    "새로 고침 일정을 정한 뒤, 대시보드가 보여 주는 숫자와 필터를 확인합니다.",
)

ROWS = 6_000  # clickstream events the lab's lake holds (7 days)


def lake_bucket(ctx: LabContext) -> str:
    return ctx.name("lake")


def datasets_file(ctx: LabContext) -> Path:
    """Where the lab keeps the learner's dataset definitions (the dashboard's --datasets)."""
    return ctx.settings.state_path / "labs" / "l314" / "datasets.toml"


def prepare(ctx: LabContext) -> dict[str, Any]:
    """Given: the lake (raw events as Hive-partitioned Parquet, the gold Delta tables and an
    EMR step's output), written without Spark by the dashboard's sample writer."""
    from dashboards.bi import sample

    out = sample.write(ctx.profile, lake_bucket(ctx), rows=ROWS)
    return dict(out["counts"])


def save_datasets(
    ctx: LabContext, items: list[dict[str, Any]], visuals: list[dict[str, Any]] | None = None
) -> Path:
    """Given: write ``items`` (dataset definitions as data) and ``visuals`` as the TOML file
    the dashboard reads (``[[dataset]]`` and ``[[visual]]`` tables)."""
    path = datasets_file(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = to_toml(items) + "\n" + to_toml(visuals or [], table="visual")
    path.write_text(text, encoding="utf-8")
    return path


def to_toml(items: list[dict[str, Any]], table: str = "dataset") -> str:
    """Dataset definitions as TOML (strings, lists of strings, nested tables, arrays of
    tables: what a dataset uses)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)  # a TOML basic string is a JSON string
        if isinstance(v, list) and all(not isinstance(x, dict) for x in v):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    out = []
    for item in items:
        out.append(f"[[{table}]]")
        out += [f"{k} = {value(v)}" for k, v in item.items()]
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- TODO
def step1_datasets(ctx: LabContext) -> list[dict[str, Any]]:
    """1단계: 대시보드의 데이터 세트 세 개(daily_revenue, events, emr_results)를 데이터로 정의합니다."""
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 데이터 세트를 정의하세요.")


def step2_visuals(ctx: LabContext) -> list[dict[str, Any]]:
    """2단계: 시각화 하나(기기별 구매 매출, 막대 차트)를 데이터로 정의합니다."""
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 시각화를 정의하세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 레이크 (원본 이벤트, gold Delta, EMR 결과)"):
        counts = prepare(ctx)
    with ctx.step("1단계: 데이터 세트 정의"):
        items = step1_datasets(ctx)
    with ctx.step("2단계: 시각화 정의"):
        visuals = step2_visuals(ctx)
    path = save_datasets(ctx, items, visuals)
    return {
        "lake": counts,
        "datasets": path.as_posix(),
        "dashboard": f"bdlab dashboard --bucket {lake_bucket(ctx)} --datasets {path}",
    }


def reset(ctx: LabContext) -> int:
    """Delete the lab's lake bucket and its datasets file."""
    from sim import s3util

    removed = 0
    path = datasets_file(ctx)
    if path.exists():
        path.unlink()
        removed += 1
    s3 = ctx.client("s3")
    try:
        removed += s3util.delete_bucket(s3, lake_bucket(ctx))
    except s3.exceptions.NoSuchBucket:
        pass
    return removed
