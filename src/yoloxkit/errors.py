"""The one exception type that yoloxkit raises for user-facing problems.

The CLI prints such errors as a single line (no traceback); the Python API lets them
propagate so that scripts can catch them.
"""


class YoloxkitError(Exception):
    """A problem with the user's input (file, checkpoint, option) described in one line."""
