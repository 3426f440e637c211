"""Text tables for a terminal: columns padded to their widest cell, numbers to the right."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["table"]


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: frozenset[int] = frozenset()
) -> list[str]:
    """The lines of an aligned table; the columns whose index is in `right` are right-aligned.
    Trailing spaces are cut, so an empty last cell leaves none."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]
