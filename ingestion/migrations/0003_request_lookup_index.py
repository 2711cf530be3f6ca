"""Index each stream by (project, request) so one request's events are found without scanning
every partition (the request page and `GET /api/v1/requests/<id>`)."""

from django.db import migrations

FORWARD = """
CREATE INDEX ingestion_routingevent_request
    ON ingestion_routingevent (project_id, request_id);
CREATE INDEX ingestion_enforcementevent_request
    ON ingestion_enforcementevent (project_id, request_id);
"""

BACKWARD = """
DROP INDEX ingestion_routingevent_request;
DROP INDEX ingestion_enforcementevent_request;
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0002_ingest_order_index")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
