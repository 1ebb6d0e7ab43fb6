"""lifecycle/ports.Clock on the real clock: epoch seconds, so that recorded deadlines outlive the process."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
