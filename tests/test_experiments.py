"""Unit tests of the experiments' analysis functions and of the verdicts.

These run in well under a second: they check the measurements the
reproduction report is built on, not the training runs themselves (those are
run, reduced, by test_reproduce.py).
"""

import math

import numpy as np
import pytest

from nndl.costs import CrossEntropyCost, QuadraticCost
from nndl.experiments import EXPERIMENTS, Claim, judge
from nndl.experiments.early_stopping import best_epoch, compare, rules
from nndl.experiments.lr_schedule import halvings
from nndl.experiments.lr_threshold import decreases, find_threshold
from nndl.experiments.mini_batch_time import accuracy_at
from nndl.experiments.multiple_eta import rises
from nndl.experiments.regularized import late_gain
from nndl.experiments.slowdown import epochs_until_moving, learn, start_share, steepest_epoch
from nndl.experiments.z_distribution import PREDICTED, weighted_inputs


def test_slowdown_initial_outputs_are_the_books():
    """sigma(0.6 + 0.9) and sigma(2 + 2): the book's 0.82 and 0.98."""
    small, _ = learn(0.6, 0.9, QuadraticCost)
    large, _ = learn(2.0, 2.0, QuadraticCost)
    assert round(small[0], 2) == 0.82 and small[0] == pytest.approx(1 / (1 + math.exp(-1.5)))
    assert round(large[0], 2) == 0.98 and large[0] == pytest.approx(1 / (1 + math.exp(-4.0)))


def test_slowdown_quadratic_stalls_and_cross_entropy_does_not():
    """From (2, 2) the quadratic cost's output hardly moves for over 100
    epochs and its cost falls fastest late; the cross-entropy's cost, at the
    chapter's eta 0.005, falls fastest at the very first step; from (0.6, 0.9)
    the quadratic ends near the book's 0.09."""
    quad, quad_costs = learn(2.0, 2.0, QuadraticCost)
    cross, cross_costs = learn(2.0, 2.0, CrossEntropyCost)
    assert len(quad) == 301
    assert epochs_until_moving(quad) > 100
    assert steepest_epoch(quad_costs) > 100 and start_share(quad_costs) < 0.1
    assert steepest_epoch(cross_costs) == 0 and start_share(cross_costs) == 1.0
    assert np.all(np.diff(cross_costs) < 0)
    assert quad_costs[-1] < quad_costs[0]
    assert round(learn(0.6, 0.9, QuadraticCost)[0][-1], 2) == 0.09


def test_slowdown_uses_the_chapters_two_learning_rates():
    from nndl.experiments.slowdown import ETA
    assert ETA == {"quadratic": 0.15, "cross-entropy": 0.005}
    # the same step at eta 0.15 would make the cross-entropy neuron move within 10 epochs
    assert epochs_until_moving(learn(2.0, 2.0, CrossEntropyCost, eta=0.15)[0]) < 10
    assert epochs_until_moving(learn(2.0, 2.0, CrossEntropyCost)[0]) > 10


def test_slowdown_gradient_matches_the_books_equations():
    """One step of the quadratic cost changes w by -eta * a * sigma'(z)
    (equations 55-56 with x = 1, y = 0); the cross-entropy by -eta * a (61)."""
    a = 1 / (1 + math.exp(-4.0))
    quad, _ = learn(2.0, 2.0, QuadraticCost, epochs=1)
    cross, _ = learn(2.0, 2.0, CrossEntropyCost, epochs=1)
    for outputs, step, eta in ((quad, a * a * (1 - a), 0.15), (cross, a, 0.005)):
        z1 = 4.0 - 2 * eta * step             # w and b both move by eta * step
        assert outputs[1] == pytest.approx(1 / (1 + math.exp(-z1)), rel=1e-12)


def test_epochs_until_moving():
    assert epochs_until_moving([0.9, 0.85, 0.78, 0.7]) == 2
    assert epochs_until_moving([0.9, 0.9, 0.9]) == 3


def test_z_distribution_matches_the_prediction():
    """The library's initialisers give z the chapter's standard deviations."""
    assert PREDICTED["large"] == pytest.approx(22.4, abs=0.05)
    assert PREDICTED["default"] == pytest.approx(1.22, abs=0.01)
    for init, sd in PREDICTED.items():
        z = weighted_inputs(init, 4000, seed=1)
        assert z.shape == (4000,)
        assert z.std() == pytest.approx(sd, rel=0.05)


def test_find_threshold_follows_the_chapters_search():
    """With a true threshold of 0.37: 0.01 and 0.1 decrease, 1.0 does not,
    so the order of magnitude is 0.1; refining narrows it to within a factor
    10**(1/16) below 0.37."""
    magnitude, threshold, trials = find_threshold(lambda eta: eta <= 0.37)
    assert magnitude == pytest.approx(0.1)
    assert 0.37 / 10 ** (1 / 16) <= threshold <= 0.37
    assert [round(e, 6) for e, _ in trials[:3]] == [0.01, 0.1, 1.0]


def test_find_threshold_searches_down_when_001_fails():
    magnitude, threshold, _ = find_threshold(lambda eta: eta <= 0.0004)
    assert magnitude == pytest.approx(0.0001)
    assert 0.0004 / 10 ** (1 / 16) <= threshold <= 0.0004


def test_decreases_and_rises():
    assert decreases([3.0, 2.0, 1.5, 1.4])
    assert not decreases([3.0, 2.0, 2.1])
    assert not decreases([3.0, float("nan")])
    assert rises([3, 2, 2.5, 1, 1.2]) == 2
    assert rises([3, 2, 1]) == 0


def test_late_gain_sign():
    rising = np.linspace(0.80, 0.87, 400)
    falling = rising[::-1]
    assert late_gain(rising) > 0 > late_gain(falling)


def test_accuracy_at():
    points = [(1.0, 50.0), (2.0, 60.0), (3.5, 70.0)]
    assert accuracy_at(points, 3.0) == 60.0
    assert math.isnan(accuracy_at(points, 0.5))


@pytest.mark.parametrize("kind, value, holds", [
    ("approx", 82.0, True), ("approx", 80.0, False), ("approx", 84.0, False),
    ("at_most", 83.5, True), ("at_most", 84.0, False),
    ("at_least", 81.0, True), ("at_least", 80.0, False),
])
def test_claim_verdicts(kind, value, holds):
    claim = Claim("k", "text", 82.27, 1.5, "reason", kind=kind)
    assert claim.holds(value) is holds


def test_judge_summarises_over_seeds_and_flags_quick_and_missing():
    claims = (Claim("a", "a", 10.0, 1.0, "r"), Claim("b", "b", 5.0, 0.0, "r", kind="at_least"))
    [a, b] = judge(claims, {"a": [9.0, 10.0, 11.0]}, quick=False)
    assert a["ours"]["mean"] == 10.0 and a["ours"]["std"] == pytest.approx(1.0)
    assert a["verdict"] == "matches"
    assert b["ours"] is None and b["verdict"] == "not measured"
    [a, _] = judge(claims, {"a": [20.0]}, quick=False)
    assert a["verdict"] == "differs"
    [a, _] = judge(claims, {"a": [20.0]}, quick=True)
    assert a["verdict"].startswith("not judged")


def test_registry_names_every_experiment_of_the_issue():
    runnable = {"slowdown", "overfitting", "regularized", "overfitting_full", "regularized_full",
                "weight_init", "z_distribution", "multiple_eta", "lr_threshold",
                "hyperparameter_walkthrough", "more_data", "svm_full", "l1_vs_l2", "mini_batch_time",
                "early_stopping", "lr_schedule", "expansion", "cross_entropy", "softmax",
                "activations", "replicability", "ensemble", "figures", "optimizers"}
    assert {n for n, e in EXPERIMENTS.items() if e.pending is None} == runnable
    assert not [n for n, e in EXPERIMENTS.items() if e.pending]
    for e in EXPERIMENTS.values():
        assert e.section and e.title
        assert (e.run is None) == bool(e.pending)
        assert len({c.key for c in e.claims}) == len(e.claims)


def test_best_epoch_is_the_first_maximum_counted_from_one():
    assert best_epoch([0.5, 0.7, 0.6, 0.7]) == (2, 0.7)
    assert best_epoch([0.9]) == (1, 0.9)


def test_halvings_are_the_epochs_after_which_eta_drops():
    assert halvings([0.5, 0.5, 0.25, 0.25, 0.125]) == [2, 4]
    assert halvings([0.5, 0.5, 0.5]) == []


def test_stopping_rules_cut_one_trajectory_short(tiny_data):
    """A rule does not change training before it fires: each stopped run's
    validation curve is a prefix of the unstopped run's, and it stops early.
    (Restoring the best epoch makes the reported best its curve's maximum.)"""
    runs = compare(tiny_data, tiny_data, [0], rules(window=2, gain=0.5), max_epochs=40)
    full = runs["none"][0]
    assert full["epochs"] == 40
    for name, [r] in runs.items():
        assert r["curve"] == full["curve"][:r["epochs"]], name
        assert (r["best_epoch"], r["best_validation"]) == best_epoch(r["curve"])
    gain = [n for n in runs if n.startswith("gain")][0]
    assert runs[gain][0]["epochs"] < 40
    assert runs[gain][0]["epochs"] <= runs["no-improvement-in-10"][0]["epochs"]


def test_ensemble_vote_is_a_plurality_with_ties_broken_by_summed_outputs():
    from nndl.experiments.ensemble import vote
    outputs = np.array([[[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]],
                        [[0.1, 0.8, 0.0], [0.1, 0.6, 0.3]],
                        [[0.6, 0.3, 0.1], [0.0, 0.2, 0.9]]])
    assert vote(outputs).tolist() == [0, 1]             # 2 votes to 1 in both rows
    tie = np.array([[[0.9, 0.1]], [[0.45, 0.55]]])       # one vote each: label 0 sums higher
    assert vote(tie).tolist() == [0]
    assert vote(tie[:, :, ::-1]).tolist() == [1]


def test_replicability_weight_norm_is_the_length_of_all_weights():
    from nndl.experiments.replicability import weight_norm

    class Net:
        weights = [np.array([[3.0]], dtype=np.float32), np.array([[0.0, 4.0]])]

    assert weight_norm(Net()) == 5.0


def test_figures_polynomial_passes_through_the_points_and_the_line_does_not(tmp_path):
    from nndl.experiments.figures import noisy_line, polynomial_fit
    _, values, series = polynomial_fit(tmp_path)
    x, y = noisy_line()
    assert np.allclose(np.polyval(series["polynomial_coefficients"][::-1], x), y, atol=1e-6)
    assert values["poly_residual"] < 1e-6
    assert np.max(np.abs(values["line_slope"] * x - y)) > 0.1
    assert values["far_disagreement"] > 1


def test_each_committed_result_gives_its_accuracies_in_one_unit():
    """Within one experiment's stored series, every accuracy is a percentage
    or every one is a fraction, never a mix (a reader compares them)."""
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    for path in sorted(root.glob("*/metrics.json")):
        doc = json.loads(path.read_text())
        units = set()
        for series in (doc.get("series") or {}).values():
            if not isinstance(series, dict):
                continue
            for key, values in series.items():
                numbers = [v for v in values if isinstance(v, (int, float))] \
                    if isinstance(values, list) else []
                if "accuracy" in key and numbers and max(numbers) > 0:
                    units.add("percent" if max(numbers) > 1.0 else "fraction")
        assert len(units) <= 1, f"{path.parent.name}: accuracies as {sorted(units)}"
