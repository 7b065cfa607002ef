from bgm.phrases import Echo, echoed, forced, plan


def test_an_eight_bar_part_states_repeats_departs_and_returns():
    p = plan(8)
    assert p[2] == 0  # a a': bar 3 opens like bar 1
    assert p[6] == Echo(0)  # a'': bar 7 returns to bar 1's rhythm with new pitches
    assert p[0] is None and p[4] is None and p[7] is None


def test_plans_only_copy_or_echo_earlier_bars():
    for bars in range(1, 20):
        p = plan(bars)
        assert len(p) == bars
        sources = [(b, s.bar if isinstance(s, Echo) else s) for b, s in enumerate(p)]
        assert all(source is None or source < b for b, source in sources)


def test_a_forced_step_repeats_the_token_at_the_same_place_of_its_source_bar():
    tokens = list(range(100, 132))  # two bars of 16 steps
    p = (None, None, 0)
    assert forced(tokens, 35, 16, p) == tokens[3]
    assert forced(tokens, 20, 16, p) is None
    assert echoed(tokens, 35, 16, p) is None


def test_an_echoed_step_names_the_token_whose_rhythm_it_keeps_and_forces_nothing():
    tokens = list(range(100, 132))
    p = (None, None, Echo(1))
    assert echoed(tokens, 35, 16, p) == tokens[16 + 3]
    assert forced(tokens, 35, 16, p) is None


def test_a_tune_with_literal_returns_copies_where_others_echo():
    assert plan(8, literal_returns=True) == tuple(s.bar if isinstance(s, Echo) else s for s in plan(8))
    assert not any(isinstance(s, Echo) for bars in range(1, 20) for s in plan(bars, literal_returns=True))
