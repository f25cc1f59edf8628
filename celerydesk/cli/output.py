"""Plain-text tables for the commands that print one (``queues``, ``schedules list``)."""

from __future__ import annotations


def print_table(rows: list[tuple], right: tuple = ()) -> None:
    """``rows`` (the header first) in aligned columns, two spaces apart; the columns numbered in
    ``right`` (numbers) aligned right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        print("  ".join(cells).rstrip())
