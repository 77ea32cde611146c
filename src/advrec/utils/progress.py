"""Progress bars on long work, quiet when stderr is not a terminal (logs, CI, pipes)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, enabled: bool = True, total: int | None = None) -> Iterable[T]:
    if not enabled or not sys.stderr.isatty():
        return items
    return tqdm(items, desc=desc, total=total, leave=False, dynamic_ncols=True)
