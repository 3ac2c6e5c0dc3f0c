"""One ORM row written with a prebuilt Core INSERT instead of the unit of work.

The hot path's intent row is a single new row that nothing else in its transaction
changes: the ORM's flush (dependency sort, per-attribute history, identity map) costs
several times the INSERT itself. :func:`insert_detached` gives every column its value
(the model's Python default where none was set), sends one INSERT on the session's
connection, in its transaction, and leaves the object as a session with
``expire_on_commit=False`` leaves a row it inserted once closed: detached, every column
loaded. It is not in the session's identity map: read it again in the transaction with
a query, not by ``session.get``.

:func:`insert_rows` writes rows of several tables (an audit row beside an intent, a
settle's audit and outbox rows) in one statement on PostgreSQL: the first tables' rows
as data-modifying ``WITH`` clauses of the last table's INSERT, which PostgreSQL runs to
completion whether or not the INSERT reads them (one round trip; a constraint violation
in any of them fails the statement, and so the transaction, as separate INSERTs would).
SQLite has no such clauses: one multi-row INSERT per table there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

__all__ = ["Rows", "insert_detached", "insert_rows"]

_STATEMENTS: dict[type, tuple[Insert, list[tuple[str, str, Any]]]] = {}
#: A table and its new rows (each with the same columns).
Rows = tuple[Table, Sequence[Mapping[str, Any]]]
#: (table, its columns, how many rows) of one INSERT in :func:`insert_rows`.
_Shape = tuple[Table, tuple[str, ...], int]


def _plan(cls: type) -> tuple[Insert, list[tuple[str, str, Any]]]:
    """(the INSERT, [(attribute, column, Python default)]) for a mapped class."""
    found = _STATEMENTS.get(cls)
    if found is None:
        mapper: Mapper[Any] = inspect(cls)
        columns: list[tuple[str, str, Any]] = []
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            default = column.default
            if default is None and column.server_default is not None:
                raise TypeError(f"{cls.__name__}.{prop.key}: a server default only")
            columns.append((prop.key, column.key, default))
        found = (insert(mapper.local_table), columns)  # type: ignore[arg-type]
        _STATEMENTS[cls] = found
    return found


def insert_detached(session: Session, *objs: object, then: Sequence[Rows] = ()) -> None:
    """INSERT ``objs`` (new instances of one class, never added to a session) in
    ``session``'s transaction, in one statement (an executemany for several); a
    constraint violation raises here, as a flush would. ``then``: rows of other tables
    written with the one object (:func:`insert_rows`: one statement on PostgreSQL)."""
    if not objs:
        return
    cls = type(objs[0])
    if any(type(o) is not cls for o in objs):
        raise TypeError("insert_detached: instances of one class at a time")
    statement, columns = _plan(cls)
    rows = [_values(obj, columns) for obj in objs]
    if then and len(rows) == 1:
        table = statement.table
        assert isinstance(table, Table)
        insert_rows(session, [(table, rows), *then])
    else:
        session.connection().execute(statement, rows if len(rows) > 1 else rows[0])
        if then:
            insert_rows(session, then)
    for obj in objs:
        make_transient_to_detached(obj)


def insert_rows(session: Session, batches: Sequence[Rows]) -> None:
    """Each table's rows in one multi-row INSERT, in the order given (so are their
    generated ids); on PostgreSQL all of them in one statement (see the module)."""
    batches = [(table, rows) for table, rows in batches if rows]
    if not batches:
        return
    shapes = tuple((table, tuple(rows[0]), len(rows)) for table, rows in batches)
    params = [
        {f"{c}_{n}_{i}": v for i, row in enumerate(rows) for c, v in row.items()}
        for n, (_table, rows) in enumerate(batches)
    ]
    conn = session.connection()
    if conn.dialect.name == "postgresql" and len(batches) > 1:
        conn.execute(_together(shapes), {k: v for p in params for k, v in p.items()})
        return
    for n, shape in enumerate(shapes):
        conn.execute(_multi_row(shape, n), params[n])


@cache
def _multi_row(shape: _Shape, n: int) -> Insert:
    """One INSERT of the rows, bound by ``<column>_<n>_<row>`` (built once per shape)."""
    table, columns, count = shape
    return insert(table).values(
        [{c: bindparam(f"{c}_{n}_{i}") for c in columns} for i in range(count)]
    )


@cache
def _together(shapes: tuple[_Shape, ...]) -> Insert:
    """The last shape's INSERT with the others' as data-modifying ``WITH`` clauses."""
    *first, last = shapes
    statement = _multi_row(last, len(first))
    for n, shape in enumerate(first):
        statement = statement.add_cte(_multi_row(shape, n).cte(f"w{n}"))
    return statement


def _values(obj: object, columns: list[tuple[str, str, Any]]) -> dict[str, Any]:
    given = obj.__dict__
    values: dict[str, Any] = {}
    for attr, column, default in columns:
        if attr in given:
            value = given[attr]
        else:
            if default is None:
                value = None
            elif default.is_scalar:
                value = default.arg
            elif default.is_callable:
                value = default.arg(None)  # SQLAlchemy wraps a no-argument callable
            else:
                raise TypeError(f"{type(obj).__name__}.{attr}: a default that is not Python's")
            setattr(obj, attr, value)
        values[column] = value
    return values
