"""Reference solution of lab 3.1.4 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

from typing import Any

from labs.harness import LabContext
from labs.l314_bi_dashboard.lab import lake_bucket, prepare, save_datasets

EVENTS_QUERY = (
    "SELECT CAST(event_time AS TIMESTAMP) AS event_time, CAST(event_time AS DATE) AS dt, "
    "event_type, session_id, product_id, category, price, quantity, country, device "
    "FROM source"
)


def datasets(ctx: LabContext) -> list[dict[str, Any]]:
    return [
        {
            "name": "daily_revenue",
            "title": "일별 국가별 매출 (gold, Delta)",
            "source": {"kind": "delta", "path": "gold/daily_revenue"},
            "query": "SELECT CAST(dt AS DATE) AS dt, country, orders, items, revenue FROM source",
            # gold is rewritten by the nightly ETL: a full import after it, new days every 30 min
            "refresh": [
                {"mode": "full", "every": "daily", "at": "02:00"},
                {"mode": "incremental", "every": "30min"},
            ],
        },
        {
            "name": "events",
            "title": "클릭스트림 이벤트 (원본 S3 Parquet)",
            "source": {"kind": "s3", "path": "raw/events/", "format": "parquet"},
            "query": EVENTS_QUERY,
            "refresh": [{"mode": "incremental", "every": "15min"}],
        },
        {
            "name": "emr_results",
            "title": "EMR 단계 결과",
            "source": {"kind": "emr", "path": "emr/output/daily_revenue/", "format": "parquet"},
            "refresh": [{"mode": "full", "every": "hourly"}],
        },
    ]


def visuals(ctx: LabContext) -> list[dict[str, Any]]:
    return [
        {
            "name": "revenue_by_device",
            "title": "기기별 매출",
            "dataset": "events",
            "x": "device",
            "y": "price * quantity",
            "agg": "sum",
            "where": "event_type = 'purchase'",
            "chart": "bar",
        }
    ]


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 레이크"):
        counts = prepare(ctx)
    with ctx.step("1단계: 데이터 세트 정의"):
        path = save_datasets(ctx, datasets(ctx), visuals(ctx))
    return {
        "lake": counts,
        "datasets": path.as_posix(),
        "dashboard": f"bdlab dashboard --bucket {lake_bucket(ctx)} --datasets {path}",
    }
