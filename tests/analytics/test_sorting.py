import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scholarlens.analytics.sorting import sorted_with_order


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), high=st.sampled_from([1, 7, 1000, 2**40, 2**62]),
       dtype=st.sampled_from([np.int64, np.int32, np.uint64, np.float64]))
def test_sorted_with_order_is_a_stable_argsort(seed, high, dtype):
    # Small non-negative integers take the packed sort; large ones, floats and negatives take np.argsort.
    rng = np.random.default_rng(seed)
    if dtype is np.int32:
        high = min(high, 2**31 - 1)
    keys = rng.integers(0, high, rng.integers(0, 500), endpoint=True).astype(dtype)
    if dtype is np.float64:
        keys = keys - high / 2
    got_keys, got_order = sorted_with_order(keys)
    want = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(got_order, want)  # ties keep their input order
    np.testing.assert_array_equal(got_keys, keys[want])


def test_sorted_with_order_of_nothing():
    keys, order = sorted_with_order(np.array([], dtype=np.int64))
    assert keys.size == 0 and order.size == 0
