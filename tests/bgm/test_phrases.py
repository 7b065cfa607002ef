from bgm.phrases import forced, plan


def test_an_eight_bar_part_states_repeats_departs_and_returns():
    p = plan(8)
    assert p[2] == 0 and p[6] == 0  # a a' b a'': bars 3 and 7 open like bar 1
    assert p[0] is None and p[4] is None and p[7] is None


def test_plans_only_copy_earlier_bars():
    for bars in range(1, 20):
        p = plan(bars)
        assert len(p) == bars
        assert all(source is None or source < b for b, source in enumerate(p))


def test_a_forced_step_repeats_the_token_at_the_same_place_of_its_source_bar():
    tokens = list(range(100, 132))  # two bars of 16 steps
    p = (None, None, 0)
    assert forced(tokens, 35, 16, p) == tokens[3]
    assert forced(tokens, 20, 16, p) is None
