"""The song path without Discord: the client side of the model contract, used by the CLI, the bot
and the benches. A request is composed through the model server (``client`` over ``wire``,
``sampling``, ``composer``), then rendered to files in a worker process (``render``, ``render_pool``);
``song`` joins the two.

Kept light on purpose: a spawned render worker imports this package, so nothing here may pull in
gRPC, TensorFlow or discord.py.
"""
