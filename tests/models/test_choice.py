"""Which model a run uses: -m, --weights and GANORAMA_WEIGHTS together."""
from __future__ import annotations

import pytest

from ganorama.errors import UsageError
from ganorama.models.choice import WEIGHTS_VARIABLE, ModelChoice


def test_weights_given_on_the_command_line_win_over_the_environment(tmp_path):
    choice = ModelChoice.from_options(None, "./typed", environ={WEIGHTS_VARIABLE: str(tmp_path)})
    assert choice.weights == "./typed" and choice.weights_from == "--weights"


def test_the_environment_fills_in_weights_when_none_are_given(small_checkpoint):
    choice = ModelChoice.from_options(None, None, environ={WEIGHTS_VARIABLE: f" {small_checkpoint} "})
    assert choice.weights == str(small_checkpoint) and choice.weights_from == WEIGHTS_VARIABLE
    assert choice.source == str(small_checkpoint)


def test_an_empty_variable_is_as_if_unset():
    assert ModelChoice.from_options("biggan-deep-256", None, environ={WEIGHTS_VARIABLE: "  "}) == \
        ModelChoice("biggan-deep-256", None)


def test_m_naming_another_architecture_than_the_variables_weights_loads_that_model(small_checkpoint):
    # The fixture is a custom architecture, so -m biggan-deep-256 asks for something else.
    choice = ModelChoice.from_options("biggan-deep-256", None, environ={WEIGHTS_VARIABLE: str(small_checkpoint)})
    assert choice == ModelChoice("biggan-deep-256", None)


def test_m_naming_the_variables_architecture_uses_its_weights():
    choice = ModelChoice.from_options("biggan-deep-256", None, environ={WEIGHTS_VARIABLE: "biggan-deep-256"})
    assert choice.weights == "biggan-deep-256" and choice.weights_from == WEIGHTS_VARIABLE


def test_a_mismatch_names_where_the_weights_came_from(small_checkpoint):
    choice = ModelChoice("biggan-deep-128", str(small_checkpoint), "sidecar x.json")
    with pytest.raises(UsageError, match=r"\(from sidecar x.json\)"):
        choice.check_matches(choice.known_config())
