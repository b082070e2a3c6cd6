"""Table definitions for other engines: one table per lake type over the refined files.

The refined layout nests ``type=`` under ``provider=``
(``refined/provider=<P>/type=<T>/instrument=<I>/year=<Y>/month=<M>/day=<D>/``), as
the reference layout does, so a table of one type spans one directory per
provider. Daily bars (``bars_1d``) stop at ``year=``: their tables have no
``month`` and ``day`` columns. Each engine is told so in its own way:

- **Athena**: partition projection with a storage location template; the
  providers and instruments found in the lake are the projected values.
- **Trino** (Hive connector): an external table, then one registered partition
  per directory.
- **Spark**: a view over a glob of the type's directories, with the refined
  directory as the base path, so the partition columns are read from the paths.
  Spark has no nanosecond timestamps: ``ts_event`` and ``ts_recv`` are read as
  nanoseconds since the epoch (bigint; ``timestamp_micros(ts_event div 1000)``
  makes a timestamp of one).

DuckDB, polars and pyarrow read the same glob with Hive partitioning on (see
docs/LAKE.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyarrow as pa

from quoteflow.events import arrow_schema
from quoteflow.lake.layout import Partition, is_yearly, parse_partition, record_class, refined_path
from quoteflow.storage import LakeRoot

__all__ = ["ENGINES", "catalog", "hive_type", "refined_partitions", "type_glob"]

ENGINES = ("athena", "trino", "spark")
_PARTITION_COLUMNS = ("provider", "instrument", "year", "month", "day")


def hive_type(kind: pa.DataType) -> str:
    """Return the Hive/Athena/Spark SQL type of an Arrow type."""
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_floating(kind):
        return "double"
    if pa.types.is_integer(kind):
        return "bigint"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"array<{hive_type(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{hive_type(kind.key_type)},{hive_type(kind.item_type)}>"
    raise ValueError(f"no SQL type for {kind}")


def _levels(kind: str) -> tuple[str, ...]:
    """Return the partition columns of a type's table, outermost first."""
    return _PARTITION_COLUMNS[:3] if is_yearly(kind) else _PARTITION_COLUMNS


def _values(partition: Partition) -> tuple[str | int, ...]:
    p = partition
    return (p.provider, p.instrument, p.day.year, p.day.month, p.day.day)[: len(_levels(p.type))]


def _refined_glob(kind: str) -> str:
    """Return the glob of a type's refined files, relative to ``refined/``."""
    return "/".join(["provider=*", f"type={kind}", *["*"] * (len(_levels(kind)) - 1), "*.parquet"])


def type_glob(root: LakeRoot, kind: str) -> str:
    """Return the glob of every refined file of lake type ``kind``, all providers."""
    return root.join("refined", _refined_glob(kind))


def refined_partitions(root: LakeRoot) -> dict[str, list[Partition]]:
    """Return the refined partitions of the lake by type, sorted."""
    found: dict[str, list[Partition]] = defaultdict(list)
    for info in root.files("refined"):
        parsed = parse_partition(root.relative(info.path))
        if parsed is not None and info.base_name.endswith(".parquet"):
            found[parsed[1].type].append(parsed[1])
    return {kind: sorted(partitions) for kind, partitions in sorted(found.items())}


def _columns(kind: str) -> list[tuple[str, str]]:
    schema = arrow_schema(record_class(kind))
    return [(f.name, hive_type(f.type)) for f in schema if f.name not in _PARTITION_COLUMNS]


def _athena(root: LakeRoot, kind: str, partitions: list[Partition]) -> str:
    columns = ",\n".join(f"  `{name}` {sql}" for name, sql in _columns(kind))
    levels = _levels(kind)
    providers = ",".join(sorted({p.provider for p in partitions}))
    instruments = ",".join(sorted({p.instrument for p in partitions}))
    years = sorted({p.day.year for p in partitions})
    base = root.uri.rstrip("/") + "/refined"
    template = "/".join(f"{level}=${{{level}}}" for level in levels)
    template = template.replace("instrument=", f"type={kind}/instrument=")
    partitioned = ", ".join(f"`{level}` {'string' if level in levels[:2] else 'int'}"
                            for level in levels)  # fmt: skip
    ranges = {"year": f"{years[0]},{years[-1]}", "month": "1,12", "day": "1,31"}
    projections = "".join(f"  'projection.{level}.type' = 'integer', "
                          f"'projection.{level}.range' = '{ranges[level]}',\n"
                          for level in levels[2:])  # fmt: skip
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{kind}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitioned})\n"
        f"STORED AS PARQUET\nLOCATION '{base}/'\nTBLPROPERTIES (\n"
        "  'projection.enabled' = 'true',\n"
        f"  'projection.provider.type' = 'enum', 'projection.provider.values' = '{providers}',\n"
        f"  'projection.instrument.type' = 'enum', "
        f"'projection.instrument.values' = '{instruments}',\n"
        f"{projections}"
        f"  'storage.location.template' = '{base}/{template}'\n);"
    )


def _trino(root: LakeRoot, kind: str, partitions: list[Partition]) -> str:
    columns = ",\n".join(f"  {name} {_trino_type(sql)}" for name, sql in _columns(kind))
    levels = _levels(kind)
    base = root.uri.rstrip("/") + "/refined"
    declared = ",\n".join(f"  {level} {'varchar' if level in levels[:2] else 'integer'}"
                          for level in levels)  # fmt: skip
    names = ", ".join(f"'{level}'" for level in levels)
    lines = [
        f"CREATE TABLE IF NOT EXISTS {kind} (\n{columns},\n{declared}\n)\n"
        f"WITH (format = 'PARQUET', external_location = '{base}/',\n"
        f"      partitioned_by = ARRAY[{names}]);"
    ]
    for p in partitions:
        values = ", ".join(f"'{v}'" for v in _values(p))
        location = f"{base}/{refined_path(p).removeprefix('refined/').rsplit('/', 1)[0]}"
        lines.append(f"CALL system.register_partition(CURRENT_SCHEMA, '{kind}', "
                     f"ARRAY[{names}], ARRAY[{values}], '{location}');")  # fmt: skip
    return "\n".join(lines)


def _trino_type(sql: str) -> str:
    return (sql.replace("string", "varchar").replace("array<", "array(").replace("map<", "map(")
            .replace(">", ")").replace("timestamp", "timestamp(3) with time zone"))  # fmt: skip


def _spark(root: LakeRoot, kind: str) -> str:
    base = root.uri.rstrip("/") + "/refined"
    glob = f"{base}/{_refined_glob(kind)}"
    return ("SET spark.sql.legacy.parquet.nanosAsLong = true;\n"
            f"CREATE OR REPLACE TEMPORARY VIEW `{kind}` USING parquet "
            f"OPTIONS (path '{glob}', basePath '{base}');")  # fmt: skip


def catalog(root: LakeRoot, engine: str, kinds: Iterable[str] | None = None) -> str:
    """Return the statements that define one table per lake type for ``engine``.

    ``kinds`` limits them to those types (default: every refined type in the lake).
    Raises ``ValueError`` for an unknown engine.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    partitions = refined_partitions(root)
    chosen = list(kinds) if kinds is not None else list(partitions)
    statements = []
    for kind in chosen:
        found = partitions.get(kind, [])
        if engine == "athena" and found:
            statements.append(_athena(root, kind, found))
        elif engine == "trino":
            statements.append(_trino(root, kind, found))
        elif engine == "spark":
            statements.append(_spark(root, kind))
    return "\n\n".join(statements) + ("\n" if statements else "")
