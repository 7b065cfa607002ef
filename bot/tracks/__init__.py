"""``/bgm compose`` and its buttons: the queue, the record of tracks, the buttons, and the maker that
takes a request from the deferred reply to the posted track."""
