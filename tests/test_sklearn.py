"""nndl.sklearn.NetworkClassifier: scikit-learn's estimator contract, and
the tools built on it (GridSearchCV, cross_val_score, Pipeline)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import check_estimator

from nndl.sklearn import NetworkClassifier

# Checks that cannot run here, and why (none is skipped for failing):
#   check_array_api_input               needs SCIPY_ARRAY_API=1 and an array-API library
#   check_classifier_data_not_an_array  needs pandas, which nndl does not depend on
SKIPPED_FOR_MISSING_DEPENDENCIES = {"check_array_api_input",
                                    "check_classifier_data_not_an_array"}


def test_check_estimator_passes():
    results = check_estimator(NetworkClassifier(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= SKIPPED_FOR_MISSING_DEPENDENCIES
    assert sum(r["status"] == "passed" for r in results) >= 40


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's bundled 8x8 digits: 1,797 images, no download."""
    x, y = load_digits(return_X_y=True)
    return x[:600], y[:600]


def test_pipeline_and_cross_val_score(digits):
    x, y = digits
    pipe = make_pipeline(MinMaxScaler(), NetworkClassifier(epochs=15, random_state=0))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.min() > 0.75            # chance is 0.1


def test_grid_search_over_techniques(digits):
    x, y = digits
    x = x / 16.0
    grid = GridSearchCV(NetworkClassifier(epochs=8, random_state=0),
                        {"momentum": [0.0, 0.9], "eta": [0.05, 0.5]}, cv=2)
    grid.fit(x, y)
    assert set(grid.best_params_) == {"momentum", "eta"}
    assert grid.best_score_ > 0.7
    assert grid.best_estimator_.get_params()["momentum"] == grid.best_params_["momentum"]


def test_string_labels_probabilities_and_partial_fit(digits):
    x, y = digits
    x = x / 16.0
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])[y]
    clf = NetworkClassifier(output="softmax", momentum=0.5, dropout=0.1, max_norm=3.0,
                            epochs=10, random_state=1).fit(x, names)
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(x, names) > 0.9 and set(clf.predict(x)) <= set(names)
    inc = NetworkClassifier(random_state=1)
    for _ in range(5):
        inc.partial_fit(x, names, classes=np.unique(names))
    assert inc.n_iter_ == 5 and inc.score(x, names) > 0.8
    with pytest.raises(ValueError, match="not in classes"):
        inc.partial_fit(x[:5], np.array(["ten"] * 5))


def test_early_stopping_in_the_estimator(digits):
    x, y = digits
    clf = NetworkClassifier(epochs=200, early_stopping=3, random_state=0).fit(x / 16.0, y)
    assert clf.n_iter_ < 200 and clf.best_epoch_ == clf.n_iter_ - 4
