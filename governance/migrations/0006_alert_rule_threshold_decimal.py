"""An alert rule's threshold becomes numeric(20, 8): a cost ceiling is money (STYLE.md).

Every value is kept: PostgreSQL runs `ALTER ... TYPE numeric(20, 8) USING threshold::numeric(20,
8)`, and a double becomes a numeric through its 15 significant digits (0.1 stays 0.1, not
0.1000000000000000055...), rounded to eight places; blanks stay blank. The history table's
column changes alike. Backwards, `::double precision` gives the nearest float, as before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0005_alert_kind_rollup_mismatch"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertrule",
            name="threshold",
            field=models.DecimalField(
                blank=True,
                decimal_places=8,
                help_text="Blank: the kind's default (e.g. 0.01: 1% interception; USD for cost_overrun).",
                max_digits=20,
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="historicalalertrule",
            name="threshold",
            field=models.DecimalField(
                blank=True,
                decimal_places=8,
                help_text="Blank: the kind's default (e.g. 0.01: 1% interception; USD for cost_overrun).",
                max_digits=20,
                null=True,
            ),
        ),
    ]
