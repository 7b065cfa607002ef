"""Who may do what, decided when a command runs (Discord ignores default permissions on subcommands).

``admin_only()`` is an app_commands check: a refusal is raised as ``NotAdmin`` and answered
privately by the command tree's error handler, before the command looks at anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import discord
from discord import app_commands


class NotAdmin(app_commands.CheckFailure):
    def __init__(self, roles: Sequence[str], action: str = "train the model") -> None:
        also = f" or the role {', '.join(roles)}" if roles else ""
        super().__init__(f"Only server admins (Manage Server{also}) can {action}.")


def is_admin(interaction: discord.Interaction, admin_roles: Sequence[str]) -> bool:
    """Manage Server (or Administrator) in this guild, or a role named in the settings."""
    if interaction.guild is None:
        return False  # training is per server; a DM has no admins
    permissions = interaction.permissions  # resolved by Discord for this member in this channel
    if permissions.administrator or permissions.manage_guild:
        return True
    wanted = {name.casefold() for name in admin_roles}
    return any(role.name.casefold() in wanted for role in getattr(interaction.user, "roles", ()))


def _settings_roles(interaction: discord.Interaction) -> Sequence[str]:
    return interaction.client.settings.admin_roles  # the bot's settings (``app.BgmBot``)


def admin_only(
    roles: Callable[[discord.Interaction], Sequence[str]] = _settings_roles, action: str = "train the model"
):
    """A check: only admins (``is_admin``, with the role names ``roles(interaction)`` gives) pass;
    anyone else is told who may ``action``."""

    async def predicate(interaction: discord.Interaction) -> bool:
        allowed = roles(interaction)
        if not is_admin(interaction, allowed):
            raise NotAdmin(allowed, action)
        return True

    return app_commands.check(predicate)
