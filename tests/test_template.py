"""Exact prompt strings: the Tk-Instruct encoding with the steps block."""

from __future__ import annotations

from stepinst_data.source.natinst import Example
from stepinst_data.dataset.template import render_prompt


def test_definition_only_matches_tk_instruct():
    prompt = render_prompt("The cat sat", definition=" Translate the sentence ")
    assert prompt == (
        "Definition: Translate the sentence.\n\n"
        "Now complete the following example -\n"
        "Input: The cat sat.\n"
        "Output: "
    )


def test_no_period_added_after_punctuation():
    prompt = render_prompt("Is it? ", definition="Answer yes or no!")
    assert prompt == "Definition: Answer yes or no!\n\nNow complete the following example -\nInput: Is it?\nOutput: "


def test_steps_and_examples_in_order():
    pos = [Example("2 + 2", "4", "Two plus two."), Example("1 + 0", "1", "")]
    neg = [Example("1 + 1", "3", "Wrong sum")]
    prompt = render_prompt(
        "3 + 4",
        definition="Add the numbers.",
        steps=["Read both numbers.", " Add them "],
        positive_examples=pos,
        negative_examples=neg,
        add_explanation=True,
    )
    assert prompt == (
        "Definition: Add the numbers.\n\n"
        "Steps:\n1. Read both numbers.\n2. Add them\n\n"
        " Positive Example 1 -\nInput: 2 + 2.\n Output: 4.\n Explanation: Two plus two.\n\n"
        " Positive Example 2 -\nInput: 1 + 0.\n Output: 1.\n\n"
        " Negative Example 1 -\nInput: 1 + 1.\n Output: 3.\n Explanation: Wrong sum.\n\n"
        "Now complete the following example -\nInput: 3 + 4.\nOutput: "
    )


def test_steps_only_has_no_definition():
    prompt = render_prompt("x", definition=None, steps=["Do it."])
    assert prompt == "Steps:\n1. Do it.\n\nNow complete the following example -\nInput: x.\nOutput: "


def test_explanations_off_by_default():
    prompt = render_prompt("x", definition="D.", positive_examples=[Example("a", "b", "because")])
    assert "Explanation" not in prompt
