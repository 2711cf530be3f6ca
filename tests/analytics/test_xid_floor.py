"""Widening pg_stat_activity's 32-bit transaction ids against the snapshot's 64-bit xmax
(issue 12): right on both sides of xmax, in epoch 0 and across an epoch boundary."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analytics.rollups.reads import XID_SPACE, xid_floor, xid_widen

HALF = XID_SPACE // 2
FIRST_NORMAL_XID = 3  # 0, 1 and 2 are PostgreSQL's special ids


def test_epoch_zero_ids_below_at_and_above_xmax_keep_their_value():
    next_xid = 5_000
    assert xid_widen(4_000, next_xid=next_xid) == 4_000
    assert xid_widen(5_000, next_xid=next_xid) == 5_000
    # Took its id after the last completed one: at or above xmax. The old widening made this
    # 5_001 - 2^32, a negative floor that wrapped to no upper bound at all.
    assert xid_widen(5_001, next_xid=next_xid) == 5_001
    assert xid_widen(5_003, next_xid=next_xid) == 5_003


def test_ids_from_the_epoch_before_xmax_keep_their_epoch():
    next_xid = (7 << 32) | 10  # epoch 7, just past the wrap
    assert xid_widen(XID_SPACE - 20, next_xid=next_xid) == (6 << 32) | (XID_SPACE - 20)
    assert xid_widen(4, next_xid=next_xid) == (7 << 32) | 4
    assert xid_widen(12, next_xid=next_xid) == (7 << 32) | 12


def test_ids_past_the_wrap_above_an_xmax_at_the_end_of_an_epoch():
    next_xid = (2 << 32) | (XID_SPACE - 2)
    assert xid_widen(XID_SPACE - 5, next_xid=next_xid) == (2 << 32) | (XID_SPACE - 5)
    assert xid_widen(FIRST_NORMAL_XID, next_xid=next_xid) == (3 << 32) | FIRST_NORMAL_XID


def test_never_negative():
    assert xid_widen(XID_SPACE - 1, next_xid=FIRST_NORMAL_XID) == 0
    assert xid_floor(next_xid=FIRST_NORMAL_XID, running=[XID_SPACE - 1]) == 0


def test_the_floor_is_the_lowest_running_id_or_xmax():
    next_xid = (1 << 32) | 100
    assert xid_floor(next_xid=next_xid, running=[]) == next_xid
    assert xid_floor(next_xid=next_xid, running=[101, 102]) == next_xid
    assert xid_floor(next_xid=next_xid, running=[101, 90, XID_SPACE - 3]) == XID_SPACE - 3


@given(
    next_xid=st.integers(min_value=FIRST_NORMAL_XID, max_value=(1 << 62)),
    offset=st.integers(min_value=-(HALF - 1), max_value=HALF - 1),
)
def test_every_id_within_two_to_the_31_of_xmax_widens_to_itself(next_xid, offset):
    full = next_xid + offset
    if full < FIRST_NORMAL_XID:
        return  # no such transaction: ids start at 3 in epoch 0
    assert xid_widen(full % XID_SPACE, next_xid=next_xid) == full
    assert xid_floor(next_xid=next_xid, running=[full % XID_SPACE]) == min(full, next_xid)
