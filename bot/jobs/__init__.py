"""Songs made past one process: the queue shared through Redis, the ``bgm worker`` that makes them,
and the reply a worker posts through (see docs/scaling.md)."""
