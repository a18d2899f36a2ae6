"""Checks of lab 3.1.4, in order. Each docstring's first line is what the learner sees.

They read what the dashboard serves, never a flag the lab wrote: the datasets file the
dashboard loads (its registry), the SPICE store it imports into (rows per dataset), and the
page itself, rendered by Streamlit from the dashboard's own script (``AppTest``) with the
learner's datasets: the KPI numbers, then again with the Country filter set.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from labs.harness import CheckFailed, LabContext, check
from labs.l314_bi_dashboard.lab import ROWS, datasets_file, lake_bucket

WANTED = {"daily_revenue": "delta", "events": "s3", "emr_results": "emr"}


def _registry(ctx: LabContext) -> Any:
    from dashboards.bi import registry

    path = datasets_file(ctx)
    if not path.exists():
        raise CheckFailed(
            "데이터 세트 파일", "없음", "bdlab run 3.1.4 로 1단계의 데이터 세트를 저장하세요."
        )
    try:
        return registry.load(path)
    except registry.RegistryError as exc:
        raise CheckFailed("대시보드가 읽을 수 있는 데이터 세트", str(exc), "메시지가 가리키는 "
                          "데이터 세트와 필드를 고치세요.") from None  # fmt: skip


def _store(ctx: LabContext) -> Any:
    """The dashboard's SPICE store over the learner's datasets, each imported in full."""
    from dashboards.bi import spice
    from dashboards.common import clock

    now = clock.for_profile(ctx.profile)
    store = spice.Spice(_registry(ctx), ctx.profile, lake_bucket(ctx), now)
    for name in store.registry.names():
        store.refresh(name, "full")
    return store


@check(1)
def datasets_defined(ctx: LabContext) -> None:
    """대시보드가 세 데이터 세트(gold Delta, 원본 S3, EMR 결과)를 읽을 수 있다"""
    reg = _registry(ctx)
    found = {d.name: d.source.kind for d in reg.datasets}
    wrong = {n: found.get(n, "없음") for n, kind in WANTED.items() if found.get(n) != kind}
    if wrong:
        raise CheckFailed(
            f"{WANTED} (이름: source.kind)",
            f"{found}",
            "daily_revenue는 kind delta(gold/daily_revenue), events는 kind s3(raw/events/), "
            "emr_results는 kind emr(emr/output/daily_revenue/)로 정의하세요.",
        )


@check(2)
def refresh_schedules(ctx: LabContext) -> None:
    """원본 이벤트는 15분이나 30분마다 증분으로, gold는 매일 전체로 새로 고친다"""
    reg = _registry(ctx)
    events = {(r.mode, r.every) for r in reg["events"].refresh}
    gold = {(r.mode, r.every) for r in reg["daily_revenue"].refresh}
    if not events & {("incremental", "15min"), ("incremental", "30min")}:
        raise CheckFailed(
            "events: incremental 15min 또는 30min",
            f"{sorted(events) or '일정 없음'}",
            '새 파티션만 읽는 증분 새로 고침을 쓰세요: {"mode": "incremental", "every": "15min"}',
        )
    if ("full", "daily") not in gold:
        raise CheckFailed(
            "daily_revenue: full daily",
            f"{sorted(gold) or '일정 없음'}",
            "gold는 밤마다 다시 쓰이므로 매일 한 번 전체로 가져오세요: "
            '{"mode": "full", "every": "daily", "at": "02:00"}',
        )


@check(3)
def spice_holds_the_lake(ctx: LabContext) -> None:
    """SPICE에 가져온 행 수가 레이크의 원본과 같다"""
    from dashboards.bi import sample

    truth = sample.events(ROWS)
    gold = sample.gold(truth)["gold/daily_revenue"]
    want = {"daily_revenue": gold.num_rows, "events": truth.num_rows, "emr_results": gold.num_rows}
    store = _store(ctx)
    try:
        states = {n: store.states[n] for n in WANTED}
        failed = {n: s.error for n, s in states.items() if s.error}
        if failed:
            raise CheckFailed(
                "SPICE로 가져오기", f"{failed}", "데이터 세트의 path와 query를 확인하세요."
            )
        got = {n: s.rows for n, s in states.items()}
        if got != want:
            raise CheckFailed(
                f"행 수 {want}",
                f"{got}",
                "path가 레이크의 위치를 가리키는지, query가 행을 거르지 않는지 보세요.",
            )
    finally:
        store.close()


def _app_argv(ctx: LabContext) -> list[str]:
    """The dashboard script's command line (what `bdlab dashboard` would pass it)."""
    from dashboards.common import launch

    app = Path(launch.__file__).resolve().parent.parent / "bi" / "app.py"
    args = launch.AppArgs(ctx.profile, lake_bucket(ctx), datasets_file(ctx))
    return [str(app), *args.to_argv()]


def _rerun(ctx: LabContext, at: Any) -> None:
    """Run the page again with its own command line (the script reads ``sys.argv``)."""
    saved = sys.argv
    sys.argv = _app_argv(ctx)
    try:
        at.run()
    finally:
        sys.argv = saved


def _render(ctx: LabContext, countries: list[str] | None = None, sheet: str | None = None) -> Any:
    """The dashboard's page as its own script renders it (Streamlit's AppTest) with the
    learner's datasets; ``countries`` set in the Country filter, ``sheet`` opened."""
    from streamlit.testing.v1 import AppTest

    from dashboards.bi import runtime
    from dashboards.common import launch

    # the app keeps one SPICE store per argument list: start from the lake as it is now
    runtime.reset()
    # AppTest drives the script from this thread, which Streamlit warns about on every run
    # ("missing ScriptRunContext ... can be ignored in bare mode"): noise for a learner
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR
    )
    app = Path(launch.__file__).resolve().parent.parent / "bi" / "app.py"
    args = launch.AppArgs(ctx.profile, lake_bucket(ctx), datasets_file(ctx))
    saved = sys.argv
    sys.argv = [str(app), *args.to_argv()]
    try:
        at = AppTest.from_file(str(app), default_timeout=120)
        at.run()
        if countries is not None:
            at.sidebar.multiselect(key="countries").set_value(countries).run()
        if sheet is not None:
            at.session_state["sheet"] = sheet
            at.run()
    finally:
        sys.argv = saved
    if at.exception:
        raise CheckFailed(
            "대시보드 페이지", "예외로 멈춤", "bdlab dashboard 로 열어 메시지를 보세요."
        )
    return at


def _said(at: Any) -> list[str]:
    """Every message line on the rendered page (errors, warnings, notes, captions)."""
    return [
        str(e.value) for kind in ("error", "warning", "info", "caption") for e in getattr(at, kind)
    ]


def _kpi(ctx: LabContext, countries: list[str] | None = None) -> tuple[str, list[str]]:
    """The Revenue tile's text and every line the page said, with ``countries`` filtered."""
    at = _render(ctx, countries)
    for m in at.metric:
        if m.label == "Revenue":
            return str(m.value), _said(at)
    said = [x for x in _said(at) if not x.startswith("Emulator clock")]
    raise CheckFailed("Revenue 지표", f"보이지 않음: {said[:2] or '메시지 없음'}",
                      "페이지가 한 말을 보고 daily_revenue의 query를 고치세요(dt, revenue, "
                      "orders, items 열이 필요합니다).")  # fmt: skip


@check(4)
def the_page_shows_the_lake(ctx: LabContext) -> None:
    """대시보드 페이지의 매출이 레이크와 같고, 국가 필터가 모든 시각화에 적용된다"""
    from dashboards.bi import sample

    _registry(ctx)  # no datasets file yet: the same cause as check 1, said once
    truth = sample.events(ROWS)
    buys = truth.filter(pc.equal(truth["event_type"], "purchase"))

    def revenue(t: Any) -> str:
        total = pc.sum(pc.multiply(t["price"], pc.cast(t["quantity"], "float64"))).as_py()
        return f"{total:,.2f}"

    want = revenue(buys)
    got, _ = _kpi(ctx)
    if got != want:
        raise CheckFailed(f"Revenue {want}", got, "daily_revenue의 query가 revenue를 바꾸지 "
                          "않는지 보세요.")  # fmt: skip
    kr = revenue(buys.filter(pc.equal(buys["country"], "KR")))
    got, said = _kpi(ctx, ["KR"])
    if got != kr:
        raise CheckFailed(f"KR만: Revenue {kr}", got, "daily_revenue에 country 열이 있어야 "
                          "국가 필터가 적용됩니다.")  # fmt: skip
    # every visual of the page takes the filter: one whose dataset lacks the column says so
    # (the drill-down reads events)
    ignored = [x for x in said if "filter does not apply" in x]
    if ignored:
        raise CheckFailed(
            "국가 필터가 모든 시각화에 적용됨",
            f"{ignored[0]}",
            "그 데이터 세트의 query에 country 열을 남기세요(필터는 열이 있어야 적용됩니다).",
        )


@check(5)
def my_visual(ctx: LabContext) -> None:
    """내가 정의한 시각화(기기별 구매 매출)를 대시보드가 레이크와 같은 숫자로 그린다"""
    from dashboards.bi import sample

    reg = _registry(ctx)
    mine = [v for v in reg.visuals if v.dataset == "events" and v.x == "device"]
    if not mine:
        raise CheckFailed(
            "events의 device별 시각화",
            f"{[v.name for v in reg.visuals] or '시각화 없음'}",
            '2단계: {"name": "revenue_by_device", "dataset": "events", "x": "device", '
            '"y": "price * quantity", "agg": "sum", "where": "event_type = \'purchase\'"}',
        )
    truth = sample.events(ROWS)
    buys = truth.filter(pc.equal(truth["event_type"], "purchase"))
    want: dict[str, float] = {}
    for dev, price, qty in zip(
        buys["device"].to_pylist(),
        buys["price"].to_pylist(),
        buys["quantity"].to_pylist(),
        strict=True,
    ):
        want[dev] = want.get(dev, 0.0) + price * qty
    at = _render(ctx, sheet="My visuals")
    # the page waits for its KPI datasets only; the others import in the background and the
    # page shows "not imported yet" until they are in: read it again until then (60 s)
    deadline = time.monotonic() + 60
    while True:
        tab = at.tabs[-1] if at.tabs and at.tabs[-1].label == "My visuals" else None
        frames = list(tab.dataframe) if tab is not None else []
        shown = (list(tab.info) + list(tab.error) if tab else []) + list(at.error) + list(at.info)
        said = [str(m.value) for m in shown]
        waiting = not frames and any("not imported" in x for x in said)
        if frames or not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.5)
        _rerun(ctx, at)
    if not frames:
        raise CheckFailed(
            "My visuals 시트의 표", f"없음 {said[:1]}", "시각화의 dataset과 x 열을 확인하세요."
        )
    df = frames[0].value
    got = {str(k): round(float(v), 2) for k, v in zip(df[mine[0].x], df["value"], strict=True)}
    want = {k: round(v, 2) for k, v in want.items()}
    if got != want:
        raise CheckFailed(
            f"기기별 구매 매출 {want}",
            f"{got}",
            "y는 price * quantity, where는 event_type = 'purchase', agg는 sum이어야 "
            "구매 매출입니다.",
        )
    # In this lake a view, click or add_to_cart has quantity 0, so leaving out the `where`
    # gives the same numbers by chance; the visual must still keep purchases only.
    kinds = _kept_event_types(truth, mine[0].where)
    if kinds != ["purchase"]:
        raise CheckFailed(
            "where가 구매(purchase) 이벤트만 남김",
            f"남는 event_type: {kinds}",
            "구매가 아닌 이벤트는 이 데이터에서 quantity가 0이라 숫자가 우연히 같을 뿐입니다. "
            "where에 event_type = 'purchase'를 쓰세요.",
        )


def _kept_event_types(events: Any, where: str) -> list[str]:
    """The event types a visual's ``where`` keeps, over the lake's events (DuckDB)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("events", events)
        clause = f"WHERE {where}" if where.strip() else ""
        rows = con.execute(f"SELECT DISTINCT event_type FROM events {clause} ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]
    finally:
        con.close()
