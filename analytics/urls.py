from django.urls import path

from analytics.api import views

urlpatterns = [
    path("metrics/summary", views.SummaryView.as_view(), name="metrics-summary"),
    path("metrics/models", views.ModelsView.as_view(), name="metrics-models"),
    path("metrics/layers", views.LayersView.as_view(), name="metrics-layers"),
    path("metrics/timeseries", views.TimeseriesView.as_view(), name="metrics-timeseries"),
    path("drift", views.DriftView.as_view(), name="drift"),
]
