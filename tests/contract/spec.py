"""Validate data against GitHub's published OpenAPI description (cut to what runnerops uses).

GitHub publishes OpenAPI 3.0.3, whose Schema Object is not quite JSON Schema: ``nullable:
true`` allows ``null`` and ``exclusiveMinimum``/``exclusiveMaximum`` are booleans. The
document is converted once to JSON Schema 2020-12 (``nullable`` becomes ``anyOf`` with
``{"type": "null"}``) and validated with ``jsonschema.Draft202012Validator``; every
``$ref`` resolves against the whole document through a ``referencing.Registry``.
``format`` is not asserted (GitHub's own examples are the reference, not RFC 3339).
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .cut_spec import GHES_PREFIX, RUNNER_PATH, cached_cut_spec, iter_refs, resolve_pointer

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON_MEDIA = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
MAX_ERRORS_SHOWN = 10


@cache
def load_spec(name: str) -> dict[str, Any]:
    """The cut spec called ``name`` (paths without the GHES prefix), parsed once per process.

    Treat the result as read-only: it is shared by every caller.
    """
    with cached_cut_spec(name).open(encoding="utf-8") as fh:
        return json.load(fh)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _strip_prefix(spec: dict[str, Any], path_template: str) -> str:
    if path_template not in spec["paths"] and path_template.startswith(GHES_PREFIX + "/"):
        return path_template[len(GHES_PREFIX) :]
    return path_template


def operation(spec: dict[str, Any], method: str, path_template: str) -> dict[str, Any]:
    """The Operation Object for ``METHOD path_template``; LookupError when not in the spec."""
    path_template = _strip_prefix(spec, path_template)
    try:
        return spec["paths"][path_template][method.lower()]
    except KeyError:
        raise LookupError(f"{method.upper()} {path_template} is not in the spec") from None


def _response_location(
    spec: dict[str, Any], method: str, path_template: str, status: int
) -> tuple[str, dict[str, Any]] | None:
    """JSON pointer to, and value of, the JSON body schema of a response; None if bodiless."""
    path_template = _strip_prefix(spec, path_template)
    responses = operation(spec, method, path_template)["responses"]
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            break
    else:
        raise LookupError(
            f"status {status} is not documented for {method.upper()} {path_template} "
            f"(documented: {', '.join(sorted(responses))})"
        )
    pointer = "/" + "/".join(
        _escape(t) for t in ("paths", path_template, method.lower(), "responses", key)
    )
    response = responses[key]
    while "$ref" in response:  # responses may live in components/responses
        pointer = response["$ref"][1:]
        response = resolve_pointer(spec, response["$ref"])
    for media, content in response.get("content", {}).items():
        if JSON_MEDIA.match(media.split(";")[0].strip()) and "schema" in content:
            return f"{pointer}/content/{_escape(media)}/schema", content["schema"]
    return None


def response_schema(
    spec: dict[str, Any], method: str, path_template: str, status: int
) -> dict[str, Any] | None:
    """The JSON body schema documented for a response (may hold local ``$ref``s).

    None when the response has no JSON body (e.g. a 204); LookupError when the operation
    or the status (nor its ``NXX`` range nor ``default``) is not documented.
    """
    location = _response_location(spec, method, path_template, status)
    return None if location is None else location[1]


def documented_statuses(spec: dict[str, Any], method: str, path_template: str) -> list[str]:
    """The response keys (``"200"``, ``"404"``, ``"default"``...) of an operation."""
    return sorted(operation(spec, method, path_template)["responses"])


def operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path template) of every self-hosted runner operation in ``spec``."""
    found = []
    for path, item in spec["paths"].items():
        bare = path[len(GHES_PREFIX) :] if path.startswith(GHES_PREFIX + "/") else path
        if RUNNER_PATH.match(bare):
            found.extend((m.upper(), path) for m in item if m in HTTP_METHODS)
    return sorted(found, key=lambda op: (op[1], op[0]))


def unresolved_refs(spec: dict[str, Any]) -> list[str]:
    """Every ``$ref`` in ``spec`` that does not resolve within it (empty when all do)."""
    bad = []
    for ref in sorted(set(iter_refs(spec))):
        try:
            resolve_pointer(spec, ref)
        except (KeyError, ValueError, IndexError):
            bad.append(ref)
    return bad


def _to_json_schema(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 Schema Objects under ``node`` into JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = converted.get(exclusive)
        if isinstance(flag, bool):
            del converted[exclusive]
            if flag and bound in converted:
                converted[exclusive] = converted.pop(bound)
    if converted.get("nullable") is True:
        del converted["nullable"]
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


@cache
def _registry(name: str) -> tuple[str, Registry]:
    uri = f"urn:runnerops:github-spec:{name}"
    document = _to_json_schema(copy.deepcopy(load_spec(name)))
    resource: Resource[Any] = DRAFT202012.create_resource(document)
    return uri, Registry().with_resource(uri, resource)


def validator_for(name: str, pointer: str) -> Draft202012Validator:
    """A validator for the schema at JSON ``pointer`` (e.g. ``/components/schemas/runner``)."""
    uri, registry = _registry(name)
    return Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry)


def _flatten(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the closest alternative's error rather than the whole."""
    if error.context:
        closest = best_match(error.context)
        if closest is not None:
            return closest
    return error


def schema_errors(validator: Draft202012Validator, data: Any) -> list[ValidationError]:
    """Every validation error of ``data``, ordered by where it occurs."""
    errors = [_flatten(e) for e in validator.iter_errors(data)]
    return sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{p!r}]" for p in error.absolute_path) or "(root)"
    return f"  at body{where}: {error.message[:300]}"


def _check(validator: Draft202012Validator, body: Any, what: str) -> None:
    errors = schema_errors(validator, body)
    if errors:
        shown = "\n".join(_describe(e) for e in errors[:MAX_ERRORS_SHOWN])
        more = len(errors) - MAX_ERRORS_SHOWN
        extra = f"\n  ... and {more} more" if more > 0 else ""
        raise AssertionError(f"{what} does not match the spec:\n{shown}{extra}")


def validate_response(
    spec_name: str, method: str, path_template: str, status: int, body: Any
) -> None:
    """Assert that ``body`` (parsed JSON) is what the spec documents for that response.

    For a response documented without a JSON body, ``body`` must be None or empty. An
    undocumented operation or status is an AssertionError too.
    """
    spec = load_spec(spec_name)
    what = f"{spec_name}: {method.upper()} {path_template} -> {status}"
    try:
        location = _response_location(spec, method, path_template, status)
    except LookupError as exc:
        raise AssertionError(f"{what}: {exc}") from None
    if location is None:
        if body not in (None, b"", ""):
            raise AssertionError(f"{what} documents no JSON body, got {body!r:.200}")
        return
    _check(validator_for(spec_name, location[0]), body, what)


def validate_schema(spec_name: str, schema_name: str, data: Any) -> None:
    """Assert that ``data`` matches ``components/schemas/<schema_name>`` (e.g. ``runner``)."""
    spec = load_spec(spec_name)
    if schema_name not in spec["components"]["schemas"]:
        raise AssertionError(f"{spec_name}: no schema {schema_name!r} in the cut spec")
    pointer = f"/components/schemas/{_escape(schema_name)}"
    _check(validator_for(spec_name, pointer), data, f"{spec_name}: {schema_name}")


def webhook_key(event: str, action: str) -> str:
    """The ``x-webhooks`` key GitHub uses for an event and action (``workflow-job-queued``)."""
    return f"{event}-{action}".replace("_", "-")


def webhook_validator(spec_name: str, event: str, action: str) -> Draft202012Validator:
    """A validator for the payload GitHub publishes for ``event``/``action``; KeyError if none."""
    spec = load_spec(spec_name)
    key = webhook_key(event, action)
    content = spec["x-webhooks"][key]["post"]["requestBody"]["content"]
    media = next(m for m in content if JSON_MEDIA.match(m))
    pointer = "/" + "/".join(
        _escape(t) for t in ("x-webhooks", key, "post", "requestBody", "content", media, "schema")
    )
    return validator_for(spec_name, pointer)


def webhook_errors(spec_name: str, event: str, payload: dict[str, Any]) -> list[ValidationError]:
    """Where ``payload`` departs from the published schema for its event and action."""
    return schema_errors(webhook_validator(spec_name, event, str(payload.get("action"))), payload)


def validate_webhook(spec_name: str, event: str, payload: dict[str, Any]) -> None:
    """Assert that a webhook ``payload`` matches the schema GitHub publishes for it."""
    action = str(payload.get("action"))
    what = f"{spec_name}: webhook {event}.{action}"
    try:
        validator = webhook_validator(spec_name, event, action)
    except KeyError:
        raise AssertionError(f"{what}: no published schema") from None
    _check(validator, payload, what)
