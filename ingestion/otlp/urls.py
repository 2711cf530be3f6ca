"""OTLP/HTTP's standard path, mounted at the site's root so an exporter's
`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8000` finds `/v1/traces`."""

from django.urls import path

from ingestion.api.otlp import OtlpTracesView

urlpatterns = [
    path("v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
]
