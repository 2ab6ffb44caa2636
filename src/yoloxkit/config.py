"""The one configuration system: typed dataclasses filled from defaults, a YAML file and ``--set``.

A configuration is a (frozen) dataclass whose fields may be other dataclasses. Values arrive as
plain data (YAML, ``key.sub=value`` overrides) and are converted by the field's type hint:
``int``, ``float``, ``bool``, ``str``, ``Path``, ``Literal[...]``, ``X | None``, ``tuple[...]``,
``list[X]``, ``dict[str, X]`` and nested dataclasses. Every error is a
:class:`~yoloxkit.errors.YoloxkitError` that names the field (``optim.lr: expected a number,
got 'fast'``); a misspelt key suggests the closest field. A dataclass's own ``__post_init__``
checks run too, and their errors are prefixed with the field's path.

    cfg = load_config(TrainConfig, "train.yaml", ["optim.lr=0.002", "epochs=50"])
    print(dump_yaml(cfg))
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from .errors import YoloxkitError

T = TypeVar("T")


def _where(path: str) -> str:
    return path or "config"


def _convert(value: Any, hint: Any, path: str) -> Any:  # noqa: C901 - one branch per supported type
    """``value`` as the type ``hint`` describes, or a YoloxkitError naming ``path``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, path)
            except YoloxkitError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        raise YoloxkitError(f"{_where(path)}: {' or '.join(errors)}")
    if origin is Literal:
        if isinstance(value, bool):  # YAML 1.1 reads a bare off/on/no/yes as a boolean
            spelled = [word for word in (("off", "no", "false") if not value else ("on", "yes", "true")) if word in args]
            value = spelled[0] if spelled else value
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise YoloxkitError(f"{_where(path)}: expected one of {choices}, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise YoloxkitError(f"{_where(path)}: expected a section (mapping), got {value!r}")
        return from_dict(hint, value, path)
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise YoloxkitError(f"{_where(path)}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise YoloxkitError(f"{_where(path)}: expected {len(args)} values, got {len(value)} ({value!r})")
            return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise YoloxkitError(f"{_where(path)}: expected a mapping, got {value!r}")
        key_hint, value_hint = args or (Any, Any)
        return {_convert(k, key_hint, path): _convert(v, value_hint, f"{path}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise YoloxkitError(f"{_where(path)}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise YoloxkitError(f"{_where(path)}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as text
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise YoloxkitError(f"{_where(path)}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise YoloxkitError(f"{_where(path)}: expected text, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, (str, Path)):
            raise YoloxkitError(f"{_where(path)}: expected a path, got {value!r}")
        return Path(value)
    raise TypeError(f"{_where(path)}: unsupported field type {hint!r}")  # a bug in a config class


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build the dataclass ``cls`` from plain data; missing fields keep their defaults."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in data if key not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(fields)}"
        raise YoloxkitError(f"{_where(_join(path, key))}: unknown field{hint}")
    hints = _hints(cls)
    values = {key: _convert(value, hints[key], _join(path, key)) for key, value in data.items()}
    try:
        return cls(**values)
    except YoloxkitError as exc:
        raise YoloxkitError(f"{path}: {exc}" if path else str(exc)) from None


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def to_dict(config: Any) -> Any:
    """Plain YAML/JSON-ready data (tuples become lists, paths text) from a config."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=0.002"`` -> ``(["optim", "lr"], 0.002)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise YoloxkitError(f"--set {text!r}: expected key=value, e.g. optim.lr=0.002")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``key.sub=value`` override applied (sections created as needed)."""
    merged = _deep_copy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = merged
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise YoloxkitError(f"--set {text!r}: {'.'.join(keys[: depth + 1])} is a value, not a section")
            node = child
        node[keys[-1]] = value
    return merged


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update`` section by section (nested mappings merge, values replace)."""
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = _deep_copy(value)
    return merged


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file, with a clear error for a missing or malformed file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise YoloxkitError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise YoloxkitError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise YoloxkitError(f"{path}: expected a mapping of fields at the top level")
    return data


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> T:
    """``defaults`` (or the class's own), then the YAML file at ``path``, then ``overrides``."""
    data = dict(defaults) if defaults is not None else {}
    if path is not None:
        data = merge(data, read_yaml(path))
    return from_dict(cls, apply_overrides(data, overrides))


def dump_yaml(config: Any) -> str:
    """The config as YAML text, in field order (what ``--print-config`` shows and runs record)."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=False)


__all__ = [
    "apply_overrides",
    "dump_yaml",
    "from_dict",
    "load_config",
    "merge",
    "parse_override",
    "read_yaml",
    "to_dict",
]
