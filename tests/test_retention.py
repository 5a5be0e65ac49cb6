"""RetentionConfig: parsing, validation errors, the mass rule, analytic FLOPs and the truncation length."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from benchmarks.speed.comparisons import truncation_length
from conftest import hand_flops
from power_bert_tf import RetentionConfig, RetentionConfigError
from power_bert_tf.errors import PowerBertError
from power_bert_tf.retention import (
    batch_longest,
    full_model_flops,
    project_onto_budget,
)

# --------------------------------------------------------------------------------------------------------
# Parsing


def test_parse_valid():
    config = RetentionConfig.parse("64,48,32,16", num_layers=4, seq_len=64)
    assert config.keep == (64, 48, 32, 16)
    assert str(config) == "64,48,32,16"
    assert config.to_list() == [64, 48, 32, 16]
    assert len(config) == 4 and list(config) == [64, 48, 32, 16] and config[1] == 48


def test_parse_whitespace_equal_entries_and_no_limits():
    assert RetentionConfig.parse(" 10 , 10,7 ,1").keep == (10, 10, 7, 1)


def test_parse_list_and_numpy_ints():
    assert RetentionConfig.parse([8, 4, 2], num_layers=3, seq_len=8).keep == (8, 4, 2)
    assert RetentionConfig.parse(np.array([8, 4, 2]), num_layers=3).keep == (8, 4, 2)


def test_error_is_a_value_error():
    assert issubclass(RetentionConfigError, ValueError)
    with pytest.raises(PowerBertError) as caught:  # the package's errors share one base
        RetentionConfig.parse("3,5")
    assert type(caught.value).__name__ == "RetentionConfigError"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "text, num_layers",
    [("64,48", 3), ("64,48,32,16", 3), ("64", 2)],
)
def test_wrong_count(text, num_layers):
    n = len(text.split(","))
    with pytest.raises(RetentionConfigError) as info:
        RetentionConfig.parse(text, num_layers=num_layers, seq_len=64)
    message = str(info.value)
    assert str(n) in message and str(num_layers) in message


@pytest.mark.parametrize(
    "text, entry, value",
    [
        ("64,48,50,16", 3, 50),  # increasing
        ("32,48", 2, 48),  # increasing
        ("64,48,32,33", 4, 33),  # increasing at the end
    ],
)
def test_increasing(text, entry, value):
    with pytest.raises(RetentionConfigError, match=rf"retention entry {entry} is {value}\b"):
        RetentionConfig.parse(text, num_layers=4 if text.count(",") == 3 else 2, seq_len=64)


@pytest.mark.parametrize(
    "text, entry, value",
    [("80,48,32", 1, 80), ("65,64,64", 1, 65)],
)
def test_above_seq_len(text, entry, value):
    with pytest.raises(RetentionConfigError, match=rf"retention entry {entry} is {value}\b"):
        RetentionConfig.parse(text, num_layers=3, seq_len=64)


def test_above_seq_len_names_the_entry_in_the_middle():
    # Non-increasing and each <= the previous, but the first two already exceed seq_len 16: entry 1.
    with pytest.raises(RetentionConfigError, match=r"retention entry 1 is 70\b"):
        RetentionConfig.parse("70,70,70", num_layers=3, seq_len=16)


@pytest.mark.parametrize(
    "text, entry, value",
    [("4,0", 2, 0), ("4,2,-1", 3, -1), ("0", 1, 0), ("-3,-4", 1, -3)],
)
def test_below_one(text, entry, value):
    with pytest.raises(RetentionConfigError, match=rf"retention entry {entry} is {value}\b"):
        RetentionConfig.parse(text)


@pytest.mark.parametrize(
    "text, entry, shown",
    [
        ("3.5", 1, "3.5"),
        ("8,a", 2, "a"),
        ("8,4,2.5", 3, "2.5"),
        ("8,,4", 2, ""),
        ("", 1, ""),
        ("8;4", 1, "8;4"),
    ],
)
def test_not_integers(text, entry, shown):
    with pytest.raises(RetentionConfigError) as info:
        RetentionConfig.parse(text)
    message = str(info.value)
    assert f"retention entry {entry} is" in message
    assert shown in message


@pytest.mark.parametrize(
    "values, entry", [([8, 2.5], 2), ([True, 1], 1), ([8, None], 2), (["x"], 1)]
)
def test_not_integers_in_lists(values, entry):
    with pytest.raises(RetentionConfigError, match=rf"retention entry {entry} is"):
        RetentionConfig.parse(values)


def test_empty_list():
    with pytest.raises(RetentionConfigError):
        RetentionConfig.parse([])


def test_validate_direct_construction():
    with pytest.raises(RetentionConfigError, match=r"retention entry 2 is 9\b"):
        RetentionConfig((8, 9)).validate()
    assert RetentionConfig((8, 8)).validate(num_layers=2, seq_len=8).keep == (8, 8)


# --------------------------------------------------------------------------------------------------------
# from_masses: floor, at least 1, non-increasing


@pytest.mark.parametrize(
    "masses, expected",
    [
        ([5.7, 6.2, 3.0, 0.4, 2.9], (5, 5, 3, 1, 1)),
        ([64.0, 63.999, 40.5, 41.2, 1.0], (64, 63, 40, 40, 1)),
        ([0.2, 0.9, 0.0], (1, 1, 1)),
        ([3.0], (3,)),
        ([10, 20, 30], (10, 10, 10)),
    ],
)
def test_from_masses(masses, expected):
    assert RetentionConfig.from_masses(masses).keep == expected


def test_from_masses_numpy_and_generator():
    masses = np.array([7.9, 7.1, 2.5], np.float32)
    assert RetentionConfig.from_masses(masses).keep == (7, 7, 2)
    assert RetentionConfig.from_masses(m for m in [4.5, 9.0]).keep == (4, 4)
    # The result is a valid configuration.
    RetentionConfig.from_masses([12.3, 11.9, 0.1]).validate(num_layers=3, seq_len=12)


# --------------------------------------------------------------------------------------------------------
# FLOPs


def test_flops_fraction_hand_computed():
    # seq_len 4, d 2, f 4, keep (4, 2, 1); per layer, as the implementation computes:
    # 2*(3 n_in d^2 + n_out d^2 + 2 n_in^2 d) + 2*(2 n_out d f) (output projection on kept queries):
    #   layer 1: n_in 4, n_out 4 -> 2*(48 + 16 + 64) + 2*64 = 384
    #   layer 2: n_in 4, n_out 2 -> 2*(48 + 8 + 64) + 2*32 = 304
    #   layer 3: n_in 2, n_out 1 -> 2*(24 + 4 + 16) + 2*16 = 120
    #   total 808; full model 3 * 384 = 1152; 808 / 1152 = 101/144.
    config = RetentionConfig((4, 2, 1))
    assert config.flops_fraction(4, 2, 4) == pytest.approx(101 / 144, rel=1e-12)


def _my_flops(keep, seq_len, d, f):
    """Exact (a Fraction, so ratios are exact too)."""
    return Fraction(hand_flops(keep, seq_len, d, f))


@pytest.mark.parametrize(
    "keep, seq_len, d, f",
    [
        ((128, 100, 80, 60, 50, 40, 30, 20, 10, 10, 5, 2), 128, 768, 3072),
        ((64, 48, 32, 24, 16, 8), 64, 384, 1536),
        ((10, 10, 10), 10, 16, 32),
    ],
)
def test_flops_fraction_realistic(keep, seq_len, d, f):
    expected = _my_flops(keep, seq_len, d, f) / _my_flops((seq_len,) * len(keep), seq_len, d, f)
    got = RetentionConfig(keep).flops_fraction(seq_len, d, f)
    assert got == pytest.approx(float(expected), rel=1e-12)
    assert 0 < got <= 1


def test_flops_fraction_full_is_one_and_monotone():
    assert RetentionConfig((64,) * 6).flops_fraction(64, 384, 1536) == pytest.approx(1.0)
    a = RetentionConfig((64, 48, 32)).flops_fraction(64, 384, 1536)
    b = RetentionConfig((64, 32, 16)).flops_fraction(64, 384, 1536)
    assert b < a < 1.0


def test_full_model_flops_hand_count():
    # BERT-base at 128 tokens, one layer: 2*(4*128*768^2 + 2*128^2*768) + 2*(2*128*768*3072)
    #   = 2*(301,989,888 + 25,165,824) + 1,207,959,552 = 1,862,270,976.
    assert full_model_flops(128, 12, 768, 3072) == 12 * 1_862_270_976
    for seq_len, num_layers, d, f in ((64, 6, 384, 1536), (16, 2, 16, 32), (1, 1, 4, 8)):
        assert full_model_flops(seq_len, num_layers, d, f) == _my_flops(
            (seq_len,) * num_layers, seq_len, d, f
        )


def _hand_truncation_length(target, seq_len, num_layers, d, f):
    """Brute force over every length with exact FLOPs of the plain model; ties go to the longer length."""
    full = _my_flops((seq_len,) * num_layers, seq_len, d, f)
    gaps = {
        length: abs(_my_flops((length,) * num_layers, length, d, f) / full - Fraction(target))
        for length in range(1, seq_len + 1)
    }
    best = min(gaps.values())
    return max(length for length, gap in gaps.items() if gap == best)


def _closed_form_fraction(length, seq_len, d, f):
    # Per layer: attention 2(4 n d^2 + 2 n^2 d) + FFN 2(2 n d f) = 4 n (2 d^2 + n d + d f).
    return length * (2 * d + length + f) / (seq_len * (2 * d + seq_len + f))


@pytest.mark.parametrize(
    "seq_len,d,f,target",
    [
        (64, 384, 1536, 0.40),
        (128, 768, 3072, 0.25),
        (16, 16, 32, 0.55),
        (64, 384, 1536, 1.0),
        (8, 4, 8, 0.01),
    ],
)
def test_truncation_length_against_hand_computation(seq_len, d, f, target):
    expected = _hand_truncation_length(target, seq_len, 12, d, f)
    assert truncation_length(target, seq_len, 12, d, f) == expected
    assert full_model_flops(expected, 12, d, f) / full_model_flops(
        seq_len, 12, d, f
    ) == pytest.approx(_closed_form_fraction(expected, seq_len, d, f))


def test_truncation_length_example():
    # MiniLM shape, seq_len 64: L (768 + L + 1536) / (64 * 2368) closest to 0.5 is L = 32 (0.4932...),
    # L = 33 gives 0.5088... .
    assert truncation_length(0.5, 64, 6, 384, 1536) == 32


def test_truncation_length_of_a_retention_configuration():
    # The static truncation as costly as a configuration's elimination, both counted by hand.
    keep, seq_len, d, f = (60, 40, 20, 10), 64, 384, 1536
    fraction = RetentionConfig(keep).flops_fraction(seq_len, d, f)
    assert truncation_length(fraction, seq_len, len(keep), d, f) == _hand_truncation_length(
        _my_flops(keep, seq_len, d, f) / _my_flops((seq_len,) * 4, seq_len, d, f),
        seq_len,
        len(keep),
        d,
        f,
    )


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_truncation_length_refuses_fractions_outside_0_1(fraction):
    with pytest.raises(ValueError, match="flops_fraction must be in"):
        truncation_length(fraction, 64, 6, 384, 1536)


def test_layer_lengths():
    assert RetentionConfig((8, 6, 6, 2)).layer_lengths(8) == [(8, 8), (8, 6), (6, 6), (6, 2)]
    # Inputs shorter than the keep counts are not padded back up.
    assert RetentionConfig((8, 6, 2)).layer_lengths(5) == [(5, 5), (5, 5), (5, 2)]


# --------------------------------------------------------------------------------------------------------
# Projection onto a FLOPs budget


@pytest.mark.parametrize("target", [0.25, 0.4, 0.6, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_project_onto_budget_lands_on_the_target(target, seed):
    """Whatever the masses (a short search that moved little, a long one that moved a lot), the
    projected configuration is valid, keeps the search's order across layers, and its FLOPs
    fraction (counted by hand) is within 0.02 of the target."""
    rng = np.random.default_rng(seed)
    seq_len, d, f = 64, 384, 1536
    masses = np.sort(rng.uniform(0.5, 64, 6))[::-1] * rng.choice([0.05, 0.5, 1.0])
    config = project_onto_budget(masses, target, seq_len, d, f)
    config.validate(num_layers=6, seq_len=seq_len)
    fraction = _my_flops(config.keep, seq_len, d, f) / _my_flops((seq_len,) * 6, seq_len, d, f)
    assert abs(float(fraction) - target) <= 0.02, (config, float(fraction))


def test_project_onto_budget_is_the_closest_scaled_configuration():
    """Brute force over scale factors: no scaled-and-rounded configuration is closer."""
    masses, seq_len, d, f, target = [20.0, 10.0, 5.0], 24, 16, 32, 0.5

    def fraction(keep):
        return float(_my_flops(keep, seq_len, d, f) / _my_flops((seq_len,) * 3, seq_len, d, f))

    got = project_onto_budget(masses, target, seq_len, d, f)
    best = min(
        abs(
            fraction(RetentionConfig.from_masses([min(seq_len, s * m) for m in masses]).keep)
            - target
        )
        for s in np.linspace(0.0, 5.0, 20001)
    )
    assert abs(fraction(got.keep) - target) <= best + 1e-12


def test_project_onto_budget_rounds_to_the_nearer_neighbour_not_down():
    """A target between two reachable configurations, much nearer the costlier one: that one wins.

    The brute-force test above hits its target exactly, so a projection that always kept the
    configuration just below the target would pass it; here the one just below is 0.03 away and the
    one above 0.001.
    """
    masses, seq_len, d, f, target = [20.0, 10.0, 5.0], 24, 16, 32, 0.41
    reachable = {}
    for scale in np.linspace(0.0, 5.0, 20001):  # 5 x 5 = 25 > seq_len: every configuration appears
        candidate = RetentionConfig.from_masses([min(seq_len, scale * mass) for mass in masses])
        reachable[candidate.keep] = candidate.flops_fraction(seq_len, d, f)
    below = max((fraction, keep) for keep, fraction in reachable.items() if fraction < target)
    above = min((fraction, keep) for keep, fraction in reachable.items() if fraction > target)
    assert target - below[0] > 10 * (above[0] - target) > 0  # the case this test is about
    closest = min(reachable, key=lambda keep: abs(reachable[keep] - target))
    assert closest == above[1]
    assert project_onto_budget(masses, target, seq_len, d, f).keep == closest


def test_project_onto_budget_refuses_impossible_targets():
    with pytest.raises(RetentionConfigError, match="not in"):
        project_onto_budget([4.0, 2.0], 0.0, 8, 16, 32)
    with pytest.raises(RetentionConfigError, match="below the cheapest configuration's"):
        project_onto_budget([4.0, 2.0], 0.01, 8, 16, 32)
    assert project_onto_budget([0.0, 0.0], 1.0, 8, 16, 32).keep == (8, 8)


# -- dynamic padding: FLOPs counted over each input's own length -----------------------------
def _dynamic_by_hand(keep, lengths, d, f):
    """Each example run at its own length (padding trimmed), summed, over the full model's on the
    same examples: the hand count, one example at a time."""
    spent = sum(hand_flops(keep, n, d, f) for n in lengths)
    full = sum(hand_flops([n] * len(keep), n, d, f) for n in lengths)
    return spent / full


@pytest.mark.parametrize("keep", [(32, 16, 8), (64, 64, 64), (40, 30, 20, 10, 5, 1)])
def test_flops_fraction_over_lengths_is_the_per_example_hand_count(keep):
    lengths = [3, 7, 7, 12, 12, 12, 30, 64]
    histogram = {n: lengths.count(n) for n in set(lengths)}
    got = RetentionConfig(keep).flops_fraction(64, 384, 1536, lengths=histogram)
    assert got == pytest.approx(_dynamic_by_hand(keep, lengths, 384, 1536))
    # Not the padded count: short inputs keep what the padded count calls a saving.
    padded = RetentionConfig(keep).flops_fraction(64, 384, 1536)
    assert keep == (64, 64, 64) or got > padded + 0.05


def test_flops_fraction_over_lengths_of_inputs_shorter_than_every_layer_is_one():
    assert RetentionConfig((40, 30, 20)).flops_fraction(64, 16, 32, lengths={5: 3, 20: 1}) == 1.0


@pytest.mark.parametrize("target", [0.5, 0.7, 0.9])
def test_project_onto_budget_over_lengths_lands_on_the_target(target):
    """With a length histogram, the projection's dynamic fraction (by hand) is near the target and
    no scaled configuration is closer."""
    lengths = [5, 9, 9, 14, 20, 20, 26, 40, 64]
    histogram = {n: lengths.count(n) for n in set(lengths)}
    masses, seq_len, d, f = [50.0, 35.0, 20.0, 12.0, 6.0, 2.0], 64, 384, 1536
    got = project_onto_budget(masses, target, seq_len, d, f, lengths=histogram)

    def fraction(keep):
        return _dynamic_by_hand(keep, lengths, d, f)

    best = min(
        abs(
            fraction(RetentionConfig.from_masses([min(seq_len, s * m) for m in masses]).keep)
            - target
        )
        for s in np.linspace(0.0, 32.0, 4001)
    )
    assert abs(fraction(got.keep) - target) <= best + 1e-9
    assert abs(fraction(got.keep) - target) < 0.03


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_batch_longest_counts_each_example_at_its_batchs_longest(batch_size):
    """Independent of the shuffle: every example is counted once, never below its own length,
    and each batch's count is its size (the batches partition the examples)."""
    lengths = np.random.default_rng(5).integers(1, 40, size=23)
    served = batch_longest(lengths.tolist(), batch_size, seed=3)
    assert sum(served.values()) == len(lengths)
    assert sum(n * c for n, c in served.items()) >= lengths.sum()
    if batch_size == 1:
        assert served == {int(n): int((lengths == n).sum()) for n in set(lengths.tolist())}
    if batch_size >= len(lengths):
        assert served == {int(lengths.max()): len(lengths)}
    # A batch's members all share its longest: each served length's count is a sum of batch
    # sizes, at most len // batch_size full batches plus the last.
    assert len(served) <= -(-len(lengths) // batch_size)


def test_batch_longest_rejects_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size"):
        batch_longest([3, 4], 0, seed=0)
