"""The garbage collector set for a window that keeps tens of thousands of task records.

A collection runs in whichever thread triggers it and holds the GIL throughout: any pause of
the collector is a pause of the GUI. Two settings keep those pauses short.

- ``gc.freeze()`` once the window is built: what lives as long as the app leaves the full
  passes, which otherwise take ~30 ms each in a PySide process.
- The middle generation is collected after every 2 young collections instead of 10. In a
  flood the task records that survive a young collection pile up there, ~6,000 between two
  passes at the default, and such a pass took 4-8 ms of CPU (10-45 ms on a busy machine).
  Collected five times as often it holds a fifth as many: about the same total work, in
  pauses of 1-2 ms. The oldest generation's threshold goes from 10 to 50 so that full passes
  stay as rare as before (one per 100 young collections).
"""

from __future__ import annotations

import gc

THRESHOLDS = (700, 2, 50)  # young (CPython's default), middle, oldest


def tune_collector() -> None:
    """Shorter collector pauses from now on; what exists now is kept out of full passes."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
