from django.urls import path

from analytics.api import advice, alerts, requests, views

urlpatterns = [
    path("metrics/summary", views.SummaryView.as_view(), name="metrics-summary"),
    path("metrics/models", views.ModelsView.as_view(), name="metrics-models"),
    path("metrics/layers", views.LayersView.as_view(), name="metrics-layers"),
    path("metrics/policies", views.PoliciesView.as_view(), name="metrics-policies"),
    path("metrics/timeseries", views.TimeseriesView.as_view(), name="metrics-timeseries"),
    path("drift", views.DriftView.as_view(), name="drift"),
    path("compare", views.CompareView.as_view(), name="compare"),
    path("advice", advice.AdviceView.as_view(), name="advice"),
    path("requests/<path:request_id>", requests.RequestView.as_view(), name="request"),
    path("budgets", alerts.BudgetsView.as_view(), name="budgets"),
    path("alerts", alerts.AlertsView.as_view(), name="alerts"),
    path(
        "alerts/<str:alert_id>/acknowledge",
        alerts.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
    path("alerts/<str:alert_id>/silence", alerts.AlertSilenceView.as_view(), name="alert-silence"),
]
