# The judgements that opened or resolved an incident, indexed apart: the comparison reads the
# window's model incidents from them (analytics.metrics.incidents), a few rows among one
# judgement a minute per rule and scope.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("analytics", "0011_request_checks")]

    operations = [
        migrations.AddIndex(
            model_name="alertevaluation",
            index=models.Index(
                condition=models.Q(
                    ("state_after__in", ["pending", "firing"]),
                    ("state_before__in", ["", "resolved"]),
                ),
                fields=["rule", "evaluated_at"],
                name="alert_eval_opened",
            ),
        ),
        migrations.AddIndex(
            model_name="alertevaluation",
            index=models.Index(
                condition=models.Q(
                    ("state_after", "resolved"), ("state_before__in", ["pending", "firing"])
                ),
                fields=["rule", "scope", "evaluated_at"],
                name="alert_eval_resolved",
            ),
        ),
    ]
