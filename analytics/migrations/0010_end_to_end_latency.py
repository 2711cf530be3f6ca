# End-to-end latency per request: the request facts gain their attempts' latency sum
# (routing_latency_ms, 0 when absent, + latency_ms), the request rollups a sketch of each
# request's end-to-end latency (attempts + checks), over requests with an attempt.
#
# Facts made before hold no attempt latency: every hour that has request rollups is rebuilt
# from its raw events (analytics.rollups.rebuild), which recomputes its requests' facts and
# the sketches exactly as the rollup job now makes them, so a late event later takes away the
# value that was added. Hours whose raw events retention already dropped keep empty sketches.

from django.db import migrations, models


def facts_and_sketches_rebuilt(apps, schema_editor):  # noqa: ARG001 - the migration's signature
    # The rebuild is 0011's now: the live code writes the columns 0011 adds, which do not
    # exist yet here, and 0011 rebuilds the same facts and rollups, end-to-end sketches too.
    return


class Migration(migrations.Migration):
    dependencies = [("analytics", "0009_request_fact_check_mode")]

    operations = [
        migrations.AddField(
            model_name="requestfact",
            name="attempt_latency_ms",
            field=models.FloatField(default=0),
        ),
        migrations.AddField(
            model_name="requestrollup",
            name="end_to_end_sketch",
            field=models.BinaryField(default=b""),
        ),
        migrations.RunPython(facts_and_sketches_rebuilt, migrations.RunPython.noop),
    ]
