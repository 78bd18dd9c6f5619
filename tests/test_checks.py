"""Shared value checks: JSON from users' files is read with a depth bound, never into a
RecursionError; the rules several modules apply have one message."""
from __future__ import annotations

import pytest

from ganorama.checks import MAX_JSON_DEPTH, JSONTooDeep, check_displace, check_truncation, parse_json
from ganorama.errors import UsageError


def test_json_as_deep_as_allowed_is_read_and_one_level_more_is_refused():
    allowed = "[" * MAX_JSON_DEPTH + "1" + "]" * MAX_JSON_DEPTH
    assert parse_json(allowed) == parse_json(allowed)  # read, equal values
    nested = parse_json('{"a": ' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH)
    assert isinstance(nested, dict)
    with pytest.raises(JSONTooDeep, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


def test_json_far_too_deep_for_pythons_reader_is_refused_the_same_way():
    with pytest.raises(JSONTooDeep) as caught:
        parse_json("[" * 100_000 + "]" * 100_000)
    assert isinstance(caught.value, ValueError)  # every reader's "not valid JSON" path takes it


@pytest.mark.parametrize("check,value,message", [
    (check_truncation, 0, "truncation 0.0 is out of range; allowed: 0 < truncation <= 1"),
    (check_truncation, "x", "truncation 'x' is not a number; allowed: 0 < truncation <= 1"),
    (check_displace, 2, "displace 2.0 is out of range; allowed: -2 < displace < 2 (e.g. 0.1)"),
    (check_displace, float("nan"), "displace nan is out of range"),
])  # fmt: skip
def test_a_shared_rule_has_one_message(check, value, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(value)
