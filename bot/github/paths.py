"""Paths and templates of GitHub's REST API, filled so that no value can step out of its
segment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote


def frozen(variables: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in variables.items()))


SAFE_URL = re.compile(r"https?://[^\s<>|]{1,500}")
_SIMPLE_VAR = re.compile(r"\{([A-Za-z0-9_]+)\}")


def path_segment(value: object) -> str:
    """``value`` as one path segment: everything but letters, digits and ``-._~``
    percent-encoded (as a URI template's simple expansion does), and a value of dots
    alone (``.``, ``..``) encoded too, so that no client or server reads it as a step up."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text and not text.strip(".") else text


def fill_path(template: str, variables: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Fill the ``{name}`` path variables of ``template`` with :func:`path_segment`; the
    rest (a ``{?query}``) are returned for gidgethub's URI template expansion."""
    used: set[str] = set()

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            return match.group(0)
        used.add(name)
        return path_segment(variables[name])

    filled = _SIMPLE_VAR.sub(one, template)
    return filled, {k: v for k, v in variables.items() if k not in used}


def template_vars(template: str) -> list[str]:
    """The variable names of a simple URI template (``/orgs/{org}`` -> ``["org"]``)."""
    return [part.split("}", 1)[0] for part in template.split("{")[1:]]
