"""The progress bar of a run: it says that kernels are compiling until the first steps are
done, and only then shows a rate and an estimate of the time left, measured from there.

The first piece of a run includes Numba's compilation of the kernels (a minute or more on a
first run, nothing once they are cached); a rate measured over it would promise hours for a
run of minutes.
"""

from __future__ import annotations

import threading
from typing import Any

from tqdm import tqdm

COMPILING = "compiling kernels (first run only)..."


class RunProgress(tqdm):
    """A ``tqdm`` bar (the same arguments) that shows ``COMPILING`` until its first
    ``update``, then the usual bar with its rate and time left measured from that update on.
    Shown, like any bar here, only once ``delay`` seconds have passed."""

    def __init__(self, *args: Any, delay: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, delay=delay, bar_format=COMPILING, **kwargs)
        self.compiling = True
        self._announcement: threading.Timer | None = None
        if not self.disable:
            # no update arrives while the kernels compile: the note is shown by a timer
            self._announcement = threading.Timer(delay, self._announce)
            self._announcement.daemon = True
            self._announcement.start()

    def _announce(self) -> None:
        if self.compiling:
            self.refresh()

    def update(self, n: float = 1) -> bool | None:
        if not self.compiling:
            return super().update(n)
        self.compiling = False
        self._stop_announcement()
        if self.disable:
            return None
        shown = self._time() >= self.start_t + self.delay
        # from here on the rate is that of steps alone: the compilation is left behind
        self.n += n
        self.initial = self.last_print_n = self.n
        self.start_t = self.last_print_t = self._time()
        self.bar_format = None
        if not shown:
            return None
        self.delay = 0.0  # the bar is on screen: keep it current
        return self.refresh()

    def close(self) -> None:
        self._stop_announcement()
        super().close()

    def _stop_announcement(self) -> None:
        if self._announcement is not None:
            self._announcement.cancel()
            self._announcement = None
