"""``/bgm model list|promote|rollback``: the model versions and their labels, for admins."""
