"""Index the ingest order (transaction, then sequence) that the rollup job reads by."""

from django.db import migrations

FORWARD = """
DROP INDEX ingestion_routingevent_xid;
DROP INDEX ingestion_enforcementevent_xid;
CREATE INDEX ingestion_routingevent_ingest_order ON ingestion_routingevent (ingest_xid, seq);
CREATE INDEX ingestion_enforcementevent_ingest_order
    ON ingestion_enforcementevent (ingest_xid, seq);
"""

BACKWARD = """
DROP INDEX ingestion_routingevent_ingest_order;
DROP INDEX ingestion_enforcementevent_ingest_order;
CREATE INDEX ingestion_routingevent_xid ON ingestion_routingevent (ingest_xid);
CREATE INDEX ingestion_enforcementevent_xid ON ingestion_enforcementevent (ingest_xid);
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0001_raw_event_tables")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
