"""Findings about a dataset (errors and warnings), collected or raised.

Readers, writers and checks report through one :class:`Report`. In strict mode (the default for
reading and converting) the first error stops with a one-line :class:`YoloxkitError` naming the
file and line; in collecting mode (``data check``) every finding is kept for the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from ..errors import YoloxkitError
from .fileio import DataFileError


@dataclass(frozen=True)
class Finding:
    """One problem: severity (``error`` or ``warning``), kind (a short tag), file, message, line."""

    severity: str
    kind: str
    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class Report:
    """Collected findings and counts."""

    strict: bool = True
    findings: list[Finding] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def error(self, kind: str, file: object, message: str, line: int | None = None) -> None:
        """Record an error; in strict mode raise it at once as a one-line YoloxkitError."""
        finding = Finding("error", kind, str(file), message, line)
        if self.strict:
            raise YoloxkitError(str(finding))
        self.findings.append(finding)

    def capture(self, kind: str, exc: DataFileError) -> None:
        """Record a file that could not be parsed (re-raised as is in strict mode)."""
        if self.strict:
            raise exc
        self.findings.append(Finding("error", kind, exc.file, exc.message, exc.line))

    def warn(self, kind: str, file: object, message: str, line: int | None = None) -> None:
        """Record a warning (never raises)."""
        self.findings.append(Finding("warning", kind, str(file), message, line))

    @property
    def errors(self) -> list[Finding]:
        """The error findings."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The warning findings."""
        return [f for f in self.findings if f.severity == "warning"]

    def kinds(self) -> Counter:
        """How many findings of each (severity, kind)."""
        return Counter((f.severity, f.kind) for f in self.findings)

    def to_dict(self) -> dict:
        """``{"counts": ..., "errors": [...], "warnings": [...]}``, as ``--json`` writes it."""
        return {
            "counts": self.counts,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }
