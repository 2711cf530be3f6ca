"""Top-level URLs: the admin, the versioned API and its OpenAPI schema and docs, OTLP/HTTP
trace intake (`/v1/traces`), and the Prometheus endpoint."""

from csp.constants import SELF
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("ingestion.urls")),
    path("api/v1/", include("analytics.urls")),
    path("", include("ingestion.otlp.urls")),  # /v1/traces
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # Swagger UI's stylesheet draws its icons as data: images (inert); only this page
        # allows them.
        csp_update({"img-src": [SELF, "data:"]})(SpectacularSwaggerView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("", include("analytics.exporters.urls")),  # /metrics
    path("", include("analytics.dashboard.urls")),  # /, /dashboard/..., /accounts/...
]
