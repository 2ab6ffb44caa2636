"""Numbers that trace (issue 14): every results file that README.md and docs/ cite exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CITED = re.compile(r"benchmarks/results/[A-Za-z0-9_./*-]*[A-Za-z0-9_*]")


def cited_paths() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for match in sorted(set(CITED.findall(document.read_text(encoding="utf-8")))):
            found.append((document.relative_to(ROOT).as_posix(), match))
    return found


def test_documents_cite_results_files():
    assert len(cited_paths()) >= 10  # the pattern finds the citations (a broken regex would pass vacuously)


@pytest.mark.parametrize("document, path", cited_paths(), ids=lambda value: str(value))
def test_every_cited_results_file_exists(document: str, path: str):
    matches = list(ROOT.glob(path)) if "*" in path else [ROOT / path] if (ROOT / path).exists() else []
    assert matches, f"{document} cites {path}, which does not exist"
