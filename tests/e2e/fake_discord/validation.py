"""Discord's rules for what a bot sends, checked as Discord checks them: message and embed limits,
components, autocomplete choices, modals and synced commands. A broken rule raises
:class:`~tests.e2e.fake_discord.protocol.DiscordHTTPError` with Discord's code and per-field errors.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tests.e2e.fake_discord.protocol import ATTACHMENT_SIZE_LIMIT, IS_COMPONENTS_V2, SELECT_TYPES, DiscordHTTPError

if TYPE_CHECKING:
    from tests.e2e.fake_discord.state import RecordedFile


def walk(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Every component, nested ones included (rows, labels, sections, containers)."""
    for c in components:
        yield c
        yield from walk(c.get("components") or [])
        if isinstance(c.get("component"), dict):
            yield from walk([c["component"]])
        if isinstance(c.get("accessory"), dict):
            yield from walk([c["accessory"]])


def raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise DiscordHTTPError(400, 50035, "Invalid Form Body", problems)


def _too_long(problems: list[tuple[str, str]], path: str, value: Any, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        problems.append((path, f"Must be {limit} or fewer in length."))


def check_message(body: dict[str, Any], files: Sequence[RecordedFile], *, creating: bool, prefix: str = "") -> None:
    """Raise what Discord answers to a message create or edit body that breaks its limits."""
    p = f"{prefix}." if prefix else ""
    problems: list[tuple[str, str]] = []
    _too_long(problems, p + "content", body.get("content"), 2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        problems.append((p + "embeds", "Must be 10 or fewer in length."))
    total = 0
    for i, embed in enumerate(embeds):
        e = f"{p}embeds.{i}."
        texts = [
            (e + "title", embed.get("title"), 256),
            (e + "description", embed.get("description"), 4096),
            (e + "footer.text", (embed.get("footer") or {}).get("text"), 2048),
            (e + "author.name", (embed.get("author") or {}).get("name"), 256),
        ]
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append((e + "fields", "Must be 25 or fewer in length."))
        for j, f in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                if not f.get(key):
                    problems.append((f"{e}fields.{j}.{key}", "This field is required"))
                texts.append((f"{e}fields.{j}.{key}", f.get(key), limit))
        for path, text, limit in texts:
            _too_long(problems, path, text, limit)
            total += len(text) if isinstance(text, str) else 0
    if total > 6000:
        problems.append((p + "embeds", "Embed size exceeds maximum size of 6000"))
    components = body.get("components") or []
    problems += _component_problems(components, body.get("flags") or 0, p)
    if len(files) > 10:
        problems.append((p + "files", "Must be 10 or fewer in length."))
    raise_problems(problems)
    if any(f.size > ATTACHMENT_SIZE_LIMIT for f in files):  # the limit is per file, not summed
        raise DiscordHTTPError(413, 40005, "Request entity too large")
    if creating and not (
        body.get("content") or embeds or files or components or body.get("sticker_ids") or body.get("poll")
    ):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _component_problems(components: list[dict[str, Any]], flags: int, p: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    ids = [c["custom_id"] for c in walk(components) if "custom_id" in c]
    for cid in ids:
        _too_long(problems, p + "components.custom_id", cid, 100)
    if len(set(ids)) != len(ids):
        problems.append((p + "components", "Component custom id cannot be duplicated"))
    if flags & IS_COMPONENTS_V2:
        if len(list(walk(components))) > 40:
            problems.append((p + "components", "Must be 40 or fewer in total."))
        return problems
    if len(components) > 5:
        problems.append((p + "components", "Must be 5 or fewer in length."))
    for r, row in enumerate(components):
        path, children = f"{p}components.{r}", row.get("components") or []
        if row.get("type") != 1:
            problems.append((path + ".type", "Top-level components must be action rows"))
        elif not 1 <= len(children) <= 5:
            problems.append((path + ".components", "Must be between 1 and 5 in length."))
        elif any(c["type"] in SELECT_TYPES for c in children) and len(children) > 1:
            problems.append((path + ".components", "A select menu must be alone in its action row"))
        for c, item in enumerate(children):
            cpath = f"{path}.components.{c}"
            _too_long(problems, cpath + ".label", item.get("label"), 80)
            _too_long(problems, cpath + ".placeholder", item.get("placeholder"), 150)
            if item["type"] == 2 and (item.get("style") == 5) != ("url" in item):
                problems.append((cpath, "Link buttons need a url, other buttons none"))
            if item["type"] == 2 and item.get("style") not in (5, 6) and "custom_id" not in item:
                problems.append((cpath + ".custom_id", "This field is required"))
            if item["type"] == 3 and not 1 <= len(item.get("options") or []) <= 25:
                problems.append((cpath + ".options", "Must be between 1 and 25 in length."))
    return problems


def choices_problems(choices: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems = [("data.choices", "Must be 25 or fewer in length.")] if len(choices) > 25 else []
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name", ""))) <= 100:
            problems.append((f"data.choices.{i}.name", "Must be between 1 and 100 in length."))
        _too_long(problems, f"data.choices.{i}.value", choice.get("value"), 100)
    return problems


def modal_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not 1 <= len(data.get("title") or "") <= 45:
        problems.append(("data.title", "Must be between 1 and 45 in length."))
    _too_long(problems, "data.custom_id", data.get("custom_id"), 100)
    if not 1 <= len(data.get("components") or []) <= 5:
        problems.append(("data.components", "Must be between 1 and 5 in length."))
    for c in walk(data.get("components") or []):
        _too_long(problems, "data.components.label", c.get("label"), 45)
        _too_long(problems, "data.components.value", c.get("value"), 4000)
    return problems


def valid_command_name(name: str) -> bool:
    """Discord's rule for chat-input command and option names: 1 to 32 of letters, digits, '-', '_' and "'"
    (``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``), with no letter that has a lowercase form."""
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if any(not (ch.isalnum() or ch in "-_'" or unicodedata.category(ch) in ("Mn", "Mc")) for ch in name):
        return False  # (Mn/Mc: the combining marks Devanagari and Thai names need)
    return name == name.lower()


MAX_COMMANDS = {1: 100, 2: 15, 3: 15}  # chat input, user, message commands per application


def commands_problems(body: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What Discord refuses in a bulk overwrite of commands."""
    problems = [p for i, c in enumerate(body) for p in command_problems(c, str(i))]
    kinds = [c.get("type", 1) for c in body]
    for kind, most in MAX_COMMANDS.items():
        if kinds.count(kind) > most:
            problems.append(("", f"Maximum number of application commands of type {kind} reached ({most})"))
    names = [(c.get("name"), c.get("type", 1)) for c in body]
    if len(set(names)) != len(names):
        problems.append(("", "Application command names must be unique"))
    return problems


def command_problems(command: dict[str, Any], path: str, *, option: bool = False) -> list[tuple[str, str]]:
    """What Discord refuses in a synced command or option: names, descriptions, option counts,
    order, duplicate names, and choices beside autocomplete."""
    problems: list[tuple[str, str]] = []
    name, chat = command.get("name", ""), option or command.get("type", 1) == 1
    # User and message commands may use any case and spaces; only their length is ruled.
    if not (valid_command_name(name) if chat else isinstance(name, str) and 1 <= len(name) <= 32):
        problems.append((f"{path}.name", "Invalid command name" if not option else "Invalid option name"))
    if chat and not 1 <= len(command.get("description") or "") <= 100:
        problems.append((f"{path}.description", "Must be between 1 and 100 in length."))
    options = command.get("options") or []
    if len(options) > 25:
        problems.append((f"{path}.options", "Must be 25 or fewer in length."))
    required = [bool(o.get("required")) for o in options if o.get("type") not in (1, 2)]
    if required != sorted(required, reverse=True):
        problems.append((f"{path}.options", "Required options must be placed before non-required options"))
    option_names = [o.get("name") for o in options]
    if len(set(option_names)) != len(option_names):
        problems.append((f"{path}.options", "Option names must be unique"))
    choices = command.get("choices") or []
    if len(choices) > 25:
        problems.append((f"{path}.choices", "Must be 25 or fewer in length."))
    if choices and command.get("autocomplete"):
        problems.append((f"{path}.autocomplete", "Autocomplete cannot be set with choices"))
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name", ""))) <= 100:
            problems.append((f"{path}.choices.{i}.name", "Must be between 1 and 100 in length."))
    for i, opt in enumerate(options):
        problems += command_problems(opt, f"{path}.options.{i}", option=True)
    return problems
