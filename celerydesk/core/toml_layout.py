"""Layout-keeping edits of a tomlkit document: what a person would do by hand in an editor.

tomlkit keeps comments and formatting, but its plain ``table[key] = value`` appends a new key
after the comments that close a table (which describe the *next* header), turns dicts into
``[a.b]`` sub-tables, and inserts no blank lines around new tables. These helpers put a new key
under the table's last key, write dicts inline, keep a replaced key on its old line, and move
an array of tables' closing comments with its last element. They reach into tomlkit's
container bodies only for key-less items (comments, blank lines), which its key index does not
list, plus one documented private call (``_insert_at``) where tomlkit has no public insert.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import tomlkit
from tomlkit.container import ends_with_whitespace
from tomlkit.items import AoT, Comment, Null, Table, Whitespace


def plain(value: Any) -> Any:
    """A tomlkit value as plain Python (dict, list, str, ...)."""
    return value.unwrap() if hasattr(value, "unwrap") else value


def to_item(value: Any):
    """A tomlkit item; dicts become inline tables at any depth (``kwargs = {}``, not ``[a.b]``)."""
    if value is None:
        raise TypeError("TOML has no null value")
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, inner in value.items():
            table.append(str(key), to_item(inner))
        return table
    if isinstance(value, (list, tuple)):
        array = tomlkit.array()
        for inner in value:
            array.append(to_item(inner))
        return array
    return tomlkit.item(value)


def same(current: Any, value: Any) -> bool:
    """Whether a stored value equals ``value`` with the same type (``1`` is not ``true``)."""
    current = plain(current)
    value = list(value) if isinstance(value, tuple) else value
    return type(current) is type(value) and current == value


def closing_count(body: list) -> int:
    """How many key-less items (comments, blank lines) end a table's body."""
    n = 0
    for key, item in reversed(body):
        if key is not None or not isinstance(item, (Comment, Whitespace)):
            break
        n += 1
    return n


def put(table, key: str, value: Any) -> None:
    """Set ``key`` in a table. An existing key keeps its line and comment, and an equal value is
    not rewritten (``6_379`` stays as written). A new key goes under the table's last key, above
    the comments that close the table."""
    if key in table:
        if not same(table[key], value):
            table[key] = to_item(value)
        return
    body = getattr(getattr(table, "value", None), "body", None)
    if not isinstance(table, Table) or not isinstance(body, list) or table.is_super_table():
        table[key] = to_item(value)  # inline and dotted tables: tomlkit's own placement is right
        return
    n = closing_count(body)
    closing = body[len(body) - n:]
    del body[len(body) - n:]
    table[key] = to_item(value)
    body.extend(closing)


def replace_key(table, old: str, new: str, value: Any) -> None:
    """Put ``new = value`` on ``old``'s line, its comment kept (cron replacing every, say)."""
    body = table.value.body
    index = next(i for i, (k, _) in enumerate(body) if k is not None and k.key == old)
    trivia = body[index][1].trivia
    del table[old]  # tomlkit leaves a placeholder at ``index``
    table[new] = to_item(value)
    keymap = table.value._map
    if any(isinstance(v, tuple) for v in keymap.values()):
        return  # a table split across the file: leave the key where tomlkit put it
    moved = body.pop(next(i for i, (k, _) in enumerate(body) if k is not None and k.key == new))
    moved[1].trivia.comment, moved[1].trivia.comment_ws = trivia.comment, trivia.comment_ws
    body[index] = moved
    keymap.clear()  # tomlkit's key -> position index: the pop shifted what followed
    keymap.update({k: i for i, (k, _) in enumerate(body) if k is not None})


def move_closing(source, target, replace: bool = False) -> None:
    """Move the comments and blank lines that close ``source`` to the end of ``target``
    (``replace``: instead of ``target``'s own)."""
    if not (isinstance(source, Table) and isinstance(target, Table)):
        return
    src, dst = source.value.body, target.value.body
    n = closing_count(src)
    block = src[len(src) - n:]
    del src[len(src) - n:]
    if replace:
        del dst[len(dst) - closing_count(dst):]
    dst.extend(block)


def append_table(array: AoT, table: Table) -> None:
    """Append an element to an array of tables. The last element's closing comments introduce
    what follows the array, so they move below the new element; a blank line separates the two."""
    last = array[-1]
    array.append(table)
    move_closing(last, table)
    if isinstance(last, Table):
        last.add(tomlkit.nl())


def remove_table(array: AoT, index: int) -> None:
    """Remove an element. The previous element's closing comments introduced the removed one;
    the removed one's introduce what follows it, which is still there, so they take its place."""
    if index > 0:
        move_closing(array[index], array[index - 1], replace=True)
    del array[index]


def insert_top_level(doc, name: str, item, before: Sequence[str]) -> None:
    """Add a top-level table or array of tables above the first of ``before`` that is written
    with a header, else at the end. Never above a plain or dotted key (``workers = [...]``,
    ``broker.port = 1``): a header there would capture that line."""
    index = next((i for i, (k, v) in enumerate(doc.body) if k is not None and k.key in before
                  and not k.is_dotted()
                  and (isinstance(v, AoT) or (isinstance(v, Table) and not v.is_super_table()))), None)
    if index is None or not hasattr(doc, "_insert_at"):
        doc.append(name, item)
        return
    # A blank line on each side, unless one is there already, or comments end the table above
    # (they introduce the header that now follows them: this one).
    first, last = (item[0], item[-1]) if isinstance(item, AoT) else (item, item)
    # The item above, past the placeholders tomlkit leaves where keys were deleted.
    above = next((v for _, v in reversed(doc.body[:index]) if not isinstance(v, Null)), None)
    below = doc.body[index][1]
    above_last = above[-1] if isinstance(above, AoT) and len(above) else above
    ends_with_comment = isinstance(above_last, Table) and bool(above_last.value.body) \
        and isinstance(above_last.value.body[-1][1], Comment)
    if above is not None and not (isinstance(above, Whitespace) or ends_with_whitespace(above) or ends_with_comment):
        first.trivia.indent = "\n"
    if "\n" not in (below[0] if isinstance(below, AoT) else below).trivia.indent:
        last.add(tomlkit.nl())
    doc._insert_at(index, name, item)  # tomlkit has no public insert
