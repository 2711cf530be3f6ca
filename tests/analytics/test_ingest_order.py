"""A chunk takes both streams up to a common point of the shared ingest order."""

from __future__ import annotations

import pandas as pd

from analytics.rollups.reads import in_ingest_order


def _stream(positions: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(positions, columns=["xid", "seq"])


def test_a_full_stream_cuts_the_other_at_its_last_position():
    streams = {
        "routing": _stream([(10, 1), (10, 4), (11, 7)]),  # filled the limit of 3
        "enforcement": _stream([(10, 2), (11, 6), (11, 8)]),  # filled it too, further on
    }
    kept = in_ingest_order(streams, limit=3)
    assert kept["routing"].to_numpy().tolist() == [[10, 1], [10, 4], [11, 7]]
    assert kept["enforcement"].to_numpy().tolist() == [[10, 2], [11, 6]]  # (11, 8) waits


def test_streams_under_their_limit_are_kept_whole():
    streams = {"routing": _stream([(5, 1)]), "enforcement": _stream([(4, 9), (6, 2)])}
    kept = in_ingest_order(streams, limit=3)
    assert {name: len(rows) for name, rows in kept.items()} == {"routing": 1, "enforcement": 2}


def test_an_earlier_transaction_sorts_first_whatever_its_sequence():
    streams = {
        "routing": _stream([(7, 50), (8, 1)]),
        "enforcement": _stream([(7, 60), (9, 2)]),
    }
    kept = in_ingest_order(streams, limit=2)
    assert len(kept["routing"]) == 2
    assert kept["enforcement"].to_numpy().tolist() == [[7, 60]]
