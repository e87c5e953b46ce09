"""Whether a native call releases the GIL: a Python thread counting while the call runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def count_while(call: Callable[[], Any]) -> tuple[float, int]:
    """Runs ``call`` while another thread counts; returns the seconds it took and how far the thread counted meanwhile
    (a held GIL leaves the thread a few switch intervals at most)."""
    counted = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal counted
        while not stop.is_set():
            counted += 1

    thread = threading.Thread(target=count)
    thread.start()
    time.sleep(0.05)
    started, before = time.monotonic(), counted
    call()
    during, waited = counted - before, time.monotonic() - started
    stop.set()
    thread.join()
    return waited, during
