"""Run a call in a thread and fail, instead of hanging the suite, when it does not return in time
(a check that opened a FIFO, a data source that never ends)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def within(fn: Callable[[], Any], seconds: float, what: str = "the call") -> Any:
    """``fn()``'s value, or its exception re-raised; an AssertionError when it runs past ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{what} did not return within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")
