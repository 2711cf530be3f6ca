from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo and the traffic generator; an app only so `simulate_traffic` is a command."""

    name = "tollgate.demo"
    label = "demo"
