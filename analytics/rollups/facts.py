"""Request facts: the rollup job folds each chunk's per-request deltas into them with one
upsert, and reads back how each touched request's contribution to the request rollups moved.

A request's fact sums what all of its events (of both streams) told so far; its contribution
to the request rollups (a request counted once, in the minute of its earliest event) is taken
away as it was and added as it is now, because a late event changes what its request counts
as.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.db.backends.base.base import BaseDatabaseWrapper

from analytics.rollups.families import REQUESTS
from tollgate.db.sql import (
    column_values,
    copy_rows,
    csv_aggregate,
    csv_frame,
    epoch_us,
    execute,
    fetch_rows,
)

FACT_FLAGS = (
    "intercepted", "blocked", "modified", "violation_detected", "caught", "escaped",
    "false_positive",
)  # fmt: skip
FACT_COLUMNS = (
    "project_id", "request_id", "first_seen", "service_id", "environment", "first_attempt_at",
    "model", "mode", "attempts", "ok_attempts", "checks", "check_latency_ms", *FACT_FLAGS,
    "check_mode", "check_mode_at", "attempt_latency_ms", "layers_mask", "check_cost_units",
    "unreported_checks",
)  # fmt: skip
FACT_TYPES = (
    "int8", "text", "timestamptz", "int8", "text", "timestamptz", "text", "text", "int4", "int4",
    "int4", "float8", *("bool",) * len(FACT_FLAGS), "text", "timestamptz",
    "float8", "int4", "int8", "int4",
)  # fmt: skip
# The event schema's layers, in the order requests meet them; a fact's `layers_mask` has bit
# i set once a check at LAYER_ORDER[i] was seen.
LAYER_ORDER = ("preprocess", "routing", "execution", "verification", "review")
LAYER_BITS = {layer: 1 << index for index, layer in enumerate(LAYER_ORDER)}
FACT_UPSERT = f"""
INSERT INTO analytics_requestfact AS f ({", ".join(FACT_COLUMNS)})
SELECT {", ".join(FACT_COLUMNS)} FROM staged
ON CONFLICT (project_id, request_id) DO UPDATE SET
    first_seen = LEAST(f.first_seen, EXCLUDED.first_seen),
    service_id = CASE WHEN EXCLUDED.first_seen < f.first_seen THEN EXCLUDED.service_id ELSE f.service_id END,
    environment = CASE WHEN EXCLUDED.first_seen < f.first_seen THEN EXCLUDED.environment ELSE f.environment END,
    model = CASE WHEN EXCLUDED.first_attempt_at < f.first_attempt_at OR f.first_attempt_at IS NULL
                 THEN EXCLUDED.model ELSE f.model END,
    mode = CASE WHEN EXCLUDED.first_attempt_at < f.first_attempt_at OR f.first_attempt_at IS NULL
                THEN EXCLUDED.mode ELSE f.mode END,
    first_attempt_at = LEAST(f.first_attempt_at, EXCLUDED.first_attempt_at),
    check_mode = CASE WHEN EXCLUDED.check_mode_at < f.check_mode_at OR f.check_mode_at IS NULL
                      THEN EXCLUDED.check_mode ELSE f.check_mode END,
    check_mode_at = LEAST(f.check_mode_at, EXCLUDED.check_mode_at),
    attempts = f.attempts + EXCLUDED.attempts,
    ok_attempts = f.ok_attempts + EXCLUDED.ok_attempts,
    checks = f.checks + EXCLUDED.checks,
    check_latency_ms = f.check_latency_ms + EXCLUDED.check_latency_ms,
    attempt_latency_ms = f.attempt_latency_ms + EXCLUDED.attempt_latency_ms,
    layers_mask = f.layers_mask | EXCLUDED.layers_mask,
    check_cost_units = f.check_cost_units + EXCLUDED.check_cost_units,
    unreported_checks = f.unreported_checks + EXCLUDED.unreported_checks,
    {", ".join(f"{flag} = f.{flag} OR EXCLUDED.{flag}" for flag in FACT_FLAGS)}
"""


FACT_LIST = ", ".join(FACT_COLUMNS)
FACT_KEY = ("project_id", "request_id")
FACT_STAGE = "stage_analytics_requestfact"
# What a request's contribution to the request rollups is made of, as read back.
FOLDED_COLUMNS = (
    "sign", "project_id", "request_id", "first_seen", "service_id", "environment", "model",
    "mode", "attempts", "ok_attempts", "checks", "check_latency_ms", *FACT_FLAGS, "check_mode",
    "attempt_latency_ms", "layers_mask", "check_cost_units", "unreported_checks",
)  # fmt: skip
FOLDED_TEXT = ("request_id", "environment", "model", "mode", "check_mode")
FOLDED_TYPES = {
    **dict.fromkeys(FOLDED_COLUMNS, "int64"),
    **dict.fromkeys(FOLDED_TEXT, "str"),
    "check_latency_ms": "float64",
    "attempt_latency_ms": "float64",
    **dict.fromkeys(FACT_FLAGS, "bool"),
}


def _folded_select(sign: int, alias: str) -> str:
    """FOLDED_COLUMNS of the facts `alias`, first_seen as microseconds since the epoch."""
    expressions = {name: f"{alias}.{name}" for name in FOLDED_COLUMNS}
    expressions["sign"] = str(sign)
    expressions["first_seen"] = epoch_us(f"{alias}.first_seen")
    return ", ".join(f"{expression} AS {name}" for name, expression in expressions.items())


# One statement, one snapshot: the first half of `folded` reads the facts as they were before
# the upsert, the second as it left them. Only the requests that had a fact already come back
# (few, unless events come late: most requests are new to a chunk); a new fact is what was
# staged. A stored fact counts at least one event, so a request's fact had one before exactly
# when the upsert made its count of events larger than staged. The rows come back as one CSV
# value (`csv_aggregate`).
FACT_FOLD = f"""
WITH staged AS (DELETE FROM {FACT_STAGE} RETURNING *),
after AS ({FACT_UPSERT} RETURNING {FACT_LIST}),
updated AS (
    SELECT a.* FROM after a JOIN staged s USING (project_id, request_id)
    WHERE a.attempts + a.checks <> s.attempts + s.checks
),
folded AS (
    SELECT {_folded_select(-1, "f")}
    FROM analytics_requestfact f JOIN updated u USING (project_id, request_id)
    UNION ALL
    SELECT {_folded_select(+1, "u")} FROM updated u
)
SELECT {csv_aggregate(FOLDED_COLUMNS, FOLDED_TEXT, "e")} FROM folded e
"""


def facts_upsert(facts: pd.DataFrame, *, on: BaseDatabaseWrapper) -> pd.DataFrame:
    """Fold per-request deltas into request facts; return what moves the request rollups:
    each touched request's old contribution taken away (sign -1) and its new one added.

    Runs on a helper thread with the chunk's connection (`on`), so it touches nothing else.
    """
    execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {FACT_STAGE} ON COMMIT DELETE ROWS "
        f"AS SELECT {FACT_LIST} FROM analytics_requestfact WITH NO DATA",
        on=on,
    )
    copy_rows(
        FACT_STAGE,
        FACT_COLUMNS,
        zip(*(_fact_values(facts, name) for name in FACT_COLUMNS), strict=True),
        binary_types=FACT_TYPES,
        on=on,
    )
    ((data,),) = fetch_rows(FACT_FOLD, [], on=on)
    folded = csv_frame(data, FOLDED_COLUMNS, FOLDED_TYPES, moments=("first_seen",))
    before = folded[folded["sign"] == -1].reset_index(drop=True)
    updated = folded[folded["sign"] == 1].reset_index(drop=True)
    was_stored = pd.MultiIndex.from_frame(facts[list(FACT_KEY)]).isin(
        pd.MultiIndex.from_frame(updated[list(FACT_KEY)])
    )
    created = facts[~was_stored].reset_index(drop=True)
    sides = ((before, -1), (updated, +1), (created, +1))
    return pd.concat(
        [_contribution(side, sign) for side, sign in sides if not side.empty],
        ignore_index=True,
    )


def _fact_values(frame: pd.DataFrame, name: str) -> list[Any]:
    if name in FACT_FLAGS:
        return frame[name].astype(bool).tolist()
    return column_values(frame[name])


def _contribution(facts: pd.DataFrame, sign: int) -> pd.DataFrame:
    """What these request facts add to the request rollups (sign -1 takes it away)."""
    contribution = pd.DataFrame(
        {
            "bucket": pd.to_datetime(facts["first_seen"], utc=True),
            **{name: facts[name] for name in REQUESTS.dims},
            "mode": request_mode(facts),
            "requests": sign,
            "with_attempt": (facts["attempts"] > 0).astype("int64") * sign,
            "served": (facts["ok_attempts"] > 0).astype("int64") * sign,
            "with_checks": (facts["checks"] > 0).astype("int64") * sign,
            **{flag: facts[flag].astype("int64") * sign for flag in FACT_FLAGS},
            "checks": facts["checks"].astype("int64") * sign,
            "layers_seen": layers_seen(facts["layers_mask"]) * sign,
            "unreported_checks": facts["unreported_checks"].astype("int64") * sign,
            "reported_check_cost_usd": facts["check_cost_units"].astype("int64") * sign,
            "overhead_ms": facts["check_latency_ms"].where(facts["checks"] > 0),
            # Attempts (routing decision + call) and checks; for requests with an attempt.
            "end_to_end_ms": (facts["attempt_latency_ms"] + facts["check_latency_ms"]).where(
                facts["attempts"] > 0
            ),
            "sign": sign,
        }
    )
    return contribution


def layers_seen(masks: pd.Series) -> pd.Series:
    """How many distinct layers each mask holds (its set bits)."""
    values = masks.astype("int64").to_numpy()
    return pd.Series(
        sum((values >> bit) & 1 for bit in range(len(LAYER_ORDER))), index=masks.index
    ).astype("int64")


def request_mode(facts: pd.DataFrame) -> pd.Series:
    """DESIGN.md's mode of each request: its first attempt's, else that of its first check
    that carries one, else "" (unknown). A fact's `mode` is its first attempt's ("" without
    one), so a late attempt earlier than the check takes over."""
    return facts["mode"].where(facts["attempts"] > 0, facts["check_mode"])


def request_contributions(facts: pd.DataFrame) -> pd.DataFrame:
    """What each of these request facts adds to the request rollups (as for `grain_deltas`,
    weighted by its `sign` column)."""
    return _contribution(facts, +1) if not facts.empty else facts
