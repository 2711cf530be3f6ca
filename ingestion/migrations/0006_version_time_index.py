"""The events carrying a version, by project and time: rollouts count each rollout's span of a
component's events (ingestion.selectors.version_counts) by exact timestamps, and the span is
minutes long where the table holds months. Partial, so events without a version cost ingest
nothing; created on the partitioned parents, so every partition has them."""

from django.db import migrations

FORWARD = """
CREATE INDEX ingestion_routingevent_version_time ON ingestion_routingevent
    (project_id, "timestamp") WHERE router_version IS NOT NULL;
CREATE INDEX ingestion_enforcementevent_version_time ON ingestion_enforcementevent
    (project_id, policy, "timestamp") WHERE policy_version IS NOT NULL;
"""
BACKWARD = """
DROP INDEX ingestion_routingevent_version_time;
DROP INDEX ingestion_enforcementevent_version_time;
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0005_versions_and_check_mode")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
