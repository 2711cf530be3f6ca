"""The demo: a tenant with five scenario projects, a week of generated traffic posted through
the real ingest API, live traffic with incidents, and the processes `make demo` runs.

Installed as the `demo` app only for its `simulate_traffic` command; no product code imports it.
"""
