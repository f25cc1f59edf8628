"""Checks of a history file's consistency, for the history's tests."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from celerydesk.core.history.schema import search_values


def search_index_problems(path: Path) -> list[str]:
    """Differences between the search index and the rows it should index.

    FTS5's own integrity-check cannot compare a contentless index with its rows (and does not
    notice a 'delete' of values that were never added). So: count, for every trigram, the
    rows whose searched values hold it (lower-cased, within one value, as the trigram
    tokenizer does), and compare with the index's own counts (an fts5vocab table).
    """
    db = sqlite3.connect(path)
    try:
        db.execute("CREATE VIRTUAL TABLE temp.search_terms USING fts5vocab(main, task_search, 'row')")
        indexed = dict(db.execute("SELECT term, doc FROM temp.search_terms"))
        expected: Counter = Counter()
        for values in db.execute(f"SELECT {search_values('t')} FROM tasks t"):
            grams = set()
            for value in values:
                text = (value or "").lower()
                grams.update(text[i:i + 3] for i in range(len(text) - 2))
            expected.update(grams)
    finally:
        db.close()
    problems = [f"{term!r}: index has {indexed.get(term, 0)}, rows have {count}"
                for term, count in expected.items() if indexed.get(term, 0) != count]
    problems += [f"{term!r}: index has {count}, no row has it" for term, count in indexed.items()
                 if term not in expected and count]
    return problems[:20]


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
