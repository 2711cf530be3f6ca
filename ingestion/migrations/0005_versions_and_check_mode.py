"""The routing event's optional `router_version`, the enforcement event's optional `mode` and
`policy_version`. Added to the partitioned parents, so every partition has them; existing events
have none (NULL): a request's mode then comes from its attempts alone, as before."""

from django.db import migrations, models

FORWARD = """
ALTER TABLE ingestion_routingevent ADD COLUMN router_version varchar(64);
ALTER TABLE ingestion_enforcementevent ADD COLUMN mode varchar(20),
    ADD COLUMN policy_version varchar(64);
"""
BACKWARD = """
ALTER TABLE ingestion_routingevent DROP COLUMN router_version;
ALTER TABLE ingestion_enforcementevent DROP COLUMN mode, DROP COLUMN policy_version;
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0004_enforcement_check_cost")]
    operations = [
        migrations.RunSQL(
            FORWARD,
            BACKWARD,
            state_operations=[
                migrations.AddField(
                    model_name="routingevent",
                    name="router_version",
                    field=models.CharField(max_length=64, null=True),
                ),
                migrations.AddField(
                    model_name="enforcementevent",
                    name="mode",
                    field=models.CharField(max_length=20, null=True),
                ),
                migrations.AddField(
                    model_name="enforcementevent",
                    name="policy_version",
                    field=models.CharField(max_length=64, null=True),
                ),
            ],
        ),
    ]
