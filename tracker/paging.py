"""One page of a long list, with what the pager needs. Plain Python: services and views share it."""

from __future__ import annotations

import math
from dataclasses import dataclass


def page_number(requested: int, total: int, per_page: int) -> int:
    """The page to show: a number past the end (a stale link, a list that shrank) shows the last page."""
    return min(max(requested, 1), max(1, math.ceil(total / per_page)))


@dataclass
class Page:
    items: list
    total: int  # across every page
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1
