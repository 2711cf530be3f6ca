# The version rollups' unique index also holds each row's first and last event, so a rollout's
# finer read (analytics.metrics.rollouts) is an index-only scan. The old constraint goes and
# the new one comes in one transaction: the rollup job's upserts wait on the lock, none finds
# the table without its conflict target.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("analytics", "0013_version_rollups")]

    operations = [
        migrations.RemoveConstraint(model_name="versionrollup", name="version_rollup_unique"),
        migrations.AddConstraint(
            model_name="versionrollup",
            constraint=models.UniqueConstraint(
                fields=(
                    "grain",
                    "project_id",
                    "component",
                    "bucket",
                    "version",
                    "mode",
                    "service_id",
                    "environment",
                ),
                include=("first_at", "last_at"),
                name="version_rollup_unique",
            ),
        ),
    ]
