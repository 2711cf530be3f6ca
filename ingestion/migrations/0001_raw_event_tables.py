"""Create the raw event tables, partitioned by month on `timestamp`, and the shared sequence."""

from django.db import migrations, models

COMMON_COLUMNS = """
    seq bigint NOT NULL DEFAULT nextval('ingestion_event_seq'),
    ingest_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    project_id bigint NOT NULL,
    service_id bigint NOT NULL,
    event_id uuid NOT NULL,
    "timestamp" timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    request_id varchar(128) NOT NULL,
    environment varchar(64) NOT NULL,
    attributes jsonb,
"""

CREATE_SQL = f"""
CREATE SEQUENCE ingestion_event_seq;

CREATE TABLE ingestion_routingevent (
    {COMMON_COLUMNS}
    model varchar(100) NOT NULL,
    provider varchar(100) NOT NULL,
    mode varchar(20) NOT NULL,
    user_tier varchar(10) NOT NULL,
    input_tokens integer NOT NULL,
    output_tokens integer NOT NULL,
    tool_calls integer NOT NULL,
    cache_read_tokens integer NOT NULL,
    cache_write_tokens integer NOT NULL,
    reasoning_tokens integer NOT NULL,
    complexity_score double precision NOT NULL,
    complexity_computed boolean NOT NULL,
    latency_ms double precision NOT NULL,
    routing_latency_ms double precision,
    status varchar(16) NOT NULL,
    error_type varchar(200) NOT NULL,
    fallback_from varchar(100) NOT NULL,
    route_reason varchar(64) NOT NULL,
    reported_cost_usd numeric(20, 8),
    priced_cost_usd numeric(20, 8),
    price_id bigint,
    CONSTRAINT ingestion_routingevent_dedup PRIMARY KEY (project_id, event_id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE ingestion_enforcementevent (
    {COMMON_COLUMNS}
    layer varchar(16) NOT NULL,
    policy varchar(100) NOT NULL,
    verdict varchar(8) NOT NULL,
    violation varchar(100),
    severity varchar(8),
    false_positive boolean NOT NULL,
    check_latency_ms double precision NOT NULL,
    CONSTRAINT ingestion_enforcementevent_dedup PRIMARY KEY (project_id, event_id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE INDEX ingestion_routingevent_ts_brin ON ingestion_routingevent USING brin ("timestamp");
CREATE INDEX ingestion_routingevent_xid ON ingestion_routingevent (ingest_xid);
CREATE INDEX ingestion_enforcementevent_ts_brin
    ON ingestion_enforcementevent USING brin ("timestamp");
CREATE INDEX ingestion_enforcementevent_xid ON ingestion_enforcementevent (ingest_xid);
"""

DROP_SQL = """
DROP TABLE ingestion_enforcementevent;
DROP TABLE ingestion_routingevent;
DROP SEQUENCE ingestion_event_seq;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.RunSQL(CREATE_SQL, DROP_SQL),
        migrations.CreateModel(
            name="RoutingEvent",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("project_id", models.BigIntegerField()),
                ("service_id", models.BigIntegerField()),
                ("event_id", models.UUIDField()),
                ("timestamp", models.DateTimeField()),
                ("received_at", models.DateTimeField()),
                ("request_id", models.CharField(max_length=128)),
                ("environment", models.CharField(max_length=64)),
                ("attributes", models.JSONField(null=True)),
                ("model", models.CharField(max_length=100)),
                ("provider", models.CharField(max_length=100)),
                ("mode", models.CharField(max_length=20)),
                ("user_tier", models.CharField(max_length=10)),
                ("input_tokens", models.IntegerField()),
                ("output_tokens", models.IntegerField()),
                ("tool_calls", models.IntegerField()),
                ("cache_read_tokens", models.IntegerField()),
                ("cache_write_tokens", models.IntegerField()),
                ("reasoning_tokens", models.IntegerField()),
                ("complexity_score", models.FloatField()),
                ("complexity_computed", models.BooleanField()),
                ("latency_ms", models.FloatField()),
                ("routing_latency_ms", models.FloatField(null=True)),
                ("status", models.CharField(max_length=16)),
                ("error_type", models.CharField(max_length=200)),
                ("fallback_from", models.CharField(max_length=100)),
                ("route_reason", models.CharField(max_length=64)),
                (
                    "reported_cost_usd",
                    models.DecimalField(decimal_places=8, max_digits=20, null=True),
                ),
                (
                    "priced_cost_usd",
                    models.DecimalField(decimal_places=8, max_digits=20, null=True),
                ),
                ("price_id", models.BigIntegerField(null=True)),
            ],
            options={"db_table": "ingestion_routingevent", "managed": False},
        ),
        migrations.CreateModel(
            name="EnforcementEvent",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("project_id", models.BigIntegerField()),
                ("service_id", models.BigIntegerField()),
                ("event_id", models.UUIDField()),
                ("timestamp", models.DateTimeField()),
                ("received_at", models.DateTimeField()),
                ("request_id", models.CharField(max_length=128)),
                ("environment", models.CharField(max_length=64)),
                ("attributes", models.JSONField(null=True)),
                ("layer", models.CharField(max_length=16)),
                ("policy", models.CharField(max_length=100)),
                ("verdict", models.CharField(max_length=8)),
                ("violation", models.CharField(max_length=100, null=True)),
                ("severity", models.CharField(max_length=8, null=True)),
                ("false_positive", models.BooleanField()),
                ("check_latency_ms", models.FloatField()),
            ],
            options={"db_table": "ingestion_enforcementevent", "managed": False},
        ),
    ]
