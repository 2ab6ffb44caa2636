"""XML parsing that remembers the line of every element (for errors that name file and line)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.parsers import expat

from .fileio import DataFileError


def parse_xml(path: Path, text: str) -> ET.Element:
    """The root element of ``text``, each element's line in ``attrib['_line']``.

    Syntax errors become a one-line error naming the file and line.
    """
    parser = expat.ParserCreate()
    stack: list[ET.Element] = []
    root: list[ET.Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = ET.Element(tag, {**attrs, "_line": str(parser.CurrentLineNumber)})
        element.text = ""
        (stack[-1].append(element) if stack else root.append(element))
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    def data(chunk: str) -> None:
        if stack:
            stack[-1].text += chunk

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code)
        raise DataFileError(path, f"invalid XML ({message}, column {exc.offset + 1})", exc.lineno) from None
    return root[0]


def line_of(element: ET.Element) -> int | None:
    """The source line recorded for ``element``."""
    value = element.get("_line")
    return int(value) if value else None
