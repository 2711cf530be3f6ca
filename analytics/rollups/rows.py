"""Rows of the rollup job: what each raw event adds to the attempt and layer rollups, and what
it tells about its request (folded into the request facts by analytics.rollups.facts).

The same rows serve the job's chunks (analytics.rollups.job), a repricing's hour
(analytics.repricing.job) and a rebuild from raw events (analytics.rollups.rebuild), so the
three make the same figures of the same events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.rollups.facts import FACT_COLUMNS, FACT_FLAGS, LAYER_BITS, LAYER_ORDER
from analytics.rollups.families import ATTEMPTS, LAYERS
from governance.pricing import calls_price
from governance.selectors import baseline_model_name, complexity_bands, price_book_for_project

# --- Routing events ----------------------------------------------------------------------


def routing_request_rows(events: pd.DataFrame) -> pd.DataFrame:
    """What routing events tell about their requests."""
    return _request_rows(
        events,
        model=events["model"],
        mode=events["mode"],
        first_attempt_at=events["timestamp"],
        attempts=1,
        ok_attempts=(events["status"] == "ok").astype("int64"),
        # The attempt's part of its request's end-to-end latency: routing decision + call.
        attempt_latency_ms=(
            events["latency_ms"].astype("float64")
            + events["routing_latency_ms"].astype("float64").fillna(0.0)
        ),
    )


def attempt_event_rows(events: pd.DataFrame) -> pd.DataFrame:
    """What each routing event adds to the attempt rollups, with `cost_units` as its cost
    (NA when unpriced)."""
    is_fallback = events["fallback_from"] != ""
    cost_units = events["cost_units"].astype("Int64")
    priced = cost_units.notna()
    baseline_units = _baseline_units(events, priced)
    cost = cost_units.fillna(0).astype("int64")
    return pd.DataFrame(
        {
            "bucket": events["timestamp"],
            **{name: events[name] for name in ATTEMPTS.dims},
            "attempts": 1,
            "errors": (events["status"] != "ok").astype("int64"),
            "fallbacks": is_fallback.astype("int64"),
            "nonfallback_attempts": (~is_fallback).astype("int64"),
            "conforming_attempts": _conforming(events, is_fallback).astype("int64"),
            "unpriced_attempts": (~priced).astype("int64"),
            "input_tokens": events["input_tokens"],
            "output_tokens": events["output_tokens"],
            "cache_read_tokens": events["cache_read_tokens"],
            "cache_write_tokens": events["cache_write_tokens"],
            "reasoning_tokens": events["reasoning_tokens"],
            "routing_latency_count": events["routing_latency_ms"].notna().astype("int64"),
            "latency_sum_ms": events["latency_ms"],
            "routing_latency_sum_ms": events["routing_latency_ms"].fillna(0.0),
            "cost_usd": cost,
            "baseline_cost_usd": baseline_units.fillna(0).astype("int64"),
            "baseline_actual_cost_usd": cost.where(baseline_units.notna(), 0),
            "latency_ms": events["latency_ms"],
            "routing_latency_ms": events["routing_latency_ms"],
        }
    )


def _conforming(events: pd.DataFrame, is_fallback: pd.Series) -> pd.Series:
    """Whether each non-fallback attempt went to the model its complexity band names."""
    conforming = pd.Series(False, index=events.index)
    for project_id, rows in events.groupby("project_id"):
        bands = complexity_bands(project_id=int(project_id))
        if not bands:
            continue
        lows = np.array([low for low, _, _ in bands])
        highs = np.array([high for _, high, _ in bands])
        models = np.array([model for _, _, model in bands], dtype=object)
        scores = rows["complexity_score"].to_numpy(dtype=np.float64)
        index = np.searchsorted(lows, scores, side="right") - 1
        inside = index >= 0
        safe = np.where(inside, index, 0)
        last = safe == len(bands) - 1
        inside &= (scores < highs[safe]) | (last & (scores <= highs[safe]))  # last band closed
        expected = np.where(inside, models[safe], np.array(None, dtype=object))
        matches = (rows["model"].to_numpy(dtype=object) == expected) & inside
        conforming.loc[rows.index] = matches & ~is_fallback.loc[rows.index].to_numpy()
    return conforming


def _baseline_units(events: pd.DataFrame, priced: pd.Series) -> pd.Series:
    """What each priced attempt would have cost on its project's baseline model, in 1e-8 USD,
    priced exactly as ingest prices; NA where the baseline has no price at that time."""
    result = pd.Series(pd.NA, index=events.index, dtype="Int64")
    for project_id, rows in events[priced].groupby("project_id"):
        name = baseline_model_name(project_id=int(project_id))
        entry = price_book_for_project(project_id=int(project_id)).entry(name) if name else None
        if entry is None:
            continue
        baseline = calls_price(entry, **calls_of(rows))
        result.loc[rows.index[baseline.has_price]] = baseline.units[baseline.has_price]
    return result


def calls_of(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The arguments of `calls_price` for these routing events."""
    return {
        "moments_us": rows["timestamp"].dt.as_unit("us").astype("int64").to_numpy(),
        **{name: rows[name].to_numpy(dtype=np.int64) for name in TOKEN_COLUMNS},
    }


TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


# --- Enforcement events ------------------------------------------------------------------


def enforcement_rows(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a chunk of enforcement events adds to the layer rollups (a row per event), and
    what they tell about their requests."""
    pre_delivery = events["layer"] != "review"
    review = ~pre_delivery
    block = events["verdict"] == "block"
    modify = events["verdict"] == "modify"
    violation = events["violation"].notna()
    false_positive = events["false_positive"].astype(bool)
    events["intercepted"] = pre_delivery & (block | modify)
    events["blocked"] = pre_delivery & block
    events["modified"] = pre_delivery & modify
    events["violation_detected"] = violation
    events["caught"] = events["intercepted"] & violation
    events["escaped"] = review & violation & ~false_positive
    events["false_positive"] = review & false_positive

    check_cost = events["check_cost_units"].astype("Int64")  # NA: not reported
    checks = pd.DataFrame(
        {
            "bucket": events["timestamp"],
            **{name: events[name] for name in LAYERS.dims},
            "checks": 1,
            "blocks": block.astype("int64"),
            "modifies": modify.astype("int64"),
            "flags": (events["verdict"] == "flag").astype("int64"),
            "violations": violation.astype("int64"),
            # A review that overturns a block or modify names the overturned check's policy.
            "false_positives": events["false_positive"].astype("int64"),
            "unreported_checks": check_cost.isna().astype("int64"),
            "reported_check_cost_usd": check_cost.fillna(0).astype("int64"),
            "check_latency_ms": events["check_latency_ms"],
        }
    )
    return checks, _request_rows(
        events,
        checks=1,
        check_latency_ms=events["check_latency_ms"],
        check_mode=events["check_mode"],
        layers_mask=events["layer"].map(LAYER_BITS).fillna(0).astype("int64"),
        check_cost_units=checks["reported_check_cost_usd"],
        unreported_checks=checks["unreported_checks"],
        **{flag: events[flag] for flag in FACT_FLAGS},
    )


# --- Shared steps ------------------------------------------------------------------------

REQUEST_ROW_DEFAULTS: dict[str, object] = {
    "model": None,  # None where a stream does not know
    "mode": None,
    "first_attempt_at": pd.NaT,
    "attempts": 0,
    "ok_attempts": 0,
    "checks": 0,
    "check_latency_ms": 0.0,
    "attempt_latency_ms": 0.0,
    "check_mode": "",  # "" where the event is no check or carries no mode
    "layers_mask": 0,
    "check_cost_units": 0,
    "unreported_checks": 0,
    **dict.fromkeys(FACT_FLAGS, False),
}
REQUEST_SUMS = (
    "attempts", "ok_attempts", "checks", "check_latency_ms", "attempt_latency_ms",
    "check_cost_units", "unreported_checks",
)  # fmt: skip


def _request_rows(events: pd.DataFrame, **known: object) -> pd.DataFrame:
    """One row per event with what it tells about its request; neutral values elsewhere."""
    rows = events[["project_id", "request_id", "timestamp", "seq", "service_id", "environment"]]
    return rows.assign(**{**REQUEST_ROW_DEFAULTS, **known})


def request_deltas(rows: pd.DataFrame) -> pd.DataFrame:
    """Per request of a chunk, both streams together: the dimensions of its earliest event,
    model and mode of its earliest attempt, the mode of its earliest check that carries one
    (with that check's time, so a later chunk can tell which came first), and the sums and
    flags to fold into its fact."""
    ordered = rows.sort_values(["timestamp", "seq"], kind="stable").reset_index(drop=True)
    codes = ordered.groupby(["project_id", "request_id"], sort=False).ngroup().to_numpy()
    firsts = np.unique(codes, return_index=True)[1]  # each request's earliest event
    facts = ordered.loc[firsts, ["project_id", "request_id", "timestamp", "service_id"]]
    facts = facts.rename(columns={"timestamp": "first_seen"}).reset_index(drop=True)
    facts["environment"] = ordered["environment"].to_numpy()[firsts]
    attempts = np.flatnonzero(ordered["attempts"].to_numpy() > 0)
    with_attempt, first_attempts = np.unique(codes[attempts], return_index=True)
    earliest = attempts[first_attempts]  # each request's earliest attempt, where it has one
    for name, missing in (("model", ""), ("mode", ""), ("first_attempt_at", pd.NaT)):
        column = pd.Series(missing, index=facts.index, dtype=object)
        column.iloc[with_attempt] = ordered[name].to_numpy()[earliest]
        facts[name] = column
    facts["first_attempt_at"] = pd.to_datetime(facts["first_attempt_at"], utc=True)
    _earliest_of(facts, ordered, codes, ordered["check_mode"].to_numpy() != "", "check_mode")
    grouped = ordered.groupby(codes, sort=True)
    sums = grouped[list(REQUEST_SUMS)].sum().reset_index(drop=True)
    flags = grouped[list(FACT_FLAGS)].any().reset_index(drop=True)
    # The layers a request's checks were at: each layer's bit OR-ed over its rows.
    masks = ordered["layers_mask"].to_numpy(dtype=np.int64)
    bits = pd.DataFrame({bit: (masks >> bit) & 1 for bit in range(len(LAYER_ORDER))})
    seen = bits.groupby(codes, sort=True).max().to_numpy()
    facts["layers_mask"] = (seen << np.arange(len(LAYER_ORDER))).sum(axis=1).astype(np.int64)
    return pd.concat([facts, sums, flags], axis=1)


def _earliest_of(
    facts: pd.DataFrame, ordered: pd.DataFrame, codes: np.ndarray, where: np.ndarray, name: str
) -> None:
    """Set `name` (and `<name>_at`, its event's time) on each request's fact from its
    earliest row (`ordered` is in time order) where `where` holds: "" and NaT where none."""
    rows = np.flatnonzero(where)
    found, first = np.unique(codes[rows], return_index=True)
    values = pd.Series("", index=facts.index, dtype=object)
    values.iloc[found] = ordered[name].to_numpy()[rows[first]]
    moments = pd.Series(pd.NaT, index=facts.index, dtype="datetime64[ns, UTC]")
    moments.iloc[found] = pd.to_datetime(ordered["timestamp"].to_numpy()[rows[first]], utc=True)
    facts[name] = values
    facts[f"{name}_at"] = moments


# --- For a rebuild from raw events (analytics.rollups.rebuild) ---------------------------


def layer_event_rows(events: pd.DataFrame) -> pd.DataFrame:
    """What each enforcement event adds to the layer rollups (as for `grain_deltas`)."""
    return enforcement_rows(events.copy())[0] if not events.empty else events


def request_facts_of(routing: pd.DataFrame, enforcement: pd.DataFrame) -> pd.DataFrame:
    """The request facts (FACT_COLUMNS) that all these events make, folded together: what
    the job's upserts leave once every event of each request is in."""
    rows = []
    if not routing.empty:
        rows.append(routing_request_rows(routing))
    if not enforcement.empty:
        rows.append(enforcement_rows(enforcement.copy())[1])
    if not rows:
        return pd.DataFrame(columns=list(FACT_COLUMNS))
    return request_deltas(pd.concat(rows, ignore_index=True))[list(FACT_COLUMNS)]
