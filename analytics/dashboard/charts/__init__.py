"""Charts as SVG markup rendered on the server: no script, no third-party asset.

Every point, bar and segment carries an SVG `<title>`, so hovering shows its exact value;
axes have visible tick labels and a title, and a legend names each series and threshold.
All text is escaped; the functions are pure (data in, markup out). Pages import this package
(`from analytics.dashboard import charts`); its modules are the parts of the drawing.
"""

from analytics.dashboard.charts.bars import bar_chart, hbar_chart, stacked_time_bars
from analytics.dashboard.charts.canvas import color
from analytics.dashboard.charts.inputs import Bars, Format, Series, Threshold
from analytics.dashboard.charts.lines import line_chart
from analytics.dashboard.charts.scales import nice_top, point_label, time_label, time_ticks

__all__ = [
    "Bars",
    "Format",
    "Series",
    "Threshold",
    "bar_chart",
    "color",
    "hbar_chart",
    "line_chart",
    "nice_top",
    "point_label",
    "stacked_time_bars",
    "time_label",
    "time_ticks",
]
