"""The history store end to end, in-process: the real writer thread, the real SQLite file, readers.

Covered: events (out of order, across batches) become rows and a timeline; a batch is one
transaction (a reader polling meanwhile sees none of it or all of it); a second writer is
refused, in this process and from another, and the refused one can read; the senders'
records, written by a bare interpreter with only the standard library, give the exact
arguments; search finds a substring anywhere (and only where it is); filters, sorting and
both kinds of paging agree; a task's family; pruning by age and by count keeps the search
index exact; malformed events and a broken callback stop nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from celerydesk.core.history import sent
from celerydesk.core.history.queries import HistoryReader, Order, TaskFilter
from celerydesk.core.history.writer import HistoryBusy, HistoryWriter
from celerydesk.core.workspace import HistoryConfig
from tests.helpers.history_checks import integrity, search_index_problems
from tests.helpers.history_events import event_stream

T = 1_796_000_000.0
REPO = Path(__file__).resolve().parents[2]


def task(task_id: str, at: float, name="shop.tasks.charge", args="(1,)", kwargs="{}", result="'ok'", state="succeeded",
         worker="main@web-1", queue="celery", parent=None, root=None, runtime=0.5) -> list[dict]:
    common = {"uuid": task_id, "utcoffset": 0.0, "pid": 1}
    fields = {"name": name, "args": args, "kwargs": kwargs, "root_id": root or task_id, "parent_id": parent}
    out = [dict(common, type="task-sent", timestamp=at, hostname="gen@client", queue=queue, routing_key=queue,
                retries=0, **fields),
           dict(common, type="task-received", timestamp=at + 0.01, hostname=worker, **fields),
           dict(common, type="task-started", timestamp=at + 0.02, hostname=worker)]
    if state == "succeeded":
        out.append(dict(common, type="task-succeeded", timestamp=at + 0.02 + runtime, hostname=worker, result=result,
                        runtime=runtime))
    elif state == "failed":
        out.append(dict(common, type="task-failed", timestamp=at + 0.02 + runtime, hostname=worker, exception=result,
                        traceback="Traceback (most recent call last):\n  ...\n" + result))
    return out


@pytest.fixture
def runtime(tmp_path) -> Path:
    return tmp_path / ".celerydesk"


@pytest.fixture
def writer(runtime):
    commits = []
    w = HistoryWriter(runtime, interval=0.02, on_commit=commits.append)
    w.commits = commits
    w.start()
    yield w
    w.close()


def write(writer: HistoryWriter, events: list[dict]) -> None:
    writer.submit(events)
    assert writer.flush(30)


def test_events_in_any_order_and_across_batches_become_one_row_and_its_timeline(writer, runtime):
    events = task("t-1", T, args="('hello',)")
    write(writer, [events[3], events[0]])  # succeeded and sent first
    write(writer, [events[2], events[1], {"type": "worker-heartbeat", "hostname": "main@web-1"}])
    reader = HistoryReader(runtime)
    [row] = reader.page()
    assert (row["id"], row["state"], row["name"], row["args"], row["result"], row["worker"], row["queue"]) == \
        ("t-1", "SUCCESS", "shop.tasks.charge", "('hello',)", "'ok'", "main@web-1", "celery")
    assert (row["sent_at"], row["received_at"], row["started_at"]) == (T, T + 0.01, T + 0.02)
    assert row["wait"] == pytest.approx(0.01) and row["runtime"] == 0.5
    assert [s for _, s in reader.timeline("t-1")] == ["SENT", "RECEIVED", "STARTED", "SUCCESS"]
    assert [c.events for c in writer.commits] == [2, 2] and writer.commits[0].task_ids == {"t-1"}
    assert search_index_problems(reader.path) == []


def test_sent_leads_the_timeline_though_celery_stamps_it_after_publishing(writer, runtime):
    sent_late, received, started, succeeded = task("t-2", T)
    sent_late = dict(sent_late, timestamp=T + 0.015)  # emitted after the worker took the message
    write(writer, [received, sent_late, started, succeeded])
    reader = HistoryReader(runtime)
    assert [s for _, s in reader.timeline("t-2")] == ["SENT", "RECEIVED", "STARTED", "SUCCESS"]


def test_a_batch_is_one_transaction_a_reader_sees_none_or_all_of_it(runtime):
    w = HistoryWriter(runtime, interval=0.5, max_batch=100_000)
    w.start()
    try:
        reader = HistoryReader(runtime)
        batch = [e for chunk in event_stream(5000, T) for e in chunk]
        seen, stop = set(), threading.Event()

        def poll():
            while not stop.is_set():
                seen.add(reader.count())

        poller = threading.Thread(target=poll)
        poller.start()
        w.submit(batch)
        assert w.flush(60)
        time.sleep(0.05)
        stop.set()
        poller.join()
        assert seen <= {0, 5000} and 5000 in seen and w.stats.batches == 1
    finally:
        w.close()


def test_a_second_writer_is_refused_in_this_process_and_from_another(writer, runtime):
    second = HistoryWriter(runtime)
    with pytest.raises(HistoryBusy) as refused:
        second.start()
    assert f"pid {os.getpid()}" in str(refused.value) and "reads it meanwhile" in refused.value.hint
    write(writer, task("t-1", T))
    assert HistoryReader(runtime).count() == 1  # the refused one reads instead
    writer.close()
    child = subprocess.run([sys.executable, "-c", (
        "import sys; from celerydesk.core.history.writer import HistoryWriter, HistoryBusy\n"
        f"w = HistoryWriter({str(runtime)!r})\n"
        "try:\n    w.start()\nexcept HistoryBusy as e:\n    print(e); sys.exit(3)\nw.close()")],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert child.returncode == 0, child.stdout + child.stderr  # freed when the first one closed
    second.start()
    try:
        child = subprocess.run([sys.executable, "-c", (
            "import sys; from celerydesk.core.history.writer import HistoryWriter, HistoryBusy\n"
            f"w = HistoryWriter({str(runtime)!r})\n"
            "try:\n    w.start()\nexcept HistoryBusy as e:\n    print(e); sys.exit(3)")],
            capture_output=True, text=True, timeout=60, cwd=REPO)
        assert child.returncode == 3 and f"pid {os.getpid()}" in child.stdout
    finally:
        second.close()


def test_records_from_a_bare_interpreter_give_the_exact_arguments(writer, runtime, tmp_path):
    """beat's way: the module copied alone, run by an interpreter without site-packages."""
    folder = tmp_path / "beat"
    folder.mkdir()
    shutil.copy(REPO / "celerydesk" / "core" / "history" / "sent.py", folder / "celerydesk_history_sent.py")
    long_text = "".join(chr(ord("a") + i % 26) for i in range(3000)) + "THE-TAIL"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import celerydesk_history_sent as s\n"
            "assert 'celery' not in sys.modules and 'celerydesk' not in sys.modules\n"
            "ok = s.record_sent_from_env('t-beat', 'shop.tasks.report', [sys.argv[2]], {'n': 1}, via='beat')\n"
            "ok2 = s.record_sent_from_env('t-odd', 'shop.tasks.report', [object()], {}, via='beat')\n"
            "sys.exit(0 if ok and ok2 else 1)")
    env = {"PATH": os.environ["PATH"], sent.ENV_SPOOL: sent.spool_dir(runtime)}
    child = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(folder), long_text], env=env,
                           capture_output=True, text=True, timeout=30)
    assert child.returncode == 0, child.stderr
    reader = HistoryReader(runtime)
    # taken in within a second; meanwhile, or without a writer, the spool answers
    deadline = time.monotonic() + 10
    while reader.task("t-beat") is None and time.monotonic() < deadline:
        assert reader.exact_arguments("t-beat") in (None, ([long_text], {"n": 1}))
        time.sleep(0.05)
    row = reader.task("t-beat")
    assert (row["state"], row["sent_by"], row["name"]) == ("SENT", "beat", "shop.tasks.report")
    assert reader.exact_arguments("t-beat") == ([long_text], {"n": 1})
    assert reader.exact_arguments("t-odd") is None and reader.task("t-odd")["sent_by"] == "beat"
    assert sent.pending_files(sent.spool_dir(runtime)) == []
    # the worker's events come later, with the repr cut at 1,024 characters
    cut = repr((long_text[:1000],))[:-3] + "...'"
    events = task("t-beat", T, name="shop.tasks.report", args=cut)
    write(writer, events)
    row = reader.task("t-beat")
    assert row["state"] == "SUCCESS" and row["args"] == cut and json.loads(row["args_json"]) == [long_text]
    # the tail of the argument is not in the repr; it is found through the exact JSON
    assert [r["id"] for r in reader.page(TaskFilter(search=long_text[-14:]))] == ["t-beat"]
    assert search_index_problems(reader.path) == []


def test_record_sent_never_raises_and_says_when_it_could_not(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert sent.record_sent(blocker / "spool", [sent.sent_record("t", "n", [], {}, "call")]) is False
    assert sent.record_sent_from_env("t", "n", [], {}, "beat") is False  # no spool in the environment
    assert list(tmp_path.iterdir()) == [blocker]


def test_the_runtime_folder_the_history_makes_is_private(tmp_path):
    """The history and the senders' records hold tasks' arguments and results: whichever makes
    ``.celerydesk`` first (a writer, or a ``call`` before any stack ran) makes it 0700, as core.runtime does."""
    old_umask = os.umask(0o022)
    try:
        writer = HistoryWriter(tmp_path / "a" / ".celerydesk", interval=0.02)
        writer.start()
        writer.close()
        assert sent.record_sent(sent.spool_dir(tmp_path / "b" / ".celerydesk"), [sent.sent_record("t", "n", [], {}, "call")])
    finally:
        os.umask(old_umask)
    for made in (tmp_path / "a" / ".celerydesk", tmp_path / "b" / ".celerydesk", Path(sent.spool_dir(tmp_path / "b" / ".celerydesk"))):
        assert made.stat().st_mode & 0o777 == 0o700, made


SEARCHED = [
    task("aaaa1111-0000", T, args="(4711, 'alice@example.com')", result="{'status': 'captured', 'id': 'ch_1f2e'}"),
    task("bbbb2222-0000", T + 1, name="shop.media.thumbnail", args="('https://cdn.example.com/img/9f.jpg', 256)",
         result="{'width': 256}"),
    task("cccc3333-0000", T + 2, args="('100% done_ok',)", result="ValueError(\"bad \\\"quote\\\"\")", state="failed"),
    task("dddd4444-0000", T + 3, args="('Ünïcode straße',)", result="None"),
]


@pytest.mark.parametrize("text, found", [
    ("alice@exa", ["aaaa1111-0000"]),  # the middle of an argument
    ("ALICE@EXAMPLE", ["aaaa1111-0000"]),  # any ASCII case
    ("ch_1f2e", ["aaaa1111-0000"]),  # a result
    ("example.com", ["bbbb2222-0000", "aaaa1111-0000"]),  # newest first
    ("bad \\\"quote", ["cccc3333-0000"]),  # an exception, with quotes
    ("100% done_", ["cccc3333-0000"]),  # LIKE's wildcards are plain characters here
    ("2222-00", ["bbbb2222-0000"]),  # the middle of an id
    ("media.thumb", ["bbbb2222-0000"]),  # a task name
    ("straße", ["dddd4444-0000"]),
    ("25", ["bbbb2222-0000"]),  # shorter than a trigram: read newest first
    ("alice@example.org", []),  # every trigram is there, the text is not
    ("zzzzzz", []),
])
def test_search_finds_a_substring_anywhere_and_only_where_it_is(writer, runtime, text, found):
    write(writer, [e for t in SEARCHED for e in t])
    reader = HistoryReader(runtime)
    assert [r["id"] for r in reader.page(TaskFilter(search=text))] == found
    assert reader.count(TaskFilter(search=text)) == len(found)


def test_the_search_index_follows_changes_of_a_row(writer, runtime):
    events = task("t-1", T, args="('first-argument',)", result="'final-answer'")
    write(writer, events[:3])
    reader = HistoryReader(runtime)
    assert reader.count(TaskFilter(search="final-answer")) == 0
    write(writer, events[3:])
    assert [r["id"] for r in reader.page(TaskFilter(search="final-answer"))] == ["t-1"]
    sent.record_sent(sent.spool_dir(runtime), [sent.sent_record("t-1", "x", ["replaced"], {}, "retry")])
    deadline = time.monotonic() + 10
    while reader.task("t-1")["args_json"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.count(TaskFilter(search="first-argument")) == 0  # the exact JSON is indexed instead
    assert reader.count(TaskFilter(search="replaced")) == 1
    assert search_index_problems(reader.path) == []


def test_filters_sorting_and_paging_agree(writer, runtime):
    events = []
    for i in range(60):
        events += task(f"t-{i:02d}", T + i, name=("shop.tasks.charge", "shop.mail.tasks.send")[i % 2],
                       worker=("main@web-1", "media@web-2")[i % 3 == 0], queue=("celery", "emails")[i % 4 == 0],
                       state="failed" if i % 5 == 0 else ("succeeded" if i % 7 else "running"), runtime=(i * 7) % 11)
    write(writer, events)
    reader = HistoryReader(runtime)
    assert reader.count() == 60
    assert [r["id"] for r in reader.page(limit=3)] == ["t-59", "t-58", "t-57"]
    failures = reader.page(TaskFilter(states=("failure",)), limit=100)
    assert {r["id"] for r in failures} == {f"t-{i:02d}" for i in range(0, 60, 5)}
    mail = reader.page(TaskFilter(names=("send",), workers=("media",)), limit=100)  # last part / name before @
    assert {r["id"] for r in mail} == {f"t-{i:02d}" for i in range(60) if i % 2 and i % 3 == 0}
    assert reader.count(TaskFilter(queues=("emails",), since=T + 20, until=T + 40)) == 5
    assert reader.count(TaskFilter(names=("nope",))) == 0
    assert reader.labels("worker") == ["main@web-1", "media@web-2"]
    for order in (Order("runtime", True), Order("runtime", False), Order("finished", True), Order("name", False),
                  Order("seen", False), Order("state", True)):
        whole = reader.page(order=order, limit=1000)
        assert len(whole) == 60
        by_offset = [r for start in range(0, 60, 7) for r in reader.page(order=order, offset=start, limit=7)]
        by_key, after = [], None
        while True:
            page = reader.page(order=order, limit=7, after=after)
            by_key += page
            if len(page) < 7:
                break
            after = reader.key(page[-1], order)
        assert [r["seq"] for r in by_offset] == [r["seq"] for r in whole] == [r["seq"] for r in by_key], order
    runtimes = [r["runtime"] for r in reader.page(order=Order("runtime", True), limit=1000)]
    known = [x for x in runtimes if x is not None]
    assert known == sorted(known, reverse=True) and runtimes[-1] is None  # running tasks: no runtime, last
    searched = TaskFilter(search="shop.mail")
    pages, after = [], None
    while True:
        page = reader.page(searched, limit=4, after=after)
        pages += page
        if len(page) < 4:
            break
        after = reader.key(page[-1], f=searched)
    assert len(pages) == 30 == reader.count(searched) and len({r["id"] for r in pages}) == 30
    assert len(list(reader.iter_rows(TaskFilter(states=("SUCCESS",)), chunk=5))) == reader.count(
        TaskFilter(states=("SUCCESS",)))
    with pytest.raises(ValueError):
        reader.page(order=Order("colour"))


def test_a_task_family_is_a_tree_under_its_root(writer, runtime):
    # a chain root -> a -> b, and a group of two under root
    write(writer, task("root", T) + task("a", T + 1, parent="root", root="root") +
          task("b", T + 2, parent="a", root="root") + task("g1", T + 3, parent="root", root="root") +
          task("g2", T + 3.5, parent="root", root="root") + task("other", T + 4))
    reader = HistoryReader(runtime)
    family = reader.family("a")
    assert family["root"] == "root" and family["parent"] == "root" and family["children"] == ["b"]
    assert family["size"] == 5 and family["complete"]

    def shape(node):
        return {node["id"]: [shape(c) for c in node["children"]]}

    assert shape(family["tree"]) == {"root": [{"a": [{"b": []}]}, {"g1": []}, {"g2": []}]}
    assert reader.family("other")["size"] == 1 and reader.family("missing") is None
    assert reader.find_ids("roo") == ["root"] and reader.find_ids("g") == ["g1", "g2"]


def test_pruning_by_age_then_by_count_keeps_the_search_index_exact(runtime):
    now = T + 40 * 86400
    w = HistoryWriter(runtime, HistoryConfig(keep_days=30, max_tasks=1000), interval=0.02, prune_after=3600,
                      clock=lambda: now)
    w.start()
    try:
        old = [e for i in range(300) for e in task(f"old-{i}", T + i, args=f"('old-{i}',)")]
        new = [e for i in range(1100) for e in task(f"new-{i:04d}", now - 1000 + i, args=f"('new-{i}',)")]
        write(w, old + new)
    finally:
        w.close()
    w = HistoryWriter(runtime, HistoryConfig(keep_days=30, max_tasks=1000), interval=0.02, prune_after=0,
                      clock=lambda: now)
    w.start()
    try:
        deadline = time.monotonic() + 60
        while w.stats.pruned < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        w.close()
    reader = HistoryReader(runtime)
    assert w.stats.pruned == 400 and reader.count() == 1000
    assert reader.count(TaskFilter(search="old-")) == 0 and reader.task("new-0099") is None
    assert reader.task("new-0100") is not None and reader.timeline("old-1") == []
    assert reader.db.execute("SELECT count(*) FROM timeline").fetchone()[0] == 4000
    assert search_index_problems(reader.path) == [] and integrity(reader.path) == "ok"


def test_malformed_events_and_a_broken_callback_stop_nothing(runtime):
    def explode(_):
        raise RuntimeError("a broken window")

    w = HistoryWriter(runtime, interval=0.02, on_commit=explode, on_error=explode)
    w.start()
    try:
        write(w, [{"type": "task-succeeded"}, {"type": "task-started", "uuid": 42}, "not a dict", None,
                  {"type": "task-started", "uuid": "ok-1", "timestamp": "yesterday", "hostname": ["odd"]},
                  {"type": "task-received", "uuid": "ok-1", "retries": "3", "runtime": "fast", "eta": 12}])
        write(w, task("ok-2", T))
    finally:
        w.close()
    reader = HistoryReader(runtime)
    assert sorted(r["id"] for r in reader.page()) == ["ok-1", "ok-2"] and reader.task("ok-1")["state"] == "STARTED"


def test_submit_before_start_and_after_close_is_harmless(runtime):
    w = HistoryWriter(runtime)
    w.submit(task("t", T))
    w.close()
    w = HistoryWriter(runtime)
    w.start()
    w.close()
    w.submit(task("t", T))
    assert w.flush(1)


def test_a_writer_that_falls_behind_drops_events_and_says_so_once(runtime):
    errors = []
    w = HistoryWriter(runtime, interval=0.02, max_pending=100, on_error=errors.append)
    w.start()
    try:
        w.submit(task("kept", T))
        w.submit([e for i in range(40) for e in task(f"too-many-{i}", T)])  # 160 at once: over the bound
        assert w.flush(10)
        deadline = time.monotonic() + 10
        while not errors and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        w.close()
    assert w.stats.dropped == 160 and len(errors) == 1 and "fell behind: 160 events" in str(errors[0])
    assert [r["id"] for r in HistoryReader(runtime).page()] == ["kept"]
