"""One ORM row written with a prebuilt Core INSERT instead of the unit of work.

The hot path's intent row is a single new row that nothing else in its transaction
changes: the ORM's flush (dependency sort, per-attribute history, identity map) costs
several times the INSERT itself. :func:`insert_detached` gives every column its value
(the model's Python default where none was set), sends one INSERT on the session's
connection, in its transaction, and leaves the object as a session with
``expire_on_commit=False`` leaves a row it inserted once closed: detached, every column
loaded. It is not in the session's identity map: read it again in the transaction with
a query, not by ``session.get``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, insert, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

__all__ = ["insert_detached"]

_STATEMENTS: dict[type, tuple[Insert, list[tuple[str, str, Any]]]] = {}


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


def insert_detached(session: Session, *objs: object) -> None:
    """INSERT ``objs`` (new instances of one class, never added to a session) in
    ``session``'s transaction, in one statement (an executemany for several); a
    constraint violation raises here, as a flush would."""
    if not objs:
        return
    cls = type(objs[0])
    if any(type(o) is not cls for o in objs):
        raise TypeError("insert_detached: instances of one class at a time")
    statement, columns = _plan(cls)
    rows = [_values(obj, columns) for obj in objs]
    session.connection().execute(statement, rows if len(rows) > 1 else rows[0])
    for obj in objs:
        make_transient_to_detached(obj)


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
