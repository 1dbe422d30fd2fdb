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

NOT_MANAGER = "Only members who can manage this server may do that."
NOT_INSTRUCTOR = "Only this server's instructors (Manage Server, or the instructor role) may do that."


class NotAllowed(app_commands.CheckFailure, UserError):
    """Refused: the one error path shows the message privately."""


def is_manager(interaction: discord.Interaction) -> bool:
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def instructor_role(interaction: discord.Interaction) -> int | None:
    services = interaction.client.services  # type: ignore[attr-defined]
    finder = getattr(services, "instructor_role", None)
    return finder(interaction.guild_id) if finder is not None and interaction.guild_id else None


def is_instructor(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        return False
    if is_manager(interaction):
        return True
    role = instructor_role(interaction)
    member = interaction.user
    return role is not None and isinstance(member, discord.Member) and any(r.id == role for r in member.roles)


def _manager_check(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not is_manager(interaction):
        raise NotAllowed(NOT_MANAGER)
    return True


def _instructor_check(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not is_instructor(interaction):
        raise NotAllowed(NOT_INSTRUCTOR)
    return True


managers_only = app_commands.check(_manager_check)
instructors_only = app_commands.check(_instructor_check)
