"""The enforcement event's optional `cost_usd`: what the check itself cost (an LLM-judge call,
a paid moderation API). Added to the partitioned parent, so every partition has it; existing
events have none (NULL), so the project's `check_cost` prices them."""

from django.db import migrations, models

FORWARD = "ALTER TABLE ingestion_enforcementevent ADD COLUMN cost_usd numeric(20, 8);"
BACKWARD = "ALTER TABLE ingestion_enforcementevent DROP COLUMN cost_usd;"


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0003_request_lookup_index")]
    operations = [
        migrations.RunSQL(
            FORWARD,
            BACKWARD,
            state_operations=[
                migrations.AddField(
                    model_name="enforcementevent",
                    name="cost_usd",
                    field=models.DecimalField(decimal_places=8, max_digits=20, null=True),
                ),
            ],
        ),
    ]
