"""Rendering a page: one Jinja2 environment over the package's templates, written atomically."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..files import write_text


@lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment of the report templates (autoescaping, strict undefined)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("yoloxkit.report", "templates"),
        autoescape=True,  # class names and file names are user data
        undefined=jinja2.StrictUndefined,  # a missing field fails the render, not the page
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file under ``report/templates``) filled with ``context``."""
    return environment().get_template(template).render(**context)


def write_page(path: str | Path, template: str, **context: Any) -> Path:
    """Render ``template`` and write it atomically to ``path``; returns the path."""
    write_text(path, render(template, **context))
    return Path(path)
