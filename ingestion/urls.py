from django.urls import path

from ingestion.api.views import IngestView

urlpatterns = [
    path("ingest", IngestView.as_view(), name="ingest"),
]
