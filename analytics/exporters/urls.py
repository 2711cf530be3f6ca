from django.urls import path

from analytics.exporters.views import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="prometheus-metrics"),
]
