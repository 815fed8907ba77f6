"""flexunet.inference.prefetch: items in order, the producer's errors raised at their item, an early stop ends it."""

import threading
import time

import pytest

from flexunet.inference.prefetch import prefetched


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_items_come_in_order(depth):
    assert list(prefetched(iter(range(20)), depth)) == list(range(20))


def test_an_empty_iterator_gives_nothing():
    assert list(prefetched(iter([]))) == []


def test_the_producer_s_error_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("tile (row 3, column 4) cannot be read")

    got = []
    with pytest.raises(OSError, match="row 3, column 4"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_the_producer_runs_at_most_depth_ahead_and_stops_when_the_consumer_stops():
    made = []

    def items():
        for k in range(1000):
            made.append(k)
            yield k

    stream = prefetched(items(), depth=2)
    assert next(stream) == 0
    time.sleep(0.3)
    assert len(made) <= 4           # the one taken, two waiting, one offered
    stream.close()
    time.sleep(0.3)
    assert len(made) <= 4 and not any(t.name == "flexunet-prefetch" for t in threading.enumerate())


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth: expected a positive int, got 0"):
        next(prefetched(iter([1]), 0))
