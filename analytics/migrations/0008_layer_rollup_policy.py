# Policies as a rolled-up dimension: the layer rollups gain `policy` (in their unique key), the
# false positives counted on a policy, and the checks' own cost (reported, and the checks that
# reported none, priced at read time with the project's check cost).
#
# Stored rows hold no policy. Every hour that has layer rollups is rebuilt from its raw
# enforcement events (analytics.rollups.rebuild), which splits its minutes, the hour and its
# day by policy exactly as the rollup job now makes them. Hours whose raw events retention
# already dropped cannot be split: they keep their figures under the policy "(unrecorded)".

from django.db import migrations, models

UNRECORDED = "(unrecorded)"


def split_by_policy(apps, schema_editor):  # noqa: ARG001 - the migration's signature
    # The live code: it reads the raw tables and writes these rows as the rollup job does.
    from analytics.rollups.rebuild import layer_rollups_rebuild_all

    layer_rollups_rebuild_all()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0007_outbox_failed"),
        # The rebuild below reads the raw columns as the live code does, the check's mode too.
        ("ingestion", "0005_versions_and_check_mode"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="layerrollup", name="layer_rollup_unique"),
        migrations.AddField(
            model_name="layerrollup",
            name="policy",
            field=models.CharField(default=UNRECORDED, max_length=100),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="layerrollup",
            name="false_positives",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="layerrollup",
            name="unreported_checks",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="layerrollup",
            name="reported_check_cost_usd",
            field=models.DecimalField(decimal_places=8, default=0, max_digits=20),
        ),
        # Rows made before this migration counted no check cost: they are unreported checks.
        migrations.RunSQL(
            "UPDATE analytics_layerrollup SET unreported_checks = checks;", migrations.RunSQL.noop
        ),
        migrations.AddConstraint(
            model_name="layerrollup",
            constraint=models.UniqueConstraint(
                fields=(
                    "grain",
                    "bucket",
                    "project_id",
                    "service_id",
                    "environment",
                    "layer",
                    "policy",
                ),
                name="layer_rollup_unique",
            ),
        ),
        migrations.RunPython(split_by_policy, migrations.RunPython.noop),
    ]
