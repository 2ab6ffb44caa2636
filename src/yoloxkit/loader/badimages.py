"""Unreadable images met while loading: never skipped silently.

Without ``skip_bad_images`` the first one stops training with its file name. With it, each
distinct file is logged (``yoloxkit.loader`` logger, warning) the first time it is met, every
replaced sample is counted, and :meth:`BadImageLog.summary` gives the totals at the end.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("yoloxkit.loader")


class BadImageLog:
    """Distinct unreadable files with their reasons, and the number of samples that were replaced."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self.replaced = 0
        self._reported = 0

    def __len__(self) -> int:
        return len(self.reasons)

    def add(self, path: str, reason: str) -> None:
        """Record one unreadable image (logged the first time its file is seen)."""
        if path not in self.reasons:
            self.reasons[path] = reason
            logger.warning("skipping unreadable image %s: %s", path, reason)

    def summary(self) -> str:
        """One line per file after a total, e.g. ``2 unreadable images skipped (5 samples replaced):``."""
        lines = [f"{len(self)} unreadable image(s) skipped ({self.replaced} sample(s) replaced):"]
        lines += [f"  {path}: {reason}" for path, reason in sorted(self.reasons.items())]
        return "\n".join(lines)

    def report(self) -> None:
        """Log the summary if files were added since the last report (called at the end of each pass)."""
        if len(self) > self._reported:
            logger.warning(self.summary())
            self._reported = len(self)
