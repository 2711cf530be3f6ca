"""Latency sketches move from JSON text to packed records (analytics.rollups.sketch): metric reads
then take each group's sketches as one bytea and read them without parsing.

The conversion runs in SQL, row by row in place, both ways."""

from django.db import migrations, models

SKETCH_COLUMNS = (
    ("analytics_attemptrollup", "latency_sketch"),
    ("analytics_attemptrollup", "routing_latency_sketch"),
    ("analytics_requestrollup", "overhead_sketch"),
    ("analytics_layerrollup", "check_latency_sketch"),
)

# Records: bucket as int4send, count as int8send; zeros under the lowest int4.
PACK = """
CREATE FUNCTION pg_temp.sketch_pack(sketch jsonb) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN COALESCE((sketch ->> 'z')::bigint, 0) <> 0
            THEN int4send(-2147483648) || int8send((sketch ->> 'z')::bigint)
            ELSE ''::bytea END
    || COALESCE((SELECT string_agg(int4send(i.value::int) || int8send(c.value::bigint), ''::bytea
                                   ORDER BY i.n)
                 FROM jsonb_array_elements_text(sketch -> 'i') WITH ORDINALITY AS i(value, n)
                 JOIN jsonb_array_elements_text(sketch -> 'c') WITH ORDINALITY AS c(value, n)
                   ON c.n = i.n), ''::bytea)
$$;
"""
UNPACK = """
CREATE FUNCTION pg_temp.sketch_json(packed bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
WITH records AS (
    SELECT k,
           ('x' || encode(substring(packed FROM k * 12 + 1 FOR 4), 'hex'))::bit(32)::int AS i,
           ('x' || encode(substring(packed FROM k * 12 + 5 FOR 8), 'hex'))::bit(64)::bigint AS c
    FROM generate_series(0, length(packed) / 12 - 1) AS k
)
SELECT json_build_object(
    'z', COALESCE((SELECT sum(c) FROM records WHERE i = -2147483648), 0),
    'i', COALESCE((SELECT json_agg(i ORDER BY k) FROM records WHERE i <> -2147483648), '[]'),
    'c', COALESCE((SELECT json_agg(c ORDER BY k) FROM records WHERE i <> -2147483648), '[]')
)::text
$$;
"""


def _alter(function: str, column_type: str) -> str:
    """One ALTER TABLE per table, so each table is rewritten once."""
    tables: dict[str, list[str]] = {}
    for table, column in SKETCH_COLUMNS:
        source = f"{column}::jsonb" if column_type == "bytea" else column
        tables.setdefault(table, []).append(
            f"ALTER COLUMN {column} TYPE {column_type} USING pg_temp.{function}({source})"
        )
    return "".join(f"ALTER TABLE {table} {', '.join(parts)};\n" for table, parts in tables.items())


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_repricing"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    PACK + _alter("sketch_pack", "bytea") + "DROP FUNCTION pg_temp.sketch_pack;",
                    UNPACK + _alter("sketch_json", "text") + "DROP FUNCTION pg_temp.sketch_json;",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name=column,
                    field=models.BinaryField(default=b""),
                )
                for model, column in (
                    ("attemptrollup", "latency_sketch"),
                    ("attemptrollup", "routing_latency_sketch"),
                    ("requestrollup", "overhead_sketch"),
                    ("layerrollup", "check_latency_sketch"),
                )
            ],
        ),
    ]
