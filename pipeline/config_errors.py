"""Config problems as short, actionable lines: where (file, line, column or `--set`), which key, what to do.

Pure Python with yaml and pydantic only, so a bad config is reported before TensorFlow or TFX is imported.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any, Optional

import pydantic
import yaml


class ConfigError(ValueError):
    """A configuration that cannot be used. `str()` is one line per problem."""


def yaml_problem(error: yaml.YAMLError, where: str, column_offset: int = 0) -> str:
    """One line for a YAML syntax error: `where, line L, column C: problem (context)`."""
    mark = getattr(error, "problem_mark", None)
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    position = ""
    if mark is not None:
        position = f", line {mark.line + 1}, column {mark.column + 1 + column_offset}"
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None:
        problem += (
            f" ({context} that starts at line {context_mark.line + 1}, column "
            f"{context_mark.column + 1 + column_offset})"
        )
    elif context:
        problem += f" ({context})"
    return f"{where}{position}: {problem}"


def settings_at(model: type[pydantic.BaseModel], location: Iterable[Any]) -> Optional[list[str]]:
    """The valid keys of the section at `location` (a pydantic error location), or None when that is not
    a section of `model` (a free-form mapping, a list element)."""
    current: Any = model
    for part in location:
        if _is_model(current):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = _unwrap_optional(field.annotation)
        elif typing.get_origin(current) is dict:  # e.g. deploy.resources.<Component>: the values' type
            current = _unwrap_optional(typing.get_args(current)[1])
        else:
            return None
    return list(current.model_fields) if _is_model(current) else None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _unwrap_optional(annotation: Any) -> Any:
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(arguments) == 1:
        return arguments[0]
    return annotation


def validation_problems(
    error: pydantic.ValidationError, model: type[pydantic.BaseModel], origin_of: typing.Callable[[str], str]
) -> list[str]:
    """One line per pydantic error: `origin: key: what is wrong (got value)`, with the closest valid key
    for a misspelled one. `origin_of(dotted_key)` says where the value came from (a file or `--set`)."""
    lines = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        key = ".".join(location) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{origin_of(key)}: {key}: {_unknown_key(model, location)}")
            continue
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{origin_of(key)}: {key}: {message}{shown}")
    return lines


def _unknown_key(model: type[pydantic.BaseModel], location: list[str]) -> str:
    valid = settings_at(model, location[:-1])
    if not valid:
        return "unknown setting"
    section = ".".join(location[:-1])
    close = difflib.get_close_matches(location[-1], valid, n=1, cutoff=0.6)
    prefix = f"{section}." if section else ""
    if close:
        return f"unknown setting; did you mean {prefix}{close[0]}?"
    return f"unknown setting; {'the section ' + section if section else 'the top level'} has: {', '.join(valid)}"
