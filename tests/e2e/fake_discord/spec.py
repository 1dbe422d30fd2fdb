"""Request bodies checked against Discord's own OpenAPI description of its HTTP API.

``openapi/discord-openapi.json`` is Discord's ``specs/openapi.json`` (discord/discord-api-spec,
commit 74fda0f, MIT licence in ``openapi/LICENSE``). Every JSON body the bot sends (and the
``payload_json`` of a multipart one) is validated against the route's request schema, strictly:
a key a schema does not list is refused too (Discord ignores most of them; a misspelt key is a
bug all the same).

Known differences between what discord.py sends and the spec, which the live API accepts, are
put right before validating and counted in :data:`KNOWN_EXCEPTIONS` (see ``openapi/README.md``):
snowflakes sent as JSON integers in ``message_reference`` and in multipart ``attachments[].id``,
and the ``tts``, ``nsfw`` and ``embeds[].flags`` keys the schemas don't list.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).parent / "openapi" / "discord-openapi.json"
SPEC_URI = "https://discord.com/openapi.json"
KNOWN_EXCEPTIONS: Counter[str] = Counter()  # which known difference was put right, how often


def _strict(node: Any) -> Any:
    """Every object schema with listed properties refuses keys it does not list."""
    if isinstance(node, dict):
        node = {key: _strict(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["unevaluatedProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(value) for value in node]
    return node


@functools.cache
def _spec() -> dict[str, Any]:
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    spec["components"] = _strict(spec["components"])
    return spec


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str, int]]:
    """(pattern, spec path, literal characters) for every path; the most literal one wins."""
    routes = []
    for path in _spec()["paths"]:
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path))
        literal = len(re.sub(r"\{[a-z_]+\}", "", path))
        routes.append((re.compile(f"^{pattern}$"), path, literal))
    return routes


def spec_path(path: str) -> str | None:
    """The spec's path template for a request path (relative to /api/v10), or None."""
    matches = [(literal, template) for pattern, template, literal in _routes() if pattern.match(path)]
    return max(matches)[1] if matches else None


@functools.cache
def _validator(template: str, method: str):
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    operation = _spec()["paths"][template].get(method.lower())
    content = ((operation or {}).get("requestBody") or {}).get("content") or {}
    if "application/json" not in content:
        return None
    pointer = "/".join(["#", "paths", template.replace("~", "~0").replace("/", "~1"), method.lower()])
    pointer += "/requestBody/content/application~1json/schema"
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(_spec(), default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=registry)


def _put_right(body: Any, template: str) -> Any:
    """The body with the known discord.py differences put right (and counted)."""
    if not isinstance(body, (dict, list)):
        return body
    body = copy.deepcopy(body)
    targets = [body] if isinstance(body, dict) else []
    if isinstance(body, dict) and isinstance(body.get("data"), dict):  # an interaction callback's message
        targets.append(body["data"])
    for target in targets:
        if "tts" in target:
            KNOWN_EXCEPTIONS["tts key"] += 1
            del target["tts"]
        reference = target.get("message_reference")
        if isinstance(reference, dict):
            for key in ("message_id", "channel_id", "guild_id"):
                if isinstance(reference.get(key), int) and not isinstance(reference[key], bool):
                    KNOWN_EXCEPTIONS["integer snowflake in message_reference"] += 1
                    reference[key] = str(reference[key])
        for attachment in target.get("attachments") or []:
            if isinstance(attachment, dict) and isinstance(attachment.get("id"), int):
                KNOWN_EXCEPTIONS["integer attachments[].id"] += 1
                attachment["id"] = str(attachment["id"])
        for embed in target.get("embeds") or []:
            if isinstance(embed, dict) and "flags" in embed:
                KNOWN_EXCEPTIONS["embeds[].flags key"] += 1
                del embed["flags"]
    if template.endswith("/commands"):
        for command in body if isinstance(body, list) else []:
            if isinstance(command, dict) and "nsfw" in command:
                KNOWN_EXCEPTIONS["nsfw key"] += 1
                del command["nsfw"]
    return body


def _message(error) -> str:
    """Discord's wording for a broken rule, where it has one."""
    kind, limit = error.validator, error.validator_value
    if kind in ("maxLength", "maxItems"):
        return f"Must be {limit} or fewer in length."
    if kind in ("minLength", "minItems"):
        return f"Must be {limit} or more in length."
    if kind == "required":
        return "This field is required"
    if kind == "maximum":
        return f"int value should be less than or equal to {limit}."
    if kind == "minimum":
        return f"int value should be greater than or equal to {limit}."
    if kind == "unevaluatedProperties":
        return f"Unknown field: {error.message}"
    return f"Invalid value ({kind}): {error.message[:200]}"


def _closest(error):
    """For a union (oneOf/anyOf), the error inside the branch the body meant: the one whose
    ``type`` (component type, callback type...) matched and that broke the fewest rules."""
    while error.context:
        branches: dict[int, list] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        meant = [
            errors
            for errors in branches.values()
            if not any(
                (list(e.relative_path) == ["type"] and e.validator in ("enum", "const"))
                or (not e.relative_path and e.validator == "type")
                for e in errors
            )
        ]
        if not meant:
            return error
        error = min(meant, key=len)[0]
    return error


def spec_problems(method: str, path: str, body: Any) -> list[tuple[str, str]]:
    """(field path, message) for each way ``body`` breaks the route's request schema; [] when it
    keeps to it, or when the spec has no JSON body for the route (then there is nothing to check)."""
    template = spec_path(path)
    if template is None or body is None:
        return []
    validator = _validator(template, method)
    if validator is None:
        return []
    body = _put_right(body, template)
    problems = []
    for error in validator.iter_errors(body):
        best = _closest(error)
        where = ".".join(str(part) for part in best.absolute_path)
        if best.validator == "required":
            missing = re.match(r"'([^']+)'", best.message)
            where = ".".join(filter(None, [where, missing and missing.group(1)]))
        problems.append((where, _message(best)))
    return problems
