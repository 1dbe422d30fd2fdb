"""Who may change a server's course, settings and see its insights: checked when a command runs.

Commands that change a server default to Manage Server (``default_member_permissions``): Discord
hides them from everyone else until the server grants them to a role (Server Settings →
Integrations → Slide Tutor). That grant is not trusted alone: the check runs again here, against
the member's permissions, and the server's instructor role (``/config set instructor_role``).
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.errors import UserError
from bot.plumbing import storage_call

NOT_MANAGER = "Only members who can manage this server may do that."
NOT_INSTRUCTOR = "Only this server's instructors (Manage Server, or the instructor role) may do that."


class NotAllowed(app_commands.CheckFailure, UserError):
    """Refused: the one error path shows the message privately."""


def is_manager(interaction: discord.Interaction) -> bool:
    return interaction.guild_id is not None and interaction.permissions.manage_guild


async def is_instructor(interaction: discord.Interaction) -> bool:
    """Manage Server, or the server's instructor role (its settings read off the event loop)."""
    if interaction.guild_id is None:
        return False
    if is_manager(interaction):
        return True
    services = interaction.client.services  # type: ignore[attr-defined]
    settings = await storage_call(services.server_settings.get, interaction.guild_id)
    member = interaction.user
    role = settings.instructor_role
    return role is not None and isinstance(member, discord.Member) and any(r.id == role for r in member.roles)


def _manager_check(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not is_manager(interaction):
        raise NotAllowed(NOT_MANAGER)
    return True


async def _instructor_check(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not await is_instructor(interaction):
        raise NotAllowed(NOT_INSTRUCTOR)
    return True


managers_only = app_commands.check(_manager_check)
instructors_only = app_commands.check(_instructor_check)
