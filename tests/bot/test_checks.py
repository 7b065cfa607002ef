"""The admin check, decided at run time from the interaction."""

from types import SimpleNamespace

import discord

from bot.checks import is_admin


def interaction(permissions=0, roles=(), guild=True):
    return SimpleNamespace(
        guild=object() if guild else None,
        permissions=discord.Permissions(permissions),
        user=SimpleNamespace(roles=[SimpleNamespace(name=name) for name in roles]),
    )


def test_manage_server_or_administrator_may_train():
    assert is_admin(interaction(discord.Permissions.manage_guild.flag), [])
    assert is_admin(interaction(discord.Permissions.administrator.flag), [])


def test_a_configured_role_may_train_whatever_its_case():
    assert is_admin(interaction(roles=["Music Staff"]), ["music staff"])


def test_anyone_else_may_not():
    assert not is_admin(interaction(roles=["Member"]), ["music staff"])
    assert not is_admin(interaction(discord.Permissions.manage_guild.flag, guild=False), [])
