"""The dashboard's pages, the alert actions, and sign-in / sign-out (all under one include
from the project's URLs, at the site root)."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from analytics.dashboard import views
from analytics.dashboard.auth import DashboardLoginView

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", DashboardLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),  # POST only
    path("dashboard/", views.overview, name="overview"),
    path("dashboard/reliability/", views.reliability, name="reliability"),
    path("dashboard/enforcement/", views.enforcement, name="enforcement"),
    path("dashboard/enforcement/interceptions/", views.interceptions, name="interceptions"),
    path("dashboard/routing/", views.routing, name="routing"),
    path("dashboard/cost/", views.cost, name="cost"),
    path("dashboard/cost.csv", views.cost_csv, name="cost-csv"),
    path("dashboard/architectures/", views.architectures, name="architectures"),
    path("dashboard/alerts/", views.alerts, name="alerts"),
    path("dashboard/alerts/<str:alert_id>/", views.alert_detail, name="alert"),
    path("dashboard/requests/", views.request_search, name="request-search"),
    path("dashboard/requests/<path:request_id>/", views.request_detail, name="request"),
    path(
        "dashboard/alerts/<int:alert_id>/acknowledge",
        views.alert_acknowledge_view,
        name="alert-acknowledge",
    ),
    path("dashboard/alerts/<int:alert_id>/silence", views.alert_silence_view, name="alert-silence"),
]
