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
POLICY_MAX_LENGTH = 100  # the column's length: a longer name cannot match


@dataclass(frozen=True)
class Narrowing:
    """The layer and policy the list is narrowed to ("" for any)."""

    layer: str
    policy: str

    @property
    def params(self) -> dict[str, str]:
        return {
            name: value for name, value in (("layer", self.layer), ("policy", self.policy)) if value
        }


def narrowing_from(params: Mapping[str, str]) -> Narrowing:
    """`?layer=&policy=` of the URL, or BadSelection naming the one that cannot match."""
    layer = params.get("layer", "").strip()
    policy = params.get("policy", "").strip()
    if layer and layer not in LAYERS:
        raise BadSelection("layer", f"must be one of {', '.join(LAYERS)}")
    if len(policy) > POLICY_MAX_LENGTH or "\x00" in policy:
        raise BadSelection("policy", f"a policy name has at most {POLICY_MAX_LENGTH} characters")
    return Narrowing(layer=layer, policy=policy)


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
        policy=narrowing.policy or None,
        limit=ROWS_SHOWN,
    )
    kept = narrowing.params
    suffix = f"&{urlencode(kept)}" if kept else ""
    return {
        "interceptions": rows,
        "rows_shown": ROWS_SHOWN,
        "narrowing": narrowing,
        "layers": LAYERS,
        # The filter bar and the range links keep the layer and policy.
        "extra_filters": sorted(kept.items()),
        "narrowing_suffix": suffix,
        "model_filtered": bool(query.model or query.mode),
    }
