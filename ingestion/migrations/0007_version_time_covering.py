"""The version-time indexes (0006) carry each event's version and mode as well, so counting a
rollout's span (ingestion.selectors.version_counts) reads the index alone: the span's events
of every mode lie in one range, and without the two columns each was a visit to the table
before the mode and version could be judged. Still partial: events without a version cost
ingest nothing."""

from django.db import migrations

FORWARD = """
DROP INDEX ingestion_routingevent_version_time;
DROP INDEX ingestion_enforcementevent_version_time;
CREATE INDEX ingestion_routingevent_version_time ON ingestion_routingevent
    (project_id, "timestamp") INCLUDE (router_version, mode) WHERE router_version IS NOT NULL;
CREATE INDEX ingestion_enforcementevent_version_time ON ingestion_enforcementevent
    (project_id, policy, "timestamp") INCLUDE (policy_version, mode)
    WHERE policy_version IS NOT NULL;
"""
BACKWARD = """
DROP INDEX ingestion_routingevent_version_time;
DROP INDEX ingestion_enforcementevent_version_time;
CREATE INDEX ingestion_routingevent_version_time ON ingestion_routingevent
    (project_id, "timestamp") WHERE router_version IS NOT NULL;
CREATE INDEX ingestion_enforcementevent_version_time ON ingestion_enforcementevent
    (project_id, policy, "timestamp") WHERE policy_version IS NOT NULL;
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0006_version_time_index")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
