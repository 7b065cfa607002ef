"""The models folder over time: versions, TF Serving's version labels, promotion, rollback, retention.

No TensorFlow, gRPC or Discord: the bot, the CLI, training and the model server all read and write
``models.config`` through here (``lifecycle.config``); ``lifecycle.versions`` lists what is on disk
and ``lifecycle.actions`` changes labels and prunes old versions.
"""
