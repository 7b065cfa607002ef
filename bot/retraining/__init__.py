"""``/bgm train``: uploads checked (``uploads``), ``bgm train`` run in its own process and followed
through its progress events (``runner``), and the conversation in the channel around it (``flow``)."""
