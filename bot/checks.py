"""Who may do what, decided when a command runs (Discord ignores default permissions on subcommands)."""

from __future__ import annotations

import discord


def is_admin(interaction: discord.Interaction, admin_roles: list[str] | tuple[str, ...]) -> bool:
    """Manage Server (or Administrator) in this guild, or a role named in the settings."""
    if interaction.guild is None:
        return False  # training is per server; a DM has no admins
    permissions = interaction.permissions  # resolved by Discord for this member in this channel
    if permissions.administrator or permissions.manage_guild:
        return True
    wanted = {name.casefold() for name in admin_roles}
    return any(role.name.casefold() in wanted for role in getattr(interaction.user, "roles", ()))
