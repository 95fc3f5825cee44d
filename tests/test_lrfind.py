"""nndl lr-find: the chapter's search for the threshold learning rate."""

import pytest

from nndl.cli import main
from nndl.errors import ConfigError
from nndl.lrfind import find_threshold, strictly_decreasing


def tries(threshold):
    """A fake 'does the cost fall?' test with a known threshold, recording calls."""
    seen = []

    def decreases(eta):
        seen.append(eta)
        return eta <= threshold
    return decreases, seen


@pytest.mark.parametrize("threshold, expected, sequence", [
    (0.5, 0.5, [0.01, 0.1, 1.0, 0.2, 0.5]),          # up by decades, then refine x2, x5
    (0.3, 0.2, [0.01, 0.1, 1.0, 0.2, 0.5]),          # the largest that worked
    (0.15, 0.1, [0.01, 0.1, 1.0, 0.2]),              # refinement stops at the first failure
    (0.0005, 0.0005, [0.01, 0.001, 0.0001, 0.001, 0.0002, 0.0005]),   # down, then refine
])
def test_find_threshold_follows_the_chapter(threshold, expected, sequence):
    decreases, seen = tries(threshold)
    assert find_threshold(decreases, 0.01) == pytest.approx(expected)
    assert seen == pytest.approx(sequence)


def test_find_threshold_gives_up_when_nothing_works():
    with pytest.raises(ConfigError, match="did not fall"):
        find_threshold(lambda eta: False, 0.01)


def test_strictly_decreasing():
    assert strictly_decreasing([3.0, 2.0, 1.0])
    assert not strictly_decreasing([3.0, 2.0, 2.5])
    assert not strictly_decreasing([3.0, float("nan"), 1.0])


def test_lr_find_refuses_eta_and_unknown_flags(capsys):
    assert main(["lr-find", "--eta", "0.5"]) == 2
    assert "lr-find sets --eta itself" in capsys.readouterr().err
    assert main(["lr-find", "--no-such-flag"]) == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


@pytest.mark.mnist
def test_lr_find_on_mnist_is_within_a_factor_3_of_the_chapters_threshold(mnist, capsys):
    # The chapter's setting: [784, 30, 10], cross-entropy, lmbda 5.0, mini-batch 10,
    # all 50,000 training images (a 10,000-image subset gives 2.0 instead: fewer
    # steps per epoch move the threshold).  Seed 0, the command's default.
    assert main(["lr-find", "--sizes", "784,30,10", "--cost", "cross-entropy"]) == 0
    out = capsys.readouterr().out
    threshold = float(out.split("threshold: eta = ")[1].split()[0])
    assert 0.5 / 3 <= threshold <= 0.5 * 3, out
    assert f"recommended: --eta {threshold / 2:g}" in out
