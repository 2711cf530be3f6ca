# Per-mode check figures: the request facts gain the layers their checks were at, their
# checks' reported cost of their own and their checks that reported none; the request rollups
# sum them with the checks (layer rollups carry no mode, so `mode=` could not narrow them).
#
# Facts made before hold none of it: every hour that has request rollups is rebuilt from its
# raw events (analytics.rollups.rebuild), which also makes the end-to-end sketches 0010 added
# (its own rebuild could not write the columns the live code now writes). Hours of months
# whose raw events retention already dropped keep zeros in the new columns.

from django.db import migrations, models


def facts_and_rollups_rebuilt(apps, schema_editor):  # noqa: ARG001 - the migration's signature
    # The live code: it reads the raw tables and writes these rows as the rollup job does.
    from analytics.rollups.rebuild import request_rollups_rebuild_all

    request_rollups_rebuild_all()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0010_end_to_end_latency"),
        ("ingestion", "0005_versions_and_check_mode"),  # the raw columns its rebuild reads
    ]

    operations = [
        migrations.AddField(
            model_name="requestfact", name="layers_mask", field=models.IntegerField(default=0)
        ),
        migrations.AddField(
            model_name="requestfact",
            name="check_cost_units",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="requestfact",
            name="unreported_checks",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="requestrollup", name="checks", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="requestrollup",
            name="layers_seen",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="requestrollup",
            name="unreported_checks",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="requestrollup",
            name="reported_check_cost_usd",
            field=models.DecimalField(decimal_places=8, default=0, max_digits=20),
        ),
        migrations.RunPython(facts_and_rollups_rebuilt, migrations.RunPython.noop),
    ]
