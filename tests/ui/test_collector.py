"""The collector's setting for the window (celerydesk/ui/collector.py), in a child interpreter.

A flood of task events goes through a real TaskStore; a gc callback records how many objects
each middle-generation pass had to examine (what its pause is made of). With CPython's
default thresholds those passes hold thousands of surviving task records; after
``tune_collector`` each holds a fraction, and full passes are no more frequent. A child
process keeps this process's collector as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import gc, json, sys
from celerydesk.core.task_store import TaskStore
from celerydesk.ui.collector import tune_collector

if sys.argv[1] == "tuned":
    tune_collector()
else:
    gc.freeze()  # the same starting heap, default thresholds
passes = {0: 0, 1: 0, 2: 0}
largest = [0]

def watch(phase, info):
    if phase == "start":
        passes[info["generation"]] += 1
        if info["generation"] == 1:
            largest[0] = max(largest[0], len(gc.get_objects(0)) + len(gc.get_objects(1)))

store = TaskStore(10_000, clock=lambda: 1000.0)
gc.callbacks.append(watch)
for i in range(20_000):
    task_id = "%08x-task" % i
    store.apply_batch([
        {"type": "task-received", "uuid": task_id, "name": "app.noop", "args": "()", "kwargs": "{}", "hostname": "w@h"},
        {"type": "task-started", "uuid": task_id, "hostname": "w@h"},
        {"type": "task-succeeded", "uuid": task_id, "hostname": "w@h", "result": "None", "runtime": 0.001},
    ])
gc.callbacks.remove(watch)
print(json.dumps({"largest_middle_pass": largest[0], "passes": passes}))
"""


def run_probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_middle_generation_passes_stay_small_in_a_flood_and_full_passes_stay_rare():
    default, tuned = run_probe("default"), run_probe("tuned")
    assert default["largest_middle_pass"] > 4000  # the default lets thousands of records pile up
    assert tuned["largest_middle_pass"] * 2 < default["largest_middle_pass"]
    assert tuned["passes"]["1"] > default["passes"]["1"]  # the same work, in more and smaller pauses
    assert tuned["passes"]["2"] <= default["passes"]["2"]
