"""The one chunking helper: every item once, in order, in bounded pieces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storeflow.warehouse.chunks import chunked


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=50))
def test_chunks_keep_every_item_in_order_within_the_bound(items, size):
    pieces = list(chunked(items, size))
    assert [x for piece in pieces for x in piece] == items
    assert all(1 <= len(piece) <= size for piece in pieces)
    assert all(len(piece) == size for piece in pieces[:-1])


def test_chunks_of_a_generator_and_of_nothing():
    assert list(chunked((i for i in range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunked([], 3)) == []


def test_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked([1], 0))
