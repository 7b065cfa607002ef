"""The bot side: the serving client, the composer, and (later) the Discord cog."""
