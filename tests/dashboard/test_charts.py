"""Server-rendered SVG charts: exact values on hover, axes and legends, thresholds, escaping,
and an explicit message when there is nothing to draw."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from analytics.dashboard import charts
from analytics.dashboard.formatting import amount, change
from analytics.formatting import percent, usd

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
END = START + timedelta(hours=4)
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ElementTree.Element:
    """The chart must be well-formed XML (an unescaped name would break it)."""
    return ElementTree.fromstring(markup)  # noqa: S314  (our own markup, not input)


def titles(markup: str) -> list[str]:
    return [element.text or "" for element in parse(markup).iter(f"{SVG}title")]


def texts(markup: str) -> list[str]:
    """Visible texts (a text's own hover title left out)."""
    return [
        (element.text or "") + "".join(child.tail or "" for child in element)
        for element in parse(markup).iter(f"{SVG}text")
    ]


def test_line_chart_points_carry_exact_values_and_the_threshold_is_drawn():
    points = [(START + timedelta(hours=h), rate) for h, rate in enumerate([0.004, None, 0.0125])]
    markup = charts.line_chart(
        [charts.Series("Interception rate", points)],
        title="Interception",
        y_label="interception rate",
        fmt=percent,
        start=START,
        end=END,
        thresholds=[charts.Threshold(0.01, "Over-interception threshold")],
    )
    hover = titles(markup)
    assert "Interception rate · 2026-11-25 00:00 UTC: 0.40%" in hover
    assert "Interception rate · 2026-11-25 02:00 UTC: 1.25%" in hover
    assert not any("01:00 UTC: " in text and "Interception rate ·" in text for text in hover)
    assert "Over-interception threshold: 1.00%" in hover
    labels = texts(markup)
    assert "interception rate" in labels and "Time (UTC)" in labels  # axis titles
    assert "Over-interception threshold" in labels and "Interception rate" in labels  # legend
    assert "00:00" in labels and "02:00" in labels  # time ticks
    # The gap at 01:00 splits the line into two pieces rather than drawing through it.
    path = parse(markup).find(f".//{SVG}path")
    assert path is not None
    assert path.attrib["d"].count("M") == 2


def test_every_text_is_escaped():
    markup = charts.bar_chart(
        ['<script>alert("x")</script>'],
        [charts.Bars("A & B <b>", [3])],
        title='"quoted" <title>',
        y_label="checks",
        fmt=amount,
        whole=True,
    )
    assert "<script>" not in markup and "<b>" not in markup
    assert '<script>alert("x")</script> · A & B <b>: 3' in titles(markup)
    assert parse(markup).attrib["aria-label"] == '"quoted" <title>'


def test_hover_columns_list_every_series_at_a_time():
    moment = START + timedelta(hours=1)
    markup = charts.line_chart(
        [
            charts.Series("gpt-5.4", [(moment, 120.0)]),
            charts.Series("claude-opus-4.6", [(moment, 310.5)]),
        ],
        title="P95",
        y_label="ms",
        fmt=lambda v: f"{v:.1f} ms",
        start=START,
        end=END,
    )
    assert "2026-11-25 01:00 UTC\ngpt-5.4: 120.0 ms\nclaude-opus-4.6: 310.5 ms" in titles(markup)


def test_stacked_bars_show_segments_and_totals():
    times = [START, START + timedelta(hours=1)]
    markup = charts.stacked_time_bars(
        times,
        [charts.Bars("gpt-5.4", [1.5, 0]), charts.Bars("gemini-3.1-pro", [0.25, 2])],
        title="Spend",
        y_label="spend (USD)",
        fmt=usd,
        start=START,
        end=END,
        step=timedelta(hours=1),
    )
    hover = titles(markup)
    assert "gpt-5.4 · 2026-11-25 00:00 UTC: $1.50" in hover
    assert "gemini-3.1-pro · 2026-11-25 01:00 UTC: $2.00" in hover
    # No empty segment is drawn for a model without spend in an interval.
    assert not any(text.startswith("gpt-5.4 · 2026-11-25 01:00") for text in hover)


def test_horizontal_bars_label_each_row():
    markup = charts.hbar_chart(
        [("a-very-long-model-name-that-will-not-fit-here", 0.5), ("short", 0.25)],
        title="Spend by model",
        x_label="spend (USD)",
        fmt=usd,
    )
    assert "a-very-long-model-name-that-will-not-fit-here: $0.50" in titles(markup)
    assert any(text.endswith("…") for text in texts(markup))  # shortened, full name on hover
    assert "spend (USD)" in texts(markup)


def test_no_data_says_so():
    markup = charts.line_chart(
        [charts.Series("x", [(START, None)])],
        title="Empty",
        y_label="y",
        fmt=amount,
        start=START,
        end=END,
        empty="No fallbacks in this window",
    )
    assert "No fallbacks in this window" in texts(markup)
    assert parse(markup).find(f".//{SVG}circle") is None


def test_scales_and_ticks_are_round():
    assert charts.nice_top(0.0123) == (0.015, 0.005)
    assert charts.nice_top(2, whole=True) == (2.0, 1.0)
    assert charts.nice_top(0) == (1.0, 0.25)
    ticks = charts.time_ticks(START + timedelta(minutes=7), START + timedelta(hours=24))
    assert all(tick.minute == 0 for tick in ticks) and 2 <= len(ticks) <= 7
    assert re.fullmatch(r"\d\d:\d\d", charts.time_label(ticks[0], timedelta(hours=24)))


def test_a_figures_change_is_in_points_for_rates_and_roi_and_relative_for_amounts():
    assert change("rate", 0.031, 0.021, better="lower").text == "+1.00 pp"
    roi = change("roi", 0.70, 27.07, better="higher")  # ROI shown as 70% against 2,707%
    assert (roi.text, roi.tone) == ("-2,637 pp", "bad")
    assert change("money", Decimal("12"), Decimal("10"), better=None).text == "+$2.00 (+20.0%)"


def test_bars_carry_their_reference_and_a_ceiling_cuts_tall_ones():
    markup = charts.bar_chart(
        ["Routing-first", "Hybrid"],
        [
            charts.Bars("P95", [300.0, 9969.0], [(280.0, 280.0), (290.0, 290.0)]),
            charts.Bars("Escaped", [0.5, 0.01], [(150.0, 200.0), None]),
        ],
        title="Latency",
        y_label="ms",
        fmt=lambda value: f"{value:,.0f} ms",
        ceiling=1000.0,
        labels=False,
    )
    hover = titles(markup)
    assert "Routing-first · P95: article reference 280 ms" in hover
    assert "Routing-first · Escaped: article reference 150 ms to 200 ms" in hover
    assert markup.count('class="reference"') == 3  # none where a category has no reference
    assert markup.count('class="cut"') == 1  # the hybrid's 9,969 ms bar only
    assert "9,969 ms" in texts(markup) and "300 ms" not in texts(markup)  # cut bars say theirs
    assert "1,000 ms" in texts(markup)  # the axis stops at the ceiling
    assert "Article reference" in texts(markup)  # and the legend names the marks
