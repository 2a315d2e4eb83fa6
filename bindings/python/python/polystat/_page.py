"""One page of a list call, with DataFrame and Arrow export."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from ._errors import ConfigurationError


class Page(Sequence[dict[str, Any]]):
    """One page of records from ``Repository.list``.

    A page is a sequence of record dicts. Pass ``next_cursor`` as ``cursor``
    to the same ``list`` call to get the next page; it is ``None`` on the
    last page.
    """

    __slots__ = ("items", "next_cursor")

    def __init__(self, items: list[dict[str, Any]], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.items[index]

    def __repr__(self) -> str:
        more = "more" if self.next_cursor else "last page"
        return f"<polystat.Page of {len(self.items)} records, {more}>"

    def to_pandas(self) -> Any:
        """Return the records as a ``pandas.DataFrame``, one row per record
        and one column per top-level field. Requires pandas."""
        return records_to_pandas(self.items)

    def to_arrow(self) -> Any:
        """Return the records as a ``pyarrow.Table``; nested fields become
        struct and list columns. Requires pyarrow."""
        return records_to_arrow(self.items)


def records_to_pandas(records: list[dict[str, Any]]) -> Any:
    """Build a ``pandas.DataFrame`` from record dicts."""
    try:
        import pandas
    except ImportError as error:
        raise ConfigurationError(
            "to_pandas() needs pandas; install it with: pip install pandas"
        ) from error
    return pandas.DataFrame.from_records(records)


def records_to_arrow(records: list[dict[str, Any]]) -> Any:
    """Build a ``pyarrow.Table`` from record dicts."""
    try:
        import pyarrow
    except ImportError as error:
        raise ConfigurationError(
            "to_arrow() needs pyarrow; install it with: pip install pyarrow"
        ) from error
    return pyarrow.Table.from_pylist(records)
