"""The reproduction report's links to the book, figure names and contents
(built from small made-up records: no experiment is run here)."""

import re
from pathlib import Path

import pytest

from nndl.experiments import EXPERIMENTS
from nndl.report import (BOOK, BOOK_FIGURES, SECTIONS, book_anchor, book_link, render_html,
                         render_markdown)

# Anchors as the book's own pages spell them (checked against links to the book).
KNOWN_ANCHORS = {
    "The cross-entropy cost function": "the_cross-entropy_cost_function",
    "Introducing the cross-entropy cost function": "introducing_the_cross-entropy_cost_function",
    "Softmax": "softmax",
    "Overfitting and regularization": "overfitting_and_regularization",
    "Regularization": "regularization",
    "Why does regularization help reduce overfitting?":
        "why_does_regularization_help_reduce_overfitting",
    "Other techniques for regularization": "other_techniques_for_regularization",
    "Weight initialization": "weight_initialization",
    "How to choose a neural network's hyper-parameters?":
        "how_to_choose_a_neural_network's_hyper-parameters",
    "Other techniques": "other_techniques",
    "Variations on stochastic gradient descent": "variations_on_stochastic_gradient_descent",
}


def test_anchors_follow_the_books_naming():
    for section, anchor in KNOWN_ANCHORS.items():
        assert book_anchor(section) == anchor
    assert book_anchor("Handwriting recognition revisited: the code") == \
        "handwriting_recognition_revisited_the_code"
    assert book_link("Softmax") == f"{BOOK}#softmax"


def test_every_experiment_names_a_heading_of_the_chapter_and_a_figure():
    for name, experiment in EXPERIMENTS.items():
        assert experiment.section in SECTIONS, (name, experiment.section)
        assert name in BOOK_FIGURES, f"{name}: say which of the book's figures it corresponds to"


def record(name, section, plots=()):
    return {"name": name, "section": section, "title": f"title of {name}", "plots": list(plots),
            "claims": [{"text": "a number", "target": "1 (tolerance 0)", "ours": {"mean": 1.0,
                        "std": 0.0, "min": 1.0, "max": 1.0, "values": [1.0]}, "unit": "",
                        "verdict": "matches", "reason": "exact"}],
            "metadata": {"command": f"nndl reproduce {name}", "seconds": 1.0, "date": "today",
                         "machine": "here", "seeds": [0], "quick": False,
                         "versions": {"nndl": "0"}}}


def test_report_links_sections_names_figures_and_has_contents(tmp_path):
    records = [record("slowdown", "The cross-entropy cost function"),
               record("multiple_eta", "How to choose a neural network's hyper-parameters?")]
    page = render_html(records, [], tmp_path, discussion="# Why\n\ntext")
    assert f"href='{BOOK}#the_cross-entropy_cost_function'" in page
    assert f"href='{BOOK}#how_to_choose_a_neural_network&#x27;s_hyper-parameters'" in page
    assert BOOK_FIGURES["slowdown"].split(",")[0] in page
    nav = re.search(r"<nav.*?</nav>", page).group(0)
    assert [a for a in re.findall(r"href='#([^']+)'", nav)] == ["summary", "discussion", "slowdown",
                                                                 "multiple_eta"]
    for anchor in ("summary", "discussion", "slowdown", "multiple_eta"):
        assert f"id='{anchor}'" in page
    md = render_markdown(records, [], "")
    assert f"[*The cross-entropy cost function*]({BOOK}#the_cross-entropy_cost_function)" in md
    assert "1. [Summary](#summary)" in md and "3. [multiple_eta](#multiple_eta)" in md
    assert "issue" not in page.lower() and "issue" not in md.lower()


def test_committed_report_speaks_of_the_project_only():
    root = Path(__file__).parent.parent
    for path in (root / "docs" / "reproduction").glob("report.*"):
        assert "the issue" not in path.read_text().lower(), path
