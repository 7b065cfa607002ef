"""The admin check, decided at run time from the interaction."""

from types import SimpleNamespace

import discord
import pytest

from bot.checks import NotAdmin, admin_only, is_admin


def interaction(permissions=0, roles=(), guild=True, admin_roles=()):
    return SimpleNamespace(
        guild=object() if guild else None,
        permissions=discord.Permissions(permissions),
        user=SimpleNamespace(roles=[SimpleNamespace(name=name) for name in roles]),
        client=SimpleNamespace(settings=SimpleNamespace(admin_roles=list(admin_roles))),
    )


async def check(inter) -> bool:
    @admin_only()
    async def command(interaction): ...

    (predicate,) = command.__discord_app_commands_checks__
    return await predicate(inter)


def test_manage_server_or_administrator_may_train():
    assert is_admin(interaction(discord.Permissions.manage_guild.flag), [])
    assert is_admin(interaction(discord.Permissions.administrator.flag), [])


def test_a_configured_role_may_train_whatever_its_case():
    assert is_admin(interaction(roles=["Music Staff"]), ["music staff"])


def test_anyone_else_may_not():
    assert not is_admin(interaction(roles=["Member"]), ["music staff"])
    assert not is_admin(interaction(discord.Permissions.manage_guild.flag, guild=False), [])


async def test_the_check_lets_admins_and_the_bots_admin_roles_through():
    assert await check(interaction(discord.Permissions.manage_guild.flag))
    assert await check(interaction(roles=["DJ"], admin_roles=["dj"]))


async def test_the_check_refuses_anyone_else_saying_who_may():
    with pytest.raises(NotAdmin, match=r"Only server admins \(Manage Server or the role DJ\)"):
        await check(interaction(roles=["Member"], admin_roles=["DJ"]))
