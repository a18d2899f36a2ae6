"""`bdlab run` shows a lab's result as tables (issue 11, part 5: 1.2.5 prints its comparison
table), whole even where the output is a pipe or a file of 80 columns."""

from __future__ import annotations

import pytest

from sim.cli.labs import _show_result

FORMATS = ("csv", "json", "parquet_snappy", "parquet_zstd", "parquet_gzip", "orc", "avro", "delta")


def test_the_format_comparison_is_a_whole_table_in_a_pipe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [  # the shape of 1.2.5's solution result
        {
            "format": name,
            "bytes": 11_234_567 + i,
            "files": 4,
            "files_in_day": 1,
            "write_s": 15.321,
            "query_all_s": 6.309,
            "query_day_s": 0.632,
            "day_rows": 29_912,
            "countries": 10,
            "partition_filter_in_plan": True,
        }
        for i, name in enumerate(FORMATS)
    ]
    _show_result({"formats": 8, "smallest": "parquet_zstd", "comparison": rows})
    out = capsys.readouterr().out
    assert "comparison" in out and "…" not in out, out
    for i, name in enumerate(FORMATS):
        line = next(x for x in out.splitlines() if x.startswith(f"│ {name} "))
        assert f"{11_234_567 + i:,}" in line and "29,912" in line and "15.321" in line, line
    assert "partition_filter_in_plan" in out and "query_day_s" in out
