"""Self-contained HTML pages: the evaluation report, the comparison page and the training page.

Each page is one file that opens offline: styles, scripts and charts are inline (charts are SVG
drawn from the numbers in Python, thumbnails are inlined JPEGs), written by Jinja2 templates
(:mod:`~yoloxkit.report.page`). The JSON and CSV files beside each page carry the same numbers
for programs.
"""

from .page import render, write_page

__all__ = ["render", "write_page"]
