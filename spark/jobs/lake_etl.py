"""Batch ETL of the lake, zone by zone, incremental and safe to re-run:

    raw/          JSON lines as producers wrote them (never modified)
    bronze/events every raw line parsed with the event schema, plus lineage (_source, _batch,
                  _ingested_at, _row: an id unique within the batch) and, for lines
                  that do not fit, the raw text and a _reason
    silver/events typed, cleaned, deduplicated events, partitioned by dt
    gold/...      daily revenue by country, conversion funnel, top products (by dt)
    quarantine/events        lines that did not fit, with the reason
    quarantine/files/batch=N whole raw files that are corrupt or drift from the schema
                             (copied as they were), listed in quarantine/events with the reason

Each zone remembers in its Delta commits (userMetadata) how far it has read the zone before it:
bronze the raw files it ingested, silver the last bronze batch, gold the last silver version.
A re-run therefore only processes what is new, and a run killed between two zones is caught up
by the next one: nothing is lost or counted twice. Silver MERGEs late data on event_id; gold is
recomputed for the days silver touched. Self-contained (PySpark + Delta only), so it also runs
as an EMR step:

    spark-submit lake_etl.py s3://bucket/raw/events/ s3://bucket/lake/ [--metrics-port 9104]

``--metrics-port P`` serves Prometheus metrics of the run on 127.0.0.1:P/metrics (0: any free
port; ``bdlab_job_rows_processed_total``, i.e. the raw lines parsed into bronze, and
``bdlab_job_batch_duration_seconds``, label ``job="lake_etl"``) while it runs and
``--metrics-linger S`` seconds after; only then is bdlab's ``sim`` package needed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("session_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("product_id", T.IntegerType()),
        T.StructField("category", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("quantity", T.IntegerType()),
        T.StructField("country", T.StringType()),
        T.StructField("device", T.StringType()),
    ]
)
FIELDS = [f.name for f in EVENT_SCHEMA.fields]
READ_SCHEMA = T.StructType([*EVENT_SCHEMA.fields, T.StructField("_corrupt", T.StringType())])
REQUIRED = ("event_id", "event_time", "event_type", "user_id")
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
FUNNEL = ("view", "click", "add_to_cart", "purchase")
SAMPLE_BYTES = 64 * 1024
SAMPLE_LINES = 200
# Which JSON value types each schema type accepts, for the file sample (Python's json types).
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "timestamp": (str,),
    "bigint": (int,),
    "int": (int,),
    "double": (int, float),
}
COMMIT_META = "spark.databricks.delta.commitInfo.userMetadata"


class Paths:
    def __init__(self, lake: str) -> None:
        lake = lake.rstrip("/")
        self.bronze = f"{lake}/bronze/events"
        self.silver = f"{lake}/silver/events"
        self.quarantine = f"{lake}/quarantine/events"
        self.quarantine_files = f"{lake}/quarantine/files"
        self.gold = {
            "daily_revenue": f"{lake}/gold/daily_revenue",
            "funnel": f"{lake}/gold/funnel",
            "top_products": f"{lake}/gold/top_products",
        }


# ------------------------------------------------------------- file triage (pure)
def triage_sample(sample: bytes, truncated: bool) -> str | None:
    """Why a raw file should be quarantined whole, judging by its first bytes; None if fine.

    ``truncated``: the sample stops inside the file (its last line may be cut)."""
    if b"\x00" in sample:
        return "not a text file (binary content)"
    if truncated:
        sample = sample[: sample.rfind(b"\n") + 1]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text (byte {e.start})"
    lines = [x for x in text.splitlines() if x.strip()][:SAMPLE_LINES]
    if not lines:
        return None
    objects: list[dict[str, Any]] = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    if len(objects) * 2 < len(lines):
        bad = len(lines) - len(objects)
        return f"not JSON lines ({bad} of {len(lines)} sampled lines are not JSON objects)"
    keys = set().union(*(o.keys() for o in objects))
    unexpected = sorted(keys - set(FIELDS))
    if unexpected:
        return f"schema drift: unexpected fields {','.join(unexpected)}"
    for name in REQUIRED:
        if name not in keys:
            return f"schema drift: required field {name} is missing in every sampled line"
    for f in EVENT_SCHEMA.fields:
        want = _JSON_TYPES[f.dataType.simpleString()]
        present = [o[f.name] for o in objects if o.get(f.name) is not None]
        wrong = [v for v in present if isinstance(v, bool) or not isinstance(v, want)]
        if present and len(wrong) * 2 > len(present):
            got = type(wrong[0]).__name__
            return (
                f"schema drift: field {f.name} is {got} in {len(wrong)} of {len(present)} "
                f"sampled lines (expected {f.dataType.simpleString()})"
            )
    return None


# ----------------------------------------------------------------- pure transforms
def read_events(spark: Any, source: str | list[str] | DataFrame) -> DataFrame:
    """JSON lines (paths, or a DataFrame with a ``value`` column) -> typed rows; a line that
    is not JSON or has a value of the wrong type keeps its text in ``_corrupt``."""
    reader = (
        spark.read.schema(READ_SCHEMA)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt")
    )
    if isinstance(source, DataFrame):
        return reader.json(source.select("value").rdd.map(lambda r: r[0]))
    return reader.json(source)


def with_reason(events: DataFrame) -> DataFrame:
    """Adds ``_reason``: why a parsed line cannot become a silver row (None when it can).

    The detail for a corrupt line (which field has the wrong type) needs a second parse; it
    is computed only for those lines."""
    as_map = F.from_json("_corrupt", "map<string,string>")
    detail = F.lit("malformed JSON")
    for f in reversed(EVENT_SCHEMA.fields):
        detail = F.when(
            as_map.getItem(f.name).isNotNull() & F.col(f.name).isNull(),
            F.lit(f"mistyped field: {f.name} (expected {f.dataType.simpleString()})"),
        ).otherwise(detail)
    reason = F.lit(None).cast("string")
    for name in reversed(REQUIRED):
        reason = F.when(F.col(name).isNull(), F.lit(f"missing field: {name}")).otherwise(reason)
    reason = F.when(F.col("_corrupt").isNotNull(), detail).otherwise(reason)
    return events.withColumn("_reason", reason)


def quarantined(bronze: DataFrame) -> DataFrame:
    """Bronze rows that did not fit, as quarantine rows (line, reason, source)."""
    line = F.coalesce(F.col("_corrupt"), F.to_json(F.struct(*FIELDS)))
    return bronze.where(F.col("_reason").isNotNull()).select(
        line.alias("line"), F.col("_reason").alias("reason"), F.col("_source").alias("source")
    )


def clean(parsed: DataFrame) -> DataFrame:
    """Silver rows: normalised text, invalid values to null, unknown event types dropped."""
    return (
        parsed.withColumn("dt", F.to_date("event_time"))
        .withColumn("country", F.upper(F.trim("country")))
        .withColumn("event_type", F.lower(F.trim("event_type")))
        .withColumn("price", F.when(F.col("price") >= 0, F.col("price")))
        .withColumn("quantity", F.coalesce(F.col("quantity"), F.lit(0)))
        .where(F.col("event_type").isin(*EVENT_TYPES))
    )


def dedupe(
    events: DataFrame,
    order: Iterable[str] = (),
    max_repeated: int = 200_000,
    order_is_unique: bool = False,
) -> DataFrame:
    """One row per event_id (at-least-once input repeats events); keeps the first by ``order``.

    Repeats are rare, so the ids that repeat are found first on narrow columns (a hash
    aggregate, kept in memory: a few bytes per repeated id) and the rows are then filtered by
    a broadcast join without being shuffled. Dedupe by window on all rows when more than
    ``max_repeated`` ids repeat.

    ``order_is_unique``: no two rows have the same ``order`` values (bronze's ``_batch``,
    ``_row``). Then the aggregate also finds each repeated id's first copy, and the wide rows
    are read once; otherwise the rows of repeated ids are read a second time, for a window."""
    from pyspark.sql.window import Window

    order = list(order)
    if order_is_unique and order:
        return _dedupe_by_first(events, order, max_repeated)
    # Grouping on a 64-bit hash of the id is a fixed-width hash aggregate (strings would
    # make Spark sort); a rare collision only sends a few more rows through the window.
    h = F.xxhash64("event_id")
    # Shuffled by the hash first: with (nearly) unique ids a map-side partial aggregate
    # would only copy every key into a hash table once more (~15% of this step at 10M).
    ids = events.select(h.alias("_h")).repartition("_h")
    repeated = ids.groupBy("_h").count().where("count > 1").select("_h").localCheckpoint()
    n = repeated.count()
    # Partitioned by the hash first: Spark sorts on an 8-byte prefix, which ids share.
    w = Window.partitionBy(h, "event_id").orderBy(*(order or ["event_id"]))
    first = F.row_number().over(w)
    if n > max_repeated:
        return events.withColumn("_rn", first).where("_rn = 1").drop("_rn")
    if n == 0:
        return events
    rep = F.broadcast(repeated)
    once = events.join(rep, h == rep["_h"], "left_anti")
    kept = (
        events.join(rep, h == rep["_h"], "left_semi")
        .withColumn("_rn", first)
        .where("_rn = 1")
        .drop("_rn")
    )
    return once.unionByName(kept)


def _dedupe_by_first(events: DataFrame, order: list[str], max_repeated: int) -> DataFrame:
    """dedupe() when ``order`` identifies a row: one aggregate by event_id (count, min of the
    order) gives the repeated ids and the first copy of each; an anti-join drops the others."""
    from pyspark.sql.window import Window

    key = F.col(order[0]) if len(order) == 1 else F.struct(*order)
    # min() of one column keeps the aggregate fixed-width (a hash aggregate); of a struct,
    # Spark sorts, which is only needed when several batches are refined at once.
    firsts = (
        events.select("event_id", key.alias("_k"))
        .repartition("event_id")  # no map-side partial aggregate over (nearly) unique ids
        .groupBy("event_id")
        .agg(F.count("*").alias("_n"), F.min("_k").alias("_first"))
        .where("_n > 1")
        .select(F.col("event_id").alias("_id"), "_first")
        .localCheckpoint()
    )
    n = firsts.count()
    if n == 0:
        return events
    if n > max_repeated:
        w = Window.partitionBy(F.xxhash64("event_id"), "event_id").orderBy(*order)
        return events.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")
    later = (F.col("event_id") == F.col("_id")) & (key != F.col("_first"))
    return events.join(F.broadcast(firsts), later, "left_anti")


def daily_revenue(silver: DataFrame) -> DataFrame:
    buys = silver.where(F.col("event_type") == "purchase")
    return buys.groupBy("dt", "country").agg(
        F.count("*").alias("orders"),
        F.sum("quantity").alias("items"),
        F.round(F.sum(F.col("price") * F.col("quantity")), 2).alias("revenue"),
    )


def funnel(silver: DataFrame) -> DataFrame:
    """Sessions reaching each funnel stage per day, and the conversion rate view -> purchase.

    One bit per stage, OR-ed per (day, session), then the bits are counted per day: a pivot
    of countDistinct would expand every row once per stage, and a distinct on (day, stage,
    session) aggregates twice as many keys."""
    bit = reduce(
        lambda acc, i: acc.when(F.col("event_type") == FUNNEL[i], 1 << i),
        range(1, len(FUNNEL)),
        F.when(F.col("event_type") == FUNNEL[0], 1),
    ).otherwise(0)
    per_session = silver.groupBy("dt", "session_id").agg(F.bit_or(bit).alias("_stages"))
    stages = [
        F.count_if(F.col("_stages").bitwiseAND(1 << i) != 0).alias(s) for i, s in enumerate(FUNNEL)
    ]
    per = per_session.where("_stages != 0").groupBy("dt").agg(*stages)
    return per.withColumn(
        "conversion", F.round(F.when(F.col("view") > 0, F.col("purchase") / F.col("view")), 4)
    )


def top_products(silver: DataFrame, n: int = 10) -> DataFrame:
    from pyspark.sql.window import Window

    buys = silver.where(F.col("event_type") == "purchase")
    agg = buys.groupBy("dt", "product_id", "category").agg(
        F.round(F.sum(F.col("price") * F.col("quantity")), 2).alias("revenue"),
        F.sum("quantity").alias("items"),
    )
    w = Window.partitionBy("dt").orderBy(F.desc("revenue"), "product_id")
    return agg.withColumn("rank", F.row_number().over(w)).where(F.col("rank") <= n)


GOLD = {"daily_revenue": daily_revenue, "funnel": funnel, "top_products": top_products}


# ------------------------------------------------------------- Delta bookkeeping
def _is_delta(spark: Any, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def _commits(spark: Any, path: str) -> list[tuple[int, dict[str, Any], dict[str, str]]]:
    """(version, our userMetadata, operationMetrics) of every commit of a Delta table."""
    from delta.tables import DeltaTable

    if not _is_delta(spark, path):
        return []
    rows = (
        DeltaTable.forPath(spark, path)
        .history()
        .select("version", "userMetadata", "operationMetrics")
    )
    out = []
    for r in rows.collect():
        try:
            meta = json.loads(r.userMetadata) if r.userMetadata else {}
        except ValueError:
            meta = {}
        out.append((int(r.version), meta, dict(r.operationMetrics or {})))
    return sorted(out, key=lambda c: c[0])


def _mark(meta: dict[str, Any]) -> str:
    return json.dumps({"bdlab_lake_etl": 1, **meta})


def _watermark(spark: Any, path: str, key: str, default: int) -> int:
    marks = [int(m[key]) for _, m, _ in _commits(spark, path) if key in m]
    return max(marks, default=default)


# ============================================================================================
# Run-level tuning: performance only. The transforms above do not depend on it; every value
# below changes how fast the job runs, never a row it writes (tests/integration/test_lake_etl.py
# checks the outputs). Numbers are from scripts/bench/etl_bench.py (docs/benchmarks.md).
# ============================================================================================
# Raw files are read as one scan per UNION_FILES files, split into SPLIT_MIN..SPLIT_MAX tasks.
UNION_FILES = 64
SPLIT_MIN = 32 * 1024 * 1024
SPLIT_MAX = 256 * 1024 * 1024
# Delta collects min/max statistics only for these columns (all columns by default, which
# costs as much as a third of the write): what the next zone filters on.
BRONZE_STATS = "_batch,_reason"
SILVER_STATS = "event_time,user_id,product_id,price"
# Parquet dictionary encoding for columns that are (nearly) unique per row only costs: the
# writer fills a dictionary, overflows it and falls back to plain. Off for those (~15% of a
# bronze write at 3M rows, files +7%); kept for the low-cardinality columns, where it pays.
PLAIN_COLUMNS = ("event_id", "session_id", "event_time", "user_id", "_corrupt", "_row")
NO_DICTIONARY = {f"parquet.enable.dictionary#{c}": "false" for c in PLAIN_COLUMNS}
# A task writing a partitioned table keeps one open file per partition value (up to this many)
# instead of sorting its rows by partition first: silver's write -13% at 10M rows. A task that
# meets more days than this sorts the rest, as Spark does by default.
CONCURRENT_WRITERS = {"spark.sql.maxConcurrentOutputFileWriters": "16"}
# Spark's hash aggregates first probe a small generated "fast" map, then fall back to the
# regular one. With this job's many keys (sessions, event ids) the fast map mostly misses and
# its extra generated code is compiled on every run: off for the run, the funnel's
# (day, session) aggregate takes ~4.5 s instead of ~6 s at 10M rows (warm), the whole
# dedupe detection ~5% less.
RUN_CONF = {"spark.sql.codegen.aggregate.map.twolevel.enabled": "false"}


@contextmanager
def _session_conf(spark: Any, conf: dict[str, str]) -> Iterator[None]:
    """Session settings for the statements inside (MERGE takes no writer options)."""
    before = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


# --------------------------------------------------------------------- raw files
def _hadoop(spark: Any, path: str) -> tuple[Any, Any, Any]:
    jvm = spark.sparkContext._jvm  # noqa: SLF001 (Hadoop FS through the JVM, as Spark does)
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    p = jvm.org.apache.hadoop.fs.Path(path)
    return jvm, p, p.getFileSystem(conf)


def list_raw(spark: Any, raw: str) -> dict[str, int]:
    """Every data file under ``raw`` (recursively; _/. names are hidden, as in Spark), by
    path, with its size in bytes."""
    jvm, root, fs = _hadoop(spark, raw)
    if not fs.exists(root):
        raise FileNotFoundError(f"raw input not found: {raw} (nothing was written there yet?)")
    out = {}
    it = fs.listFiles(root, True)
    while it.hasNext():
        status = it.next()
        p = status.getPath()
        rel = str(p.toString())[len(str(root.toString())) :]
        if any(part.startswith(("_", ".")) for part in rel.split("/") if part):
            continue
        out[str(p.toString())] = int(status.getLen())
    return dict(sorted(out.items()))


def _split_conf(spark: Any, total_bytes: int) -> dict[str, str]:
    """Input split size for reading ``total_bytes`` of raw files: one task per slot at least,
    up to SPLIT_MAX each. Spark divides each scan by the slots on its own, which for the
    per-file scans of _read_with_source made a slot's worth of tasks *per file* (80 tasks of
    ~30 MB for ten files at 10M rows): small tasks pay a JSON reader, a Parquet writer and a
    file each (bronze write of ten files, warm: 35-38 s with 80 tasks, 32-34 s with 10)."""
    slots = max(1, int(spark.sparkContext.defaultParallelism))
    split = min(SPLIT_MAX, max(SPLIT_MIN, total_bytes // slots))
    return {"spark.sql.files.maxPartitionBytes": str(split), "spark.sql.files.minPartitionNum": "1"}


def _inspect(spark: Any, path: str) -> str | None:
    """Reads the first 64 KiB of a raw file (and all of it when compressed: a broken stream
    would otherwise fail the whole Spark job) and returns why to quarantine it, if so."""
    from py4j.protocol import Py4JJavaError

    jvm, p, fs = _hadoop(spark, path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(p)
    stream = fs.open(p)
    try:
        if codec is not None:
            stream = codec.createInputStream(stream)
        try:
            sample = bytes(stream.readNBytes(SAMPLE_BYTES + 1))
            if codec is not None:
                stream.transferTo(jvm.java.io.OutputStream.nullOutputStream())
        except Py4JJavaError as e:
            kind = "compressed file is corrupt" if codec is not None else "unreadable file"
            msg = str(e.java_exception.toString()).split("\n")[0]
            return f"{kind}: {msg}"
    finally:
        stream.close()
    truncated = len(sample) > SAMPLE_BYTES
    return triage_sample(sample[:SAMPLE_BYTES], truncated)


def _quarantine_file(spark: Any, path: str, dest_dir: str) -> str:
    jvm, src, src_fs = _hadoop(spark, path)
    _, dst, dst_fs = _hadoop(spark, f"{dest_dir}/{src.getName()}")
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    jvm.org.apache.hadoop.fs.FileUtil.copy(src_fs, src, dst_fs, dst, False, conf)
    return str(dst.toString())


# ---------------------------------------------------------------------- the zones
def ingest_bronze(spark: Any, raw: str, p: Paths) -> dict[str, Any]:
    """New raw files -> one bronze batch (append); bad whole files -> quarantine."""
    commits = _commits(spark, p.bronze)
    seen = {f for _, m, _ in commits for f in m.get("files", [])}
    batch = max((int(m["batch"]) for _, m, _ in commits if "batch" in m), default=0) + 1
    raw_files = list_raw(spark, raw)
    new = [f for f in raw_files if f not in seen]
    out: dict[str, Any] = {"batch": batch, "new_files": len(new), "files_quarantined": 0}
    if not new:
        out["batch"] = batch - 1
        return out
    bad = {f: r for f in new if (r := _inspect(spark, f)) is not None}
    if bad:
        dest = f"{p.quarantine_files}/batch={batch}"
        for f in bad:
            _quarantine_file(spark, f, dest)
        # listed in quarantine/events by silver, with the batch's bad lines (one commit)
        out["files_quarantined"] = len(bad)
        out["quarantined_files"] = {f: r for f, r in bad.items()}
    good = [f for f in new if f not in bad]
    events = _empty_bronze(spark)  # an empty commit still records the files as seen
    split = _split_conf(spark, sum(raw_files[f] for f in good))
    marks = {"row_ids": True, **({"quarantined": bad} if bad else {})}
    if good:
        events = _read_with_source(spark, good).select(
            *FIELDS,
            "_corrupt",
            "_reason",
            "_source",
            F.lit(batch).cast("long").alias("_batch"),
            F.current_timestamp().alias("_ingested_at"),
            F.monotonically_increasing_id().alias("_row"),
        )
    with _session_conf(spark, split):  # splits are made when the write plans its scans
        (
            events.write.format("delta")
            .mode("append")
            .options(**NO_DICTIONARY)
            .option("delta.dataSkippingStatsColumns", BRONZE_STATS)
            .option("mergeSchema", "true")  # older lakes' bronze has no _row yet
            .option("userMetadata", _mark({"batch": batch, "files": new, **marks}))
            .save(p.bronze)
        )
    return out


def _read_with_source(spark: Any, files: list[str]) -> DataFrame:
    """Parsed lines with the file they came from. For a few files, one scan per file with the
    name as a constant: Spark's per-row _metadata.file_path costs ~20% of the parse."""
    if len(files) > UNION_FILES:
        parsed = read_events(spark, files).withColumn("_source", F.col("_metadata.file_path"))
    else:
        scans = [read_events(spark, f).withColumn("_source", F.lit(f)) for f in files]
        parsed = reduce(DataFrame.unionByName, scans)
    return with_reason(parsed)


def _file_rows(spark: Any, bad: dict[str, str], batch: int) -> DataFrame:
    """Quarantine rows for whole files, built in the JVM (a DataFrame from Python objects
    would start Python workers just for this: seconds on a cold session)."""
    rows = [
        F.struct(
            F.lit(None).cast("string").alias("line"),
            F.lit(f"file: {reason}").alias("reason"),
            F.lit(path).alias("source"),
            F.lit(batch).cast("long").alias("batch"),
        )
        for path, reason in bad.items()
    ]
    return spark.range(1).select(F.inline(F.array(*rows)))


def _empty_bronze(spark: Any) -> DataFrame:
    schema = T.StructType(
        [
            *EVENT_SCHEMA.fields,
            T.StructField("_corrupt", T.StringType()),
            T.StructField("_reason", T.StringType()),
            T.StructField("_source", T.StringType()),
            T.StructField("_batch", T.LongType()),
            T.StructField("_ingested_at", T.TimestampType()),
            T.StructField("_row", T.LongType()),
        ]
    )
    return spark.range(0).select(*[F.lit(None).cast(f.dataType).alias(f.name) for f in schema])


def _append_quarantine(spark: Any, rows: list[DataFrame], p: Paths, last: int) -> None:
    """One quarantine commit for bronze batches up to ``last``; none if one was made already
    (a run that died between this commit and silver's is caught up without repeating it)."""
    if not rows or _watermark(spark, p.quarantine, "bronze_batch", 0) >= last:
        return
    (
        reduce(DataFrame.unionByName, rows)
        .withColumn("quarantined_at", F.current_timestamp())
        .write.format("delta")
        .mode("append")
        .option("userMetadata", _mark({"bronze_batch": last}))
        .save(p.quarantine)
    )


def refine_silver(spark: Any, p: Paths) -> dict[str, Any]:
    """Bronze batches silver has not seen -> quarantine (their bad lines, and the whole files
    bronze set aside, in one commit) and silver (MERGE)."""
    from delta.tables import DeltaTable

    done = _watermark(spark, p.silver, "bronze_batch", 0)
    batches = {v: m for v, m, _ in _commits(spark, p.bronze) if "batch" in m}
    last = max((int(m["batch"]) for m in batches.values()), default=0)
    out: dict[str, Any] = {"quarantined": 0}
    if last <= done:
        return out
    # Batches ingested before bronze had row ids (_row) are deduplicated the old way.
    todo = [v for v, m in batches.items() if int(m["batch"]) > done]
    row_ids = all(batches[v].get("row_ids") for v in todo)
    new = spark.read.format("delta").load(p.bronze).where(F.col("_batch") > done)
    bad = quarantined(new)
    n_bad = _lines_with_reason(spark, p.bronze, todo)
    if n_bad is None:
        n_bad = bad.count()  # reads only files with a non-null _reason (Delta statistics)
    files = [
        _file_rows(spark, batches[v]["quarantined"], int(batches[v]["batch"]))
        for v in todo
        if batches[v].get("quarantined")
    ]
    lines = [bad.withColumn("batch", F.lit(last).cast("long"))] if n_bad else []
    _append_quarantine(spark, [*lines, *files], p, last)
    out["quarantined"] = n_bad
    rows = clean(new.where(F.col("_reason").isNull()))
    if row_ids:  # the first copy by batch, then row id; one batch (the usual case): row id
        order = ["_row"] if last == done + 1 else ["_batch", "_row"]
        good = dedupe(rows, order, order_is_unique=True)
    else:
        good = dedupe(rows, ["_batch", "_source"])
    good = good.select(*FIELDS, "dt")
    meta = _mark({"bronze_batch": last})
    if not _is_delta(spark, p.silver):
        with _session_conf(spark, CONCURRENT_WRITERS):
            (
                good.write.format("delta")
                .partitionBy("dt")
                .options(**NO_DICTIONARY)
                .option("delta.dataSkippingStatsColumns", SILVER_STATS)
                .option("userMetadata", meta)
                .save(p.silver)
            )
        return out
    days = sorted(str(r.dt) for r in good.select("dt").distinct().collect())
    prune = f"t.dt IN ({_dates(days)}) AND " if days else ""
    with _session_conf(spark, {COMMIT_META: meta, **NO_DICTIONARY, **CONCURRENT_WRITERS}):
        (
            DeltaTable.forPath(spark, p.silver)
            .alias("t")
            .merge(good.alias("s"), f"{prune}t.dt = s.dt AND t.event_id = s.event_id")
            .whenNotMatchedInsertAll()
            .execute()
        )
    return out


def _lines_with_reason(spark: Any, bronze: str, versions: list[int]) -> int | None:
    """Bronze rows with a _reason in the given commits, from the statistics of the files
    they added (no Spark job); None when a file has no statistics for _reason, or a commit
    file is gone (Delta's log cleanup keeps 30 days by default)."""
    from py4j.protocol import Py4JJavaError

    n = 0
    for v in versions:
        try:
            text = _read_text(spark, f"{bronze}/_delta_log/{v:020d}.json")
        except Py4JJavaError:
            return None
        for line in text.splitlines():
            add = json.loads(line).get("add") if line.strip() else None
            if not add:
                continue
            stats = json.loads(add.get("stats") or "{}")
            if "_reason" not in stats.get("nullCount", {}) or "numRecords" not in stats:
                return None
            n += int(stats["numRecords"]) - int(stats["nullCount"]["_reason"])
    return n


def _read_text(spark: Any, path: str) -> str:
    _, p, fs = _hadoop(spark, path)
    stream = fs.open(p)
    try:
        return bytes(stream.readAllBytes()).decode("utf-8")
    finally:
        stream.close()


def _dates(days: Iterable[str]) -> str:
    return ",".join(f"DATE'{d}'" for d in days)


def _silver_days(spark: Any, p: Paths, versions: list[int]) -> list[str]:
    """Partitions (dt) that the given silver commits added files to."""
    if not versions:
        return []
    logs = [f"{p.silver}/_delta_log/{v:020d}.json" for v in versions]
    adds = spark.read.json(logs)
    if "add" not in adds.columns:
        return []
    rows = adds.where("add IS NOT NULL").select("add.partitionValues.dt").distinct().collect()
    return sorted(r.dt for r in rows if r.dt)


def publish_gold(spark: Any, p: Paths) -> list[str]:
    """Recomputes gold for every day silver changed since gold last looked.

    The gold tables are independent, so they are built by concurrent Spark jobs: much of each
    one is driver work (planning, code generation, the Delta commit) that would otherwise
    leave the executor cores idle."""
    commits = _commits(spark, p.silver)
    if not commits:
        return []
    now = commits[-1][0]
    touched: set[str] = set()
    silver = spark.read.format("delta").option("versionAsOf", now).load(p.silver)
    days_since: dict[int, list[str]] = {}  # the gold tables have usually seen the same version
    todo: list[tuple[str, list[str]]] = []
    for name in GOLD:
        seen = _watermark(spark, p.gold[name], "silver_version", -1)
        if seen >= now:
            continue
        if seen not in days_since:
            days_since[seen] = _silver_days(spark, p, [v for v, _, _ in commits if v > seen])
        touched.update(days_since[seen])
        if days_since[seen]:
            todo.append((name, days_since[seen]))
    meta = _mark({"silver_version": now})

    def publish(name: str, days: list[str]) -> None:
        path = p.gold[name]
        cond = f"dt IN ({_dates(days)})"
        writer = GOLD[name](silver.where(cond)).write.format("delta").option("userMetadata", meta)
        if not _is_delta(spark, path):
            writer.partitionBy("dt").save(path)
        else:
            writer.mode("overwrite").option("replaceWhere", cond).save(path)

    with ThreadPoolExecutor(max_workers=len(todo) or 1, thread_name_prefix="gold") as pool:
        for job in [pool.submit(publish, name, days) for name, days in todo]:
            job.result()  # the first failure is raised once every table has finished
    return sorted(touched)


def run(spark: Any, raw: str, lake: str) -> dict[str, Any]:
    """raw JSON lines at ``raw`` -> the lake's zones under ``lake``; returns counts."""
    p = Paths(lake)
    with _session_conf(spark, RUN_CONF):
        bronze = ingest_bronze(spark, raw, p)
        silver = refine_silver(spark, p)
        days = publish_gold(spark, p)
    parsed = 0
    for _, meta, metrics in _commits(spark, p.bronze):
        if meta.get("batch") == bronze["batch"] and bronze["new_files"]:
            parsed = int(metrics.get("numOutputRows", 0))
    silver_rows = (
        spark.read.format("delta").load(p.silver).count() if _is_delta(spark, p.silver) else 0
    )
    return {
        **bronze,
        "parsed": parsed,
        "quarantined": silver["quarantined"],
        "days": days,
        "silver_rows": silver_rows,
    }


def main(argv: list[str] | None = None) -> int:
    """``lake_etl.py RAW LAKE [--metrics-port P] [--metrics-linger S]``; 0 on success, 2 on a
    usage error or a missing input."""
    import argparse

    ap = argparse.ArgumentParser(prog="lake_etl.py", description="raw JSON lines -> the lake")
    ap.add_argument("raw", help="raw JSON lines (a folder or prefix)")
    ap.add_argument("lake", help="the lake's root")
    _metrics_options(ap)
    a = ap.parse_args(argv)
    spark = SparkSession.builder.appName("lake_etl").getOrCreate()
    try:
        with _metrics(a.metrics_port, a.metrics_linger) as batch:
            out = run(spark, a.raw, a.lake)
            batch.rows = out["parsed"]
    except OSError as e:  # a missing input, or the metrics port taken
        print(f"lake_etl: {e}", file=sys.stderr)
        return 2
    print("lake_etl:", json.dumps(out))
    root = a.lake.rstrip("/")
    if out["quarantined"]:
        print(
            f"lake_etl: {out['quarantined']} input lines quarantined under "
            f"{root}/quarantine/events (see column 'reason')"
        )
    if out["files_quarantined"]:
        print(
            f"lake_etl: {out['files_quarantined']} whole files quarantined under "
            f"{root}/quarantine/files/batch={out['batch']}/ (reasons in quarantine/events)"
        )
    return 0


# --- Prometheus metrics (only with --metrics-port) ---------------------------------------


def _metrics_options(ap: Any) -> None:
    ap.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="P",
        help="serve Prometheus metrics on 127.0.0.1:P/metrics (0: any free port)",
    )
    ap.add_argument(
        "--metrics-linger",
        type=float,
        default=0.0,
        metavar="S",
        help="keep serving them S seconds after the run (for the last scrape)",
    )


def _metrics(port: int | None, linger_s: float) -> Any:
    """A context timing the run for Prometheus (its ``rows`` set by the caller). bdlab's sim
    package is imported only when metrics are asked for: the job runs on PySpark alone."""
    if port is None:
        from types import SimpleNamespace

        return nullcontext(SimpleNamespace(rows=0))
    try:
        from sim.monitoring.promexport import batch_endpoint
    except ImportError:
        raise SystemExit(
            "lake_etl: --metrics-port needs bdlab's sim package on the driver"
        ) from None
    return batch_endpoint("lake_etl", port, linger_s)


if __name__ == "__main__":
    sys.exit(main())
