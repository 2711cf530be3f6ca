"""A request fact keeps the mode of the request's earliest check that carries one, and that
check's time: the request's mode when no attempt gives it. Existing facts have none, which is
what their checks carried (the raw column is new in ingestion 0005)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0008_layer_rollup_policy"),
        ("ingestion", "0005_versions_and_check_mode"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestfact",
            name="check_mode",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddField(
            model_name="requestfact",
            name="check_mode_at",
            field=models.DateTimeField(null=True),
        ),
    ]
