"""The Discord bot: ``app`` builds and wires everything, ``cog`` dispatches the ``/bgm`` commands,
``replies``, ``formatting`` and ``checks`` answer them; ``tracks/`` and ``retraining/`` are the two
features. Songs come from ``composer``; models only through the serving API."""
