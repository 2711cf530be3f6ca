"""CSV for finance: every table of the metrics API as a spreadsheet (`?format=csv`)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer

from analytics.formatting import csv_cell


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            continue  # nested tables (a drift row's mix) have their own endpoint fields
        else:
            flat[name] = "" if value is None else csv_cell(value)  # names come from ingest
    return flat


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, dict) and "rows" in data:
            rows = data["rows"]
        elif isinstance(data, dict) and "modes" in data:  # /compare: a line per mode
            rows = data["modes"]
        elif isinstance(data, dict):
            rows = [{key: value for key, value in data.items() if key != "window"}]
        else:
            rows = data or []
        flat = [_flatten(row) for row in rows]
        columns: list[str] = []
        for row in flat:
            columns.extend(key for key in row if key not in columns)
        output = io.StringIO()
        writer = csv.DictWriter(output, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(flat)
        return output.getvalue().encode()
