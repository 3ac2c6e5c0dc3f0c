"""``settle_heap``: start-up objects frozen out of the cyclic collector's reach."""

from __future__ import annotations

import gc
import weakref

from cloverpay.service.core.heap import settle_heap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settle_heap_collects_the_garbage_then_freezes_what_is_alive() -> None:
    gc.unfreeze()
    gc.disable()  # no automatic collection in between: only settle_heap's
    kept = _Cycle()
    garbage = weakref.ref(_Cycle())  # unreachable, held only by its own cycle
    try:
        assert garbage() is not None  # a cycle waits for the collector
        settle_heap()
        assert garbage() is None  # collected first, not frozen forever
        assert gc.get_freeze_count() > 0
        # ``kept`` is in the permanent generation: no collection walks it again
        assert not any(o is kept for o in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.enable()
    assert any(o is kept for o in gc.get_objects())
