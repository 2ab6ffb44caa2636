"""Where results may be written: the one policy for every output folder and output file.

Rules (README, "Safety"):

- an output folder that already holds files (earlier results, or anything else) is never
  written into unless the user says so with ``--exist-ok`` (``train`` continues a run with
  ``--resume``);
- an output folder never is or holds the inputs being read (``predict photos/ --out photos/``,
  ``--out DATASET`` for ``DATASET/images``), nor lies inside a folder of input images
  (``predict photos/ --out photos/pred``): refused even with ``--exist-ok``;
- output paths are checked before any work starts: ``--out`` naming a file, ``--json`` naming
  a folder or an input file are one-line errors, not a failure after an hour of work.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import YoloxkitError
from .files import is_stale_part, remove_stale_parts


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def dataset_inputs(source: str | Path | None) -> list[Path]:
    """What a dataset argument names (a folder, data.yaml, COCO JSON or split.yaml), for the checks above.

    Output folders may lie inside a dataset folder (``--data ds --out ds/runs/exp``: nothing of
    the dataset is touched, the folder must be new or empty) but never be or hold it.
    """
    if not source or not isinstance(source, (str, Path)):  # none, "" (a dataset given as an object)
        return []
    return [Path(source)]


def holds_results(folder: Path) -> bool:
    """True when ``folder`` exists and holds anything but temporary files of killed writes."""
    if not folder.is_dir():
        return False
    return any(not is_stale_part(entry) for entry in folder.iterdir())


def check_not_input(target: str | Path, inputs: Iterable[str | Path | None], option: str, image_folders: Iterable[str | Path | None] = ()) -> None:
    """Refuse an output ``target`` (given as ``option``) that is or holds one of ``inputs`` or
    ``image_folders``, or lies inside one of the ``image_folders`` (where outputs would mix with,
    and next time be read as, the inputs)."""
    resolved = _resolved(target)
    folders = [given for given in image_folders if given is not None and str(given) != ""]
    for given in [*folders, *(given for given in inputs if given is not None and str(given) != "")]:
        source = _resolved(given)
        if _inside(source, resolved):
            relation = "is" if source == resolved else "holds"
            raise YoloxkitError(f"{option} {target} {relation} the input {given}; choose another {option}")
    for given in folders:
        if _inside(resolved, _resolved(given)):
            raise YoloxkitError(f"{option} {target} lies inside the input folder {given}; choose another {option}")


def prepare_output_dir(
    out: str | Path,
    inputs: Iterable[str | Path | None] = (),
    exist_ok: bool = False,
    flag: str | None = "--exist-ok",
    option: str = "--out",
    image_folders: Iterable[str | Path | None] = (),
) -> Path:
    """Check and create the output folder ``out`` before any work (see the module rules).

    ``inputs`` are the files and folders the command reads (``out`` may not be or hold them);
    ``image_folders`` are folders of input images that ``out`` may not even lie inside (see
    :func:`check_not_input`). ``flag`` is the option that allows writing into a folder with
    earlier results (named in the error; None: no such option). Temporary files
    left by a killed earlier run are removed. Returns ``out`` as a Path.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise YoloxkitError(f"{option} {out} is a file, not a folder")
    check_not_input(out, inputs, option, image_folders)
    if holds_results(out) and not exist_ok:
        allow = f" or pass {flag} to write into it" if flag else " (new or empty folders only)"
        raise YoloxkitError(f"output folder {out} already holds files (earlier results?); choose a new {option}{allow}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise YoloxkitError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    remove_stale_parts(out)
    return out


def next_free_dir(out: str | Path) -> Path:
    """``out`` if it is new or empty, else the first of ``out-2``, ``out-3``, ... that is."""
    out = Path(out)
    candidate, number = out, 1
    while holds_results(candidate) or (candidate.exists() and not candidate.is_dir()):
        number += 1
        candidate = out.with_name(f"{out.name}-{number}")
    return candidate


def check_output_file(path: str | Path | None, inputs: Iterable[str | Path | None] = (), option: str = "--json") -> None:
    """Check an output file path before any work: not a folder, not an input, folder creatable."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise YoloxkitError(f"{option} {path} is a folder; give a file name")
    check_not_input(path, inputs, option)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise YoloxkitError(f"{option} {path}: {parent} is a file, not a folder")
