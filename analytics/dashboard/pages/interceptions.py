"""The latest requests a layer or a policy blocked or modified in the page's window, each
linking to its request page; read from the raw checks through ingestion.selectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from analytics.dashboard.filters import BadSelection, Selection
from analytics.metrics.breakdowns import LAYER_ORDER as LAYERS
from ingestion.selectors import interceptions_latest

ROWS_SHOWN = 50


@dataclass(frozen=True)
class Narrowing:
    """The layer the list is narrowed to ("" for any); the policy is a filter of every page."""

    layer: str

    @property
    def params(self) -> dict[str, str]:
        return {"layer": self.layer} if self.layer else {}


def narrowing_from(params: Mapping[str, str]) -> Narrowing:
    """`?layer=` of the URL, or BadSelection when it names no layer."""
    layer = params.get("layer", "").strip()
    if layer and layer not in LAYERS:
        raise BadSelection("layer", f"must be one of {', '.join(LAYERS)}")
    return Narrowing(layer=layer)


def interceptions_context(selection: Selection, *, narrowing: Narrowing) -> dict[str, Any]:
    """The interceptions page: the newest block and modify checks of the selection's
    projects and services in its window (model and mode do not apply to checks)."""
    query = selection.query
    rows = interceptions_latest(
        project_ids=query.project_ids,
        start=query.window.start,
        end=query.window.end,
        service_ids=query.service_ids,
        layer=narrowing.layer or None,
        policy=query.policy,
        limit=ROWS_SHOWN,
    )
    kept = narrowing.params
    suffix = f"&{urlencode(kept)}" if kept else ""
    return {
        "interceptions": rows,
        "rows_shown": ROWS_SHOWN,
        "narrowing": narrowing,
        "policy": query.policy or "",
        "layers": LAYERS,
        # The filter bar and the range links keep the layer.
        "extra_filters": sorted(kept.items()),
        "narrowing_suffix": suffix,
        "model_filtered": bool(query.model or query.mode),
    }
