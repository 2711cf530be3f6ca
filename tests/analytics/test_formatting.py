"""Numbers for people, the same on the dashboard and in the digest: money in cents (four
places only for fractions of a cent), ratios, multiples, budget states, and CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from analytics.formatting import (
    BUDGET_STATUS_LABELS,
    csv_cell,
    multiple,
    percent,
    ratio_percent,
    usd,
)
from analytics.metrics.budgets import BudgetStatus
from governance.models import Budget


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("0.50"), "$0.50"),
        ("0.500000", "$0.50"),
        (Decimal("0"), "$0.00"),
        ("0.0035", "$0.0035"),
        ("0.035", "$0.0350"),
        ("1234.567", "$1,234.57"),
        ("1.005", "$1.01"),
        ("-0.25", "-$0.25"),
        ("-0.0035", "-$0.0035"),
        (0.1 + 0.2, "$0.30"),  # a chart tick: the float's noise is not a fraction of a cent
        (2.5, "$2.50"),
        (None, "—"),
    ],
)
def test_money_is_in_cents_unless_cents_would_hide_it(amount, shown):
    assert usd(amount) == shown


def test_a_missing_figure_can_be_named_otherwise():
    assert usd(None, na="n/a") == ratio_percent(None, na="n/a") == multiple(None, na="n/a")
    assert usd(None, na="n/a") == "n/a"


def test_rates_ratios_and_multiples():
    assert percent(0.25) == "25.0%" and percent(0.0005) == "0.05%" and percent(0) == "0.00%"
    assert ratio_percent(19.0) == "1,900%" and ratio_percent(-0.5) == "-50%"
    assert multiple(20) == "20.00x"


@pytest.mark.parametrize(
    ("spent", "forecast", "label"),
    [("10", "50", "on track"), ("60", "120", "forecast to exceed"), ("100", "150", "exceeded")],
)
def test_every_budget_status_has_its_label(spent, forecast, label):
    status = BudgetStatus(
        budget=Budget(amount_usd=Decimal(100)),
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
        spent=Decimal(spent),
        run_rate_per_day=Decimal(1),
        forecast=Decimal(forecast),
        percent=float(spent),
    ).status
    assert BUDGET_STATUS_LABELS[status] == label


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil","x")', "+1+1", "-1+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1", "\r=1"],
)
def test_csv_text_that_looks_like_a_formula_is_quoted(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["gpt-5.4", "-0.200000", "+1.5", 42, -3, None, ""])
def test_csv_numbers_and_plain_text_are_kept(value):
    assert csv_cell(value) == value
