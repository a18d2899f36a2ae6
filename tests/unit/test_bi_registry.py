"""The BI dashboard's datasets as data and its refresh schedules' arithmetic (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboards.bi import registry, schedule
from dashboards.bi.registry import Refresh


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_the_default_registry_is_valid_data() -> None:
    reg = registry.default()
    assert reg.names() == ["daily_revenue", "funnel", "top_products", "events", "emr_results"]
    assert {d.source.kind for d in reg.datasets} == {"s3", "delta", "emr"}
    assert reg["events"].incremental and not reg["emr_results"].incremental
    assert reg["daily_revenue"].source.uri("b") == "s3://b/gold/daily_revenue"
    assert registry.Source("s3", "s3://other/x/").location("b") == ("other", "x/")
    with pytest.raises(registry.RegistryError, match="needs a bucket"):
        reg["events"].source.uri(None)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"name": "Bad-Name", "source": {"kind": "s3", "path": "x/"}}, "lower_snake_case"),
        ({"name": "a", "source": {"kind": "ftp", "path": "x/"}}, "source.kind"),
        ({"name": "a", "source": {"kind": "s3", "path": "x/", "format": "xml"}}, "format"),
        ({"name": "a", "source": {"kind": "s3", "path": ""}}, "path is empty"),
        ({"name": "a", "source": "x"}, "source must be a table"),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "full", "every": "15min"}],
            },
            "a full refresh runs hourly, daily, weekly",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "incremental", "every": "yearly"}],
            },
            "incremental refresh runs 15min, 30min, hourly, daily, weekly, monthly",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [
                    {"mode": "incremental", "every": "hourly"},
                    {"mode": "full", "every": "hourly"},
                ],
            },
            "only one refresh schedule per dataset may run every hourly",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "full", "every": "monthly", "day": "31"}],
            },
            "1 to 28 or LAST_DAY_OF_MONTH",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "full", "every": "weekly", "day": "FUNDAY"}],
            },
            "weekly refresh's day is one of MONDAY",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "full", "every": "daily", "day": "MONDAY"}],
            },
            "only weekly and monthly refreshes take a day",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "full", "every": "daily", "timezone": "Mars/Olympus"}],
            },
            "not an IANA zone",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "refresh": [{"mode": "full", "every": "daily", "at": "25:00"}],
            },
            "HH:MM",
        ),
        (
            {
                "name": "a",
                "source": {"kind": "s3", "path": "x/"},
                "query": "SELECT country, sum(x) FROM source GROUP BY 1",
                "refresh": [{"mode": "incremental", "every": "15min"}],
            },
            "row-by-row query",
        ),
    ],
)
def test_a_definition_that_cannot_work_is_one_line(item: dict, message: str) -> None:
    with pytest.raises(registry.RegistryError, match=message) as err:
        registry.parse([item])
    assert "\n" not in str(err.value)


def test_duplicates_and_a_toml_file(tmp_path: Path) -> None:
    item = {"name": "a", "source": {"kind": "s3", "path": "x/"}}
    with pytest.raises(registry.RegistryError, match="defined twice"):
        registry.parse([item, item])
    f = tmp_path / "datasets.toml"
    f.write_text(
        '[[dataset]]\nname = "orders"\nquery = "SELECT * FROM source"\n'
        'source = { kind = "delta", path = "gold/orders" }\n'
        'refresh = [{ mode = "incremental", every = "30min" }, '
        '{ mode = "full", every = "daily", at = "03:30" }]\n'
    )
    reg = registry.load(f)
    assert [r.label() for r in reg["orders"].refresh] == [
        "incremental 30min",
        "full daily at 03:30 UTC",
    ]
    f.write_text(
        '[[dataset]]\nname = "orders"\nsource = { kind = "delta", path = "gold/orders" }\n'
        'refresh = [{ mode = "full", every = "monthly", day = "last_day_of_month", '
        'at = "02:00", timezone = "Asia/Seoul" }]\n'
    )
    assert [r.label() for r in registry.load(f)["orders"].refresh] == [
        "full monthly on LAST_DAY_OF_MONTH at 02:00 Asia/Seoul"
    ]
    f.write_text("[[dataset]\n")
    with pytest.raises(registry.RegistryError, match="is not TOML"):
        registry.load(f)
    with pytest.raises(registry.RegistryError, match="cannot read"):
        registry.load(tmp_path / "missing.toml")


def test_slots_follow_quicksight_schedules() -> None:
    now = ts("2026-01-14 10:07:30")  # a Wednesday
    assert schedule.last_slot(Refresh("incremental", "15min"), now) == ts("2026-01-14 10:00")
    assert schedule.next_slot(Refresh("incremental", "15min"), now) == ts("2026-01-14 10:15")
    assert schedule.next_slot(Refresh("incremental", "30min"), now) == ts("2026-01-14 10:30")
    assert schedule.next_slot(Refresh("full", "hourly"), now) == ts("2026-01-14 11:00")
    daily = Refresh("full", "daily", "02:00")
    assert schedule.last_slot(daily, now) == ts("2026-01-14 02:00")
    assert schedule.next_slot(daily, now) == ts("2026-01-15 02:00")
    weekly = Refresh("full", "weekly", "06:00")
    assert schedule.last_slot(weekly, now) == ts("2026-01-12 06:00")  # Monday
    assert schedule.next_slot(weekly, now) == ts("2026-01-19 06:00")
    friday = Refresh("full", "weekly", "06:00", "FRIDAY")
    assert schedule.last_slot(friday, now) == ts("2026-01-09 06:00")
    assert schedule.next_slot(friday, now) == ts("2026-01-16 06:00")
    # monthly: on a day of the month, or its last day (February has 28 in 2026)
    monthly = Refresh("full", "monthly", "03:00", "15")
    assert schedule.last_slot(monthly, now) == ts("2025-12-15 03:00")
    assert schedule.next_slot(monthly, now) == ts("2026-01-15 03:00")
    last = Refresh("incremental", "monthly", "00:00", "LAST_DAY_OF_MONTH")
    assert schedule.next_slot(last, now) == ts("2026-01-31 00:00")
    assert schedule.next_slot(last, ts("2026-01-31 00:00")) == ts("2026-02-28 00:00")
    assert schedule.last_slot(Refresh("full", "monthly"), now) == ts("2026-01-01 00:00")
    # a time zone: 02:00 in Seoul (UTC+9) is 17:00 UTC the day before
    seoul = Refresh("full", "daily", "02:00", timezone="Asia/Seoul")
    assert schedule.last_slot(seoul, now) == ts("2026-01-13 17:00")
    assert schedule.next_slot(seoul, now) == ts("2026-01-14 17:00")
    # hourly in a zone half an hour off UTC starts at half past, UTC
    india = Refresh("full", "hourly", timezone="Asia/Kolkata")
    assert schedule.last_slot(india, now) == ts("2026-01-14 09:30")
    # across a DST change the wall time stays: 02:30 New York is 07:30 UTC in winter, 06:30
    # after 8 March 2026
    ny = Refresh("full", "daily", "02:30", timezone="America/New_York")
    assert schedule.next_slot(ny, ts("2026-03-07 12:00")) == ts("2026-03-08 07:30")
    assert schedule.next_slot(ny, ts("2026-03-09 12:00")) == ts("2026-03-10 06:30")


def test_due_prefers_full_and_imports_a_new_dataset_at_once() -> None:
    both = (Refresh("full", "daily", "02:00"), Refresh("incremental", "15min"))
    now = ts("2026-01-14 10:07")
    assert schedule.due(both, None, now) == "full"
    assert schedule.due((), None, now) == "full" and schedule.due((), now, now + 1e6) is None
    assert schedule.due(both, ts("2026-01-14 10:01"), now) is None
    assert schedule.due(both, ts("2026-01-14 09:59"), now) == "incremental"
    assert schedule.due(both, ts("2026-01-14 01:59"), now) == "full"


def test_visuals_as_data_are_checked_against_the_datasets() -> None:
    reg = registry.parse(registry.DEFAULT)
    ok = registry.parse_visuals(
        [{"name": "by_device", "dataset": "events", "x": "device", "y": "price * quantity"}], reg
    )
    assert ok[0].agg == "sum" and ok[0].chart == "bar" and ok[0].title == "by_device"
    bad = [
        ({"name": "v", "dataset": "nope", "x": "a", "y": "b"}, "dataset 'nope' is not defined"),
        ({"name": "v", "dataset": "events", "x": "a b", "y": "b"}, "x must be a column name"),
        ({"name": "v", "dataset": "events", "x": "a", "y": ""}, "y is empty"),
        ({"name": "v", "dataset": "events", "x": "a", "y": "b", "agg": "median"}, "agg must be"),
        ({"name": "v", "dataset": "events", "x": "a", "y": "b", "chart": "pie"}, "chart must be"),
        ({"name": "v", "dataset": "events", "x": "a", "y": "b; DROP"}, "not statements"),
    ]
    for item, message in bad:
        with pytest.raises(registry.RegistryError, match=message):
            registry.parse_visuals([item], reg)
