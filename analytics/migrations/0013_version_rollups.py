# Version rollups: events per minute, hour and day of each router and policy version (routing events'
# `router_version`, enforcement events' `policy_version`), which rollouts are read from.
#
# Backfilled from every raw event the rollup job has folded in so far (up to its watermarks,
# under its lock: analytics.rollups.rebuild), the same rows the job would have made; the job
# goes on from there. Months whose raw events retention dropped have none to give.

from django.db import migrations, models


def backfilled(apps, schema_editor):  # noqa: ARG001 - the migration's signature
    # The live code: it reads the raw tables and writes these rows as the rollup job does.
    from analytics.rollups.rebuild import version_rollups_rebuild_all

    version_rollups_rebuild_all()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0012_alert_evaluation_transitions"),
        # The backfill reads the version columns, through their index.
        ("ingestion", "0006_version_time_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="VersionRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "grain",
                    models.CharField(
                        choices=[("m", "minute"), ("h", "hour"), ("d", "day")], max_length=1
                    ),
                ),
                ("bucket", models.DateTimeField()),
                ("project_id", models.BigIntegerField()),
                ("service_id", models.BigIntegerField()),
                ("environment", models.CharField(max_length=64)),
                ("component", models.CharField(max_length=110)),
                ("version", models.CharField(max_length=64)),
                ("mode", models.CharField(blank=True, max_length=20)),
                ("events", models.BigIntegerField(default=0)),
                ("first_at", models.DateTimeField()),
                ("last_at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["project_id", "grain", "bucket"], name="version_rollup_window"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
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
                        name="version_rollup_unique",
                    )
                ],
            },
        ),
        migrations.RunPython(backfilled, migrations.RunPython.noop),
    ]
