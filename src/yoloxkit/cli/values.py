"""Parsing of option values shared by the commands (no heavy imports: the data commands use it)."""

from __future__ import annotations

from ..errors import YoloxkitError


def comma_list(text: str, option: str, kind: type = float, count: int | None = None) -> list:
    """``"a,b,c"`` -> ``[kind(a), kind(b), kind(c)]``; a one-line error naming ``option`` otherwise.

    ``count`` requires exactly that many values (e.g. 2 for a ``LOW,HIGH`` range).
    """
    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise YoloxkitError(f"{option}: expected a comma-separated list of {kind.__name__} values, got {text!r}") from None
    if not values:
        raise YoloxkitError(f"{option}: no value given")
    if count is not None and len(values) != count:
        raise YoloxkitError(f"{option}: expected {count} comma-separated values, got {text!r}")
    return values


def weight_names(weights: list[str] | None) -> list[str]:
    """The models of repeated and comma-separated ``--weights`` values, in order."""
    return [name.strip() for value in weights or [] for name in value.split(",") if name.strip()]
