"""Discord plumbing below the client and the cogs: sending within Discord's limits, the one error
path, cooldowns, off-loop calls, answering interactions in time. Imports nothing of the bot above it.

Two pools of worker threads. ``off_loop`` runs slow work (models, Chroma, generation, course
loads) on asyncio's default executor, which has few workers on a small machine (``cpu + 4``)
and can be full for seconds under load. ``storage_call`` runs short steps (the state database,
a small file) on a small pool of their own, so a learner's ``/next`` never waits in line behind
someone's ``/similar``.

Discord's 3-second window. The first response to an interaction must reach Discord within 3 s
("Unknown interaction" after that, and the reply is lost). ``in_time`` runs an interaction's
work and, when it is not done within ``DEFER_AFTER_S``, acknowledges the interaction first
(deferred, with the privacy the reply will have); ``respond`` then sends the reply as the
response or as the followup, whichever is due. Fast replies stay one plain response.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown, escape_mentions

from bot.domain.errors import UserError
from bot.domain.messages import clean_message
from bot.domain.text import shorten

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
INTERACTION_TOKEN_LIFE_S = 15 * 60  # Discord refuses followups and edits on an older interaction token
TOKEN_MARGIN_S = 60.0  # a reply still being updated moves off the token this long before it expires
GENERIC_APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again in a moment."
NO_MENTIONS = discord.AllowedMentions.none()
T = TypeVar("T")
# Answers not ready by then are deferred: Discord drops a first response later than 3 s after the
# interaction, and the work may have waited on the gateway and the event loop before it started.
DEFER_AFTER_S = 1.0
STORAGE_WORKERS = 4  # each Database is one connection behind a lock: more would only queue there

_storage_pool: ThreadPoolExecutor | None = None
_storage_pool_lock = threading.Lock()


async def off_loop(function: Callable[..., T], *args, **kwargs) -> T:
    """Run blocking work (models, Chroma, files) in a worker thread, never on the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def storage_call(function: Callable[..., T], *args, **kwargs) -> T:
    """Run a short blocking storage step (the state database, a small file) off the event loop, on
    the storage workers: never queued behind the model work of ``off_loop``. Not for anything
    that loads or runs a model."""
    global _storage_pool
    with _storage_pool_lock:
        if _storage_pool is None:
            _storage_pool = ThreadPoolExecutor(STORAGE_WORKERS, thread_name_prefix="storage")
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_storage_pool, call)


async def in_time(
    interaction: discord.Interaction,
    work: Awaitable[T],
    *,
    ephemeral: bool = False,
    after: float = DEFER_AFTER_S,
) -> T:
    """Await ``work`` for an interaction not yet responded to; if it is not done within ``after``
    seconds, acknowledge the interaction meanwhile, so the reply can't miss Discord's 3-second
    window. A command (or a modal) is deferred with "thinking…", public or private as
    ``ephemeral`` says (the reply then fills that message); a button press gets a deferred
    update, which shows nothing (the reply edits the pressed message, or is a new message).
    Reply with ``respond`` (or by checking ``interaction.response.is_done()``)."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=after)
        if not done and not interaction.response.is_done():
            if interaction.type is discord.InteractionType.component:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        return await task
    finally:
        if not task.done():  # the defer failed, or this handler was cancelled
            task.cancel()


async def respond(interaction: discord.Interaction, *, ephemeral: bool = False, edit: bool = False, **message) -> None:
    """Reply to an interaction whose work went through ``in_time``: as its response when it was
    not deferred, else as a followup; ``edit`` edits the pressed message instead (a button's)."""
    deferred = interaction.response.is_done()
    if edit:
        if deferred:
            await interaction.edit_original_response(**message)
        else:
            await interaction.response.edit_message(**message)
    elif deferred:
        await interaction.followup.send(ephemeral=ephemeral, **message)
    else:
        await interaction.response.send_message(ephemeral=ephemeral, **message)


def utcnow() -> dt.datetime:
    """Now, for interaction token lifetimes (tests move it with the loopback Discord's clock)."""
    return discord.utils.utcnow()


def token_seconds_left(interaction: discord.Interaction) -> float:
    """Seconds until ``interaction``'s token expires (15 minutes after Discord created it)."""
    expires = interaction.created_at + dt.timedelta(seconds=INTERACTION_TOKEN_LIFE_S)
    return (expires - utcnow()).total_seconds()


def can_post_in(interaction: discord.Interaction) -> bool:
    """Whether the bot may post a normal message where ``interaction`` happened (a DM always)."""
    if interaction.guild_id is None:
        return True
    permissions = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    return permissions.send_messages_in_threads if in_thread else permissions.send_messages


def learner_text(text: str, limit: int) -> str:
    """A learner's text fit to show back in public: masked links keep only their text, mentions
    and links go, what is left is escaped (no markdown, no pings), within ``limit`` characters."""
    cleaned = clean_message(text)
    return escape_mentions(escape_markdown(shorten(cleaned, limit))) if cleaned else "(nothing to show)"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split text into messages of at most ``limit`` characters, at paragraph, line or word breaks."""
    chunks: list[str] = []
    text = text.strip()
    while len(text) > limit:
        window = text[:limit]
        cut = window.rfind("\n\n")  # a paragraph break, unless it would leave a short message
        if cut < limit // 2:
            cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks or ["(nothing to show)"]


def question_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    """For ``app_commands.checks.dynamic_cooldown`` on commands that cost (models, retrieval): one
    use per ``QUESTION_COOLDOWN_S`` (or the server's own) per learner; none when it is 0."""
    return _cooldown(_server_value(interaction, "question_cooldown_s"))


def generation_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    """As ``question_cooldown``, for ``/generate`` (``GENERATION_COOLDOWN_S``)."""
    return _cooldown(_server_value(interaction, "generation_cooldown_s"))


def _server_value(interaction: discord.Interaction, name: str) -> float:
    """The server's own setting once read (``/config``), else the environment's (never blocks)."""
    client = interaction.client
    services = getattr(client, "services", None)
    store = getattr(services, "server_settings", None)
    found = store.cached(interaction.guild_id) if store is not None else None
    return getattr(found, name) if found is not None else getattr(client.settings, name)  # type: ignore[attr-defined]


def _cooldown(seconds: float) -> app_commands.Cooldown | None:
    return app_commands.Cooldown(1, seconds) if seconds > 0 else None


def per_user_cooldown(seconds: float) -> commands.CooldownMapping | None:
    """One use per ``seconds`` per user, for what arrives as messages (keyed by user id); None
    when ``seconds`` is 0. Used as ``mapping.get_bucket(user_id).update_rate_limit()``."""
    if seconds <= 0:
        return None
    return commands.CooldownMapping.from_cooldown(1, seconds, _user_id)


def _user_id(user_id: int) -> int:
    return user_id


def cooldown_message(seconds: float) -> str:
    return f"Slow down a little: try again in {max(1, round(seconds))} s."


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Reply privately, whether or not the interaction was already answered or deferred.

    After a public defer, Discord turns the first followup into the "thinking…" message, public
    whatever its flags: that placeholder is removed first so the reply stays private.
    """
    if not interaction.response.is_done():
        await interaction.response.send_message(content, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
        with contextlib.suppress(discord.NotFound):
            await interaction.delete_original_response()
    await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def send_in_parts(send: Callable[..., Awaitable], text: str, view: discord.ui.View | None = None) -> None:
    """Send text that may exceed one message through ``send`` (a reply, a followup…), split at
    Discord's limit; the view goes under the last part."""
    parts = split_message(text)
    for index, part in enumerate(parts):
        extra = {"view": view} if view is not None and index == len(parts) - 1 else {}
        await send(part, allowed_mentions=NO_MENTIONS, **extra)


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """The one error path: known problems briefly and privately, the rest logged with a short apology."""
    original = getattr(error, "original", error)
    if isinstance(original, UserError):
        message = str(original)
    elif isinstance(error, app_commands.CommandOnCooldown):
        message = cooldown_message(error.retry_after)
    elif isinstance(error, app_commands.MissingPermissions):
        message = "Only members who can manage this server may do that."
    elif isinstance(error, app_commands.NoPrivateMessage):
        message = "That only works in a server, not in DMs."
    elif isinstance(error, app_commands.CheckFailure):
        message = "You can't use that here."
    else:
        command = interaction.command.qualified_name if interaction.command else interaction.data.get("custom_id")
        log.error("unexpected error in %s", command, exc_info=original)
        message = GENERIC_APOLOGY
    try:
        await send_ephemeral(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell the user about an error", exc_info=True)
