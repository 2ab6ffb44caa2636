"""The one exception type that yoloxkit raises for user-facing problems.

The CLI prints such errors as a single line (no traceback); the Python API lets them
propagate so that scripts can catch them.
"""


class YoloxkitError(Exception):
    """A problem with the user's input (file, checkpoint, option) described in one line."""


def last_line(exc: BaseException, default: str = "") -> str:
    """The last non-empty line of a library's (often multi-line) error message, for a one-line error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else default or type(exc).__name__
