"""``python -m yoloxkit`` = the ``yoloxkit`` command."""

from .cli import main

main()
