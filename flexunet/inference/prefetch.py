"""Run an iterator ahead in a thread of its own, so that predicting the next items overlaps using this one."""

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of `items`, in order, produced by a thread that keeps at most `depth` of them waiting.

    An exception in the producer is raised here, at the item where it happened; when the consumer stops
    early (an exception of its own, or it closes this generator), the producer stops at its next item.
    """
    if depth < 1:
        raise ValueError(f"depth: expected a positive int, got {depth}")
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as error:  # noqa: BLE001 (handed to the consumer, raised there)
            offer(_Raised(error))
            return
        offer(_DONE)

    producer = threading.Thread(target=produce, name="flexunet-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = waiting.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        producer.join(timeout=10 * _POLL_S + 60)
