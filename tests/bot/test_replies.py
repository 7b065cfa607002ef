"""A job's answer: the interaction while its token lasts, the channel after."""

from types import SimpleNamespace

from bot import replies
from bot.replies import Reply


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def interaction(log):
    async def edit_original_response(**kwargs):
        log.append(("edit", kwargs))
        return "edited"

    async def send(**kwargs):
        log.append(("send", kwargs))
        return "sent"

    return SimpleNamespace(
        edit_original_response=edit_original_response,
        channel=SimpleNamespace(send=send),
        user=SimpleNamespace(mention="<@5>"),
    )


async def test_a_fresh_token_edits_the_response():
    log, clock = [], Clock()
    reply = Reply(interaction(log), clock)
    clock.now = 60
    await reply.show("composing")
    assert await reply.finish("done") == "edited"
    assert [kind for kind, _ in log] == ["edit", "edit"]


async def test_an_old_token_means_a_channel_message_that_mentions_the_requester():
    log, clock = [], Clock()
    reply = Reply(interaction(log), clock)
    clock.now = replies.TOKEN_LIFETIME_S - replies.MARGIN_S + 1
    await reply.show("composing")  # dropped: nobody can see it edited any more
    assert await reply.finish("done") == "sent"
    assert log == [("send", {"content": "<@5> done", "embed": None, "files": None, "view": None})]
