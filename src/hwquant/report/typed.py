"""Dataclasses as JSON: serialize, read back with type checks, and derive a JSON Schema (2020-12).

A small generator over dataclass fields and their type hints, so report.json's type, its reader and
its published schema cannot drift apart. Types understood: ``int``, ``float`` (an int is accepted),
``str``, ``bool``, ``Any``, ``X | None``, ``list[X]``, ``dict[str, X]`` and nested dataclasses.

Per-field options go in the field's metadata (see :func:`fld`):

- ``doc``: the description in the schema;
- ``key``: the JSON key when it is not the field's name (``float`` is a keyword-ish name);
- ``null``: always written, as null when None (otherwise a None field is left out);
- ``null_when``: written (possibly null) only when the named internal bool field is true;
- ``internal`` with ``present``: not written; true when the JSON object has the key ``present``;
- ``flatten``: a ``dict[str, X]`` whose entries are the object's other keys (an open section);
- ``minimum`` / ``maximum``: the range of a number (checked on finite values only: whether a NaN
  or infinite measure passes is a gate's decision, and it fails).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


class ReportTypeError(ValueError):
    """A JSON value does not have its declared type or range; ``where`` is its path."""

    def __init__(self, where: str, expected: str, value: Any) -> None:
        self.where, self.expected, self.value = where, expected, value
        shown = f"{type(value).__name__} {str(value)[:60]!r}"
        super().__init__(f"{where}: expected {expected}, got {shown}")


def fld(
    default: Any = None,
    doc: str = "",
    *,
    factory: Any = None,
    required: bool = False,
    **meta: Any,
) -> Any:
    """A dataclass field with schema metadata; ``required=True`` gives it no default."""
    metadata = {"doc": doc, **meta}
    if required:
        return dataclasses.field(metadata=metadata)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), nullable  # noqa: UP007
    return tp, False


# -- serialize ---------------------------------------------------------------------------------------------
def to_json(obj: Any) -> Any:
    """Plain JSON data (dicts, lists, numbers, strings) of a dataclass value."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            m = f.metadata
            if m.get("internal"):
                continue
            if m.get("flatten"):
                out.update({k: to_json(x) for k, x in (v or {}).items()})
                continue
            if v is None:
                keep = m.get("null") or (m.get("null_when") and getattr(obj, m["null_when"]))
                if not keep:
                    continue
            elif m.get("null_when") and not getattr(obj, m["null_when"]):
                continue
            out[_key(f)] = to_json(v)
        return out
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


# -- read back, type-checked -------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_range(where: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    """A finite number outside the field's declared range is an error (non-finite ones are left to gates)."""
    if not _is_num(value) or not math.isfinite(value):
        return
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ReportTypeError(where, f"a number in {rng}", value)


def read(tp: Any, data: Any, where: str, partial: bool = False) -> Any:
    """``data`` as a value of type ``tp`` (a dataclass instance for a dataclass type).

    ``partial``: a missing required field reads as None (reports written by hand, older reports)."""
    base, nullable = _optional(tp)
    if data is None:
        if nullable or base is Any or partial:
            return None
        raise ReportTypeError(where, describe(base), data)
    if base is Any:
        return data
    if dataclasses.is_dataclass(base) and isinstance(base, type):
        return _read_dataclass(base, data, where, partial)
    origin = typing.get_origin(base)
    if origin is list:
        if not isinstance(data, list):
            raise ReportTypeError(where, describe(base), data)
        (item,) = typing.get_args(base)
        return [read(item, v, f"{where}[{i}]", partial) for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise ReportTypeError(where, describe(base), data)
        _, value = typing.get_args(base)
        return {k: read(value, v, f"{where}.{k}", partial) for k, v in data.items()}
    if origin in (Union, types.UnionType):
        for alt in typing.get_args(base):
            try:
                return read(alt, data, where, partial)
            except ReportTypeError:
                continue
        raise ReportTypeError(where, describe(base), data)
    if base is float:
        if not _is_num(data):
            raise ReportTypeError(where, "a number or null" if nullable else "a number", data)
        return data
    if base is int:  # 5000.0 is an integer in JSON Schema; NaN/inf are left to the gates (they fail)
        if isinstance(data, float) and (not math.isfinite(data) or data.is_integer()):
            return data
        if isinstance(data, bool) or not isinstance(data, int):
            raise ReportTypeError(where, "an integer or null" if nullable else "an integer", data)
        return data
    if base is bool or base is str:
        if not isinstance(data, base):
            raise ReportTypeError(where, describe(base), data)
        return data
    raise TypeError(f"typed.read: unsupported type {base!r}")


def _read_dataclass(cls: type[T], data: Any, where: str, partial: bool) -> T:
    if not isinstance(data, dict):
        raise ReportTypeError(where, "an object", data)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    known: set[str] = set()
    flatten = None
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        m = f.metadata
        if m.get("flatten"):
            flatten = f
            continue
        if m.get("internal"):
            kwargs[f.name] = m.get("present") in data
            continue
        key = _key(f)
        known.add(key)
        here = f"{where}.{key}"
        if key not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and not partial:
                raise ReportTypeError(here, f"{describe(hints[f.name])} (a required key)", None)
            continue
        kwargs[f.name] = read(hints[f.name], data[key], here, partial)
        check_range(here, kwargs[f.name], m)
    extra = {k: v for k, v in data.items() if k not in known}
    if flatten is not None:
        _, value = typing.get_args(_optional(hints[flatten.name])[0])
        kwargs[flatten.name] = {k: read(value, v, f"{where}.{k}", partial) for k, v in extra.items()}
    if partial:
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs[f.name] = None
    return cls(**kwargs)


def read_field(cls: type, name: str, data: Any, where: str) -> Any:
    """One field of ``cls`` read from ``data`` (its declared type and range), partially."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    value = read(_hints(cls)[name], data, where, partial=True)
    check_range(where, value, f.metadata)
    return value


def describe(tp: Any) -> str:
    base, nullable = _optional(tp)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", Any: "any value"}
    if base in names:
        text = names[base]
    elif typing.get_origin(base) is list:
        text = "a list"
    else:
        text = "an object"
    return f"{text} or null" if nullable else text


# -- JSON Schema -------------------------------------------------------------------------------------------
def json_schema(root: type, *, schema_id: str, title: str, description: str = "") -> dict[str, Any]:
    """A JSON Schema (2020-12) of ``root`` and every dataclass it holds (under ``$defs``)."""
    defs: dict[str, Any] = {}
    body = _object_schema(root, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **({"description": description} if description else {}),
        **body,
        "$defs": dict(sorted(defs.items())),
    }


def _type_schema(tp: Any, defs: dict[str, Any], meta: typing.Mapping[str, Any] | None = None) -> dict[str, Any]:
    base, nullable = _optional(tp)
    meta = meta or {}
    if base is Any:
        s: dict[str, Any] = {}
    elif dataclasses.is_dataclass(base) and isinstance(base, type):
        if base.__name__ not in defs:
            defs[base.__name__] = {}  # recursion guard
            defs[base.__name__] = _object_schema(base, defs)
        s = {"$ref": f"#/$defs/{base.__name__}"}
    elif typing.get_origin(base) is list:
        s = {"type": "array", "items": _type_schema(typing.get_args(base)[0], defs)}
    elif typing.get_origin(base) is dict:
        s = {"type": "object", "additionalProperties": _type_schema(typing.get_args(base)[1], defs)}
    elif typing.get_origin(base) in (Union, types.UnionType):
        s = {"anyOf": [_type_schema(a, defs) for a in typing.get_args(base)]}
    else:
        s = {"type": {int: "integer", float: "number", str: "string", bool: "boolean"}[base]}
    for k in ("minimum", "maximum"):
        if meta.get(k) is not None:
            s[k] = meta[k]
    if nullable and base is not Any:
        s = (
            {"type": [s["type"], "null"], **{k: v for k, v in s.items() if k != "type"}}
            if "type" in s
            else {"anyOf": [s, {"type": "null"}]}
        )
    if meta.get("doc"):
        s = {"description": meta["doc"], **s}
    return s


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    extra: Any = False
    for f in dataclasses.fields(cls):
        m = f.metadata
        if m.get("internal"):
            continue
        if m.get("flatten"):
            extra = _type_schema(typing.get_args(_optional(hints[f.name])[0])[1], defs)
            continue
        tp = hints[f.name]
        if not (m.get("null") or m.get("null_when")):  # a None field is left out, never written as null
            tp = _optional(tp)[0]
        props[_key(f)] = _type_schema(tp, defs, m)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(_key(f))
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    out: dict[str, Any] = {"type": "object"}
    if doc and not doc.startswith(cls.__name__ + "("):
        out["description"] = doc
    out["properties"] = props
    if required:
        out["required"] = required
    out["additionalProperties"] = extra
    return out
