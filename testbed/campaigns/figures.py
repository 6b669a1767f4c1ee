"""What a campaign reports: named figures, some of which must be zero, and the printed table.

Speed figures are printed, never judged; correctness figures (`zero=True`) make
the run fail when they are not 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Figure:
    """One printed figure; `zero` marks those that must be 0."""

    campaign: str
    name: str
    value: object
    zero: bool = False

    @property
    def failed(self) -> bool:
        return self.zero and self.value != 0


class Result(Protocol):
    """What every campaign's run() returns."""

    def figures(self) -> list[Figure]: ...

    def details(self) -> list[str]:
        """What a failing figure needs for a diagnosis (a few lines)."""
        ...


def table(figures: list[Figure]) -> str:
    """The figures as an aligned table; a must-be-zero figure says ok or FAIL."""
    width = max(len(f"{f.campaign}: {f.name}") for f in figures)
    lines = [f"{'figure':<{width}}  {'value':>10}  must be 0", "-" * (width + 26)]
    for f in figures:
        check = ("FAIL" if f.failed else "ok") if f.zero else ""
        lines.append(f"{f'{f.campaign}: {f.name}':<{width}}  {str(f.value):>10}  {check}")
    return "\n".join(lines)
