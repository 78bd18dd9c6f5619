"""The shipped ImageNet class table, name lookup, class mixes, class vectors and search."""
from __future__ import annotations

import math
import re
from importlib import resources

import pytest
import torch

from ganorama.errors import UsageError
from ganorama.models import imagenet
from ganorama.models.imagenet import (
    NUM_CLASSES,
    class_names,
    class_vector,
    definition,
    display_name,
    exact_matches,
    lookup,
    parse_class_mix,
    search,
    suggest,
    wordnet_id,
)


def _usage_error(call, *args) -> str:
    with pytest.raises(UsageError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message, "the CLI prints errors as one line"
    return message


# --- the shipped table ---------------------------------------------------------------


def test_shipped_tsv_has_1000_rows_with_ids_0_to_999_in_order():
    text = (resources.files("ganorama.models") / "data" / "imagenet_classes.tsv").read_text(encoding="utf-8")
    header, *rows = [line.split("\t") for line in text.splitlines()]
    assert header == ["id", "wnid", "names", "definition"]
    assert len(rows) == NUM_CLASSES == 1000
    assert [int(row[0]) for row in rows] == list(range(1000))
    assert all(len(row) == 4 and row[2] and row[3] for row in rows)
    wnids = [row[1] for row in rows]
    assert all(re.fullmatch(r"n\d{8}", wnid) for wnid in wnids) and len(set(wnids)) == 1000


@pytest.mark.parametrize(
    ("class_id", "names"),
    [
        (977, ["sandbar", "sand bar"]),
        (979, ["valley", "vale"]),
        (950, ["orange"]),
        (973, ["coral reef"]),
        (847, ["tank", "army tank", "armored combat vehicle", "armoured combat vehicle"]),
        (0, ["tench", "Tinca tinca"]),
    ],
)
def test_known_classes_have_their_wordnet_names(class_id, names):
    assert class_names(class_id) == names
    assert display_name(class_id) == names[0]


def test_definition_and_wordnet_id_come_from_the_same_synset():
    assert definition(977) == "a bar of sand"
    assert wordnet_id(977) == "n09421951"
    assert definition(978) == "the shore of a sea or ocean"


def test_class_names_returns_a_fresh_list_so_callers_cannot_corrupt_the_table():
    class_names(977).append("beach")
    assert class_names(977) == ["sandbar", "sand bar"]


@pytest.mark.parametrize("bad_id", [1000, -1])
def test_name_accessors_reject_ids_outside_0_to_999(bad_id):
    for accessor in (class_names, display_name, definition):
        assert "0..999" in _usage_error(accessor, bad_id)


# --- lookup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "class_id"),
    [
        ("sandbar", 977),
        ("SandBar", 977),
        ("  sand bar\t", 977),
        ("sand_bar", 977),
        ("sand-bar", 977),
        ("Sand  Bar", 977),
        ("coral_reef", 973),
        ("sea-coast", 978),
        ("sea coast", 978),
        ("seacoast", 978),
        ("R.V.", 757),
        ("rv", 757),
        ("jack-o'-lantern", 607),
        ("jack o lantern", 607),
    ],
)
def test_lookup_ignores_case_whitespace_underscores_hyphens_and_punctuation(name, class_id):
    assert lookup(name) == class_id


@pytest.mark.parametrize(("name", "class_id"), [("vale", 979), ("army tank", 847), ("armoured combat vehicle", 847)])
def test_lookup_finds_a_class_by_any_of_its_synonyms(name, class_id):
    assert lookup(name) == class_id


@pytest.mark.parametrize("value", [977, "977", " 977 ", "+977"])
def test_lookup_accepts_an_id_as_int_or_string(value):
    assert lookup(value) == 977


def test_lookup_accepts_numpy_and_torch_integers():
    np = pytest.importorskip("numpy")
    assert lookup(np.int64(977)) == 977
    assert lookup(torch.tensor(979)) == 979


@pytest.mark.parametrize("bad_id", [1000, -1, "1000", "-1"])
def test_lookup_out_of_range_id_names_the_value_and_allowed_range(bad_id):
    message = _usage_error(lookup, bad_id)
    assert str(bad_id).strip() in message and "0..999" in message


@pytest.mark.parametrize("bad_id", [977.0, True])
def test_lookup_rejects_floats_and_bools_as_ids(bad_id):
    assert "integer" in _usage_error(lookup, bad_id)


def test_lookup_unknown_name_gives_one_line_with_closest_names_and_ids():
    message = _usage_error(lookup, "sandbr")
    assert message.startswith("unknown ImageNet class 'sandbr'; did you mean: sandbar (977)")
    assert "ganorama classes QUERY" in message


def test_lookup_unknown_name_suggests_names_containing_it():
    # "army tnk" is one typo away from the synonym "army tank" (847), not from its display name.
    assert "army tank (847)" in _usage_error(lookup, "army tnk")
    assert ("coral reef", 973) in suggest("coral")


def test_lookup_unknown_name_with_nothing_close_still_points_to_search():
    message = _usage_error(lookup, "qqqqzz")
    assert "did you mean" not in message and "ganorama classes QUERY" in message


@pytest.mark.parametrize(("name", "class_id"), [("maillot", 638), ("tank suit", 639), ("harp", 594), ("missile", 657)])
def test_lookup_of_a_shared_synonym_prefers_the_class_whose_full_name_it_is(name, class_id):
    # "maillot" is all of 638's name and a synonym of 639 ("maillot, tank suit").
    assert lookup(name) == class_id


def test_lookup_of_a_shared_synonym_then_prefers_the_class_where_it_comes_first():
    # 876 is "tub, vat"; 435 is "bathtub, bathing tub, bath, tub".
    assert lookup("tub") == 876


@pytest.mark.parametrize(("name", "ids"), [("crane", (134, 517)), ("panda", (387, 388)), ("Wagon", (436, 734))])
def test_lookup_of_a_synonym_shared_without_preference_is_an_error_listing_the_ids(name, ids):
    message = _usage_error(lookup, name)
    assert "ambiguous" in message and repr(name) in message
    assert all(f"{class_id} = " in message for class_id in ids)


def test_every_synonym_looks_up_to_a_class_having_it_or_is_reported_ambiguous():
    for class_id in range(NUM_CLASSES):
        for name in class_names(class_id):
            try:
                found = lookup(name)
            except UsageError as error:
                assert "ambiguous" in str(error) and f"{class_id} = " in str(error), name
            else:
                assert imagenet.normalize(name) in map(imagenet.normalize, class_names(found)), name


def test_every_class_but_the_two_cranes_is_reachable_by_one_of_its_names():
    def reachable(class_id: int) -> bool:
        for name in class_names(class_id):
            try:
                if lookup(name) == class_id:
                    return True
            except UsageError:
                pass
        return False

    assert [class_id for class_id in range(NUM_CLASSES) if not reachable(class_id)] == [134, 517]


def test_name_normalization_merges_no_names_that_wordnet_keeps_apart():
    # The only synonyms shared by two classes are the ones WordNet itself shares.
    shared = sorted(name for name, ids in imagenet._table().by_name.items() if len(ids) > 1)
    assert shared == sorted([
        "cardigan", "catamount", "crane", "crawfish", "crayfish", "gong", "grass snake", "harp", "horn",
        "maillot", "missile", "panda", "panther", "partridge", "polecat", "sand viper", "sus scrofa", "tub",
        "wagon",
    ])


# --- class mixes ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["sandbar", "977", " Sand_Bar "])
def test_parse_class_mix_of_one_class_gives_weight_one(spec):
    assert parse_class_mix(spec) == {977: 1.0}


def test_parse_class_mix_keeps_given_weights_that_sum_to_one():
    assert parse_class_mix("0.7*sandbar+0.3*valley") == pytest.approx({977: 0.7, 979: 0.3})


def test_parse_class_mix_normalizes_weights_to_sum_to_one():
    mix = parse_class_mix("3*sandbar + 1 * 979")
    assert mix == pytest.approx({977: 0.75, 979: 0.25})
    assert math.isclose(sum(mix.values()), 1.0)


def test_parse_class_mix_without_weights_mixes_equally():
    assert parse_class_mix("sandbar+valley+orange") == pytest.approx({977: 1 / 3, 979: 1 / 3, 950: 1 / 3})


def test_parse_class_mix_gives_unweighted_terms_weight_one():
    assert parse_class_mix("2*sandbar+valley") == pytest.approx({977: 2 / 3, 979: 1 / 3})


def test_parse_class_mix_adds_the_weights_of_a_class_named_twice():
    assert parse_class_mix("sandbar+sand bar+valley") == pytest.approx({977: 2 / 3, 979: 1 / 3})


@pytest.mark.parametrize(
    ("spec", "bad_term"),
    [
        ("0*sandbar", "0*sandbar"),
        ("0.5*valley+-1*sandbar", "-1*sandbar"),
        ("nan*sandbar", "nan*sandbar"),
        ("inf*sandbar", "inf*sandbar"),
        ("1e999*sandbar", "1e999*sandbar"),
        ("sandbar*0.7", "sandbar*0.7"),
        ("*sandbar", "*sandbar"),
        ("0.5*", "0.5*"),
        ("2*3*sandbar", "2*3*sandbar"),
    ],
)
def test_parse_class_mix_bad_weight_or_syntax_names_the_bad_term(spec, bad_term):
    assert repr(bad_term) in _usage_error(parse_class_mix, spec)


@pytest.mark.parametrize("spec", ["sandbar+", "+sandbar", "sandbar++valley"])
def test_parse_class_mix_empty_term_is_an_error(spec):
    assert "empty term" in _usage_error(parse_class_mix, spec)


@pytest.mark.parametrize("spec", ["", "   "])
def test_parse_class_mix_empty_spec_is_an_error_with_an_example(spec):
    assert "0.7*sandbar+0.3*valley" in _usage_error(parse_class_mix, spec)


def test_parse_class_mix_unknown_class_in_a_mix_names_it_with_suggestions():
    message = _usage_error(parse_class_mix, "0.5*sandbar+0.5*valey")
    assert "'valey'" in message and "valley (979)" in message


# --- class vectors -------------------------------------------------------------------


def test_class_vector_of_one_class_is_one_hot_float32():
    vector = class_vector("sandbar")
    assert vector.shape == (1000,) and vector.dtype == torch.float32
    assert vector[977] == 1 and vector.sum() == 1 and torch.count_nonzero(vector) == 1


def test_class_vector_of_a_mix_holds_the_normalized_weights():
    vector = class_vector("7*sandbar+3*valley")
    assert vector[977].item() == pytest.approx(0.7) and vector[979].item() == pytest.approx(0.3)
    assert torch.count_nonzero(vector) == 2


@pytest.mark.parametrize("spec", [977, {977: 1.0}, {"sandbar": 2.0}, {"977": 5}])
def test_class_vector_accepts_ids_and_mappings_of_names_or_ids(spec):
    assert torch.equal(class_vector(spec), class_vector("sandbar"))


def test_class_vector_normalizes_a_mapping_and_rejects_bad_weights():
    assert class_vector({977: 3.0, "valley": 1.0})[977].item() == pytest.approx(0.75)
    assert "positive" in _usage_error(class_vector, {977: 0.0})
    assert "empty" in _usage_error(class_vector, {})


def test_class_vector_honours_num_classes_dtype_and_device():
    vector = class_vector("sandbar", num_classes=1200, dtype=torch.float16, device="cpu")
    assert vector.shape == (1200,) and vector.dtype == torch.float16 and vector.device.type == "cpu"
    assert vector[977] == 1


def test_class_vector_rejects_a_class_the_model_does_not_have():
    assert "10 classes" in _usage_error(class_vector, "sandbar", 10)


# --- search --------------------------------------------------------------------------


def test_search_puts_the_exact_synonym_first():
    assert search("sandbar")[0] == 977
    assert search("vale")[0] == 979


def test_search_is_case_insensitive():
    assert search("SandBar") == search("sandbar")
    assert search("SHORE") == search("shore")


def test_search_ranks_name_matches_before_definition_matches():
    results = search("shore")
    # seashore and lakeshore by name; dowitcher only by its definition ("shorebird ...").
    assert {978, 975} <= set(results) and 142 in results
    assert results.index(978) < results.index(142) and results.index(975) < results.index(142)


def test_search_finds_classes_by_words_of_their_definitions():
    assert 977 in search("bar of sand")
    assert 133 in search("heron")  # bittern: "relatively small compact tawny-brown heron ..."
    assert 460 in search("beach")  # breakwater: its definition mentions a beach


def test_search_finds_scenes_by_words_no_name_or_definition_contains():
    # No class is named "beach" and neither seashore's nor sandbar's definition says it;
    # the shipped scene keywords put them before the beach wagon (436) found by name.
    results = search("beach")
    assert results[:2] == [978, 977]
    assert results.index(977) < results.index(436)
    assert search("Mountains")[:2] == [970, 980]


def test_search_lists_every_class_sharing_an_exact_name_first():
    assert search("crane")[:2] == [134, 517]
    assert exact_matches("crane") == [134, 517]


def test_search_by_id_returns_just_that_id():
    assert search("977") == [977]
    assert search("1000") == []
    assert exact_matches("977") == [977]


def test_search_limit_caps_the_results():
    assert len(search("snake")) > 3
    assert search("snake", limit=3) == search("snake")[:3]


def test_search_for_nonsense_finds_nothing():
    assert search("qqqqzz") == []
    assert search("   ") == []


def test_a_mix_is_named_in_the_form_the_class_options_read_back():
    from ganorama.models.imagenet import class_mix, mix_name

    assert mix_name({977: 1.0}) == "sandbar"
    mix = class_mix("0.3*valley+0.7*sandbar")
    assert mix_name(mix) == "0.7*sandbar+0.3*valley" and class_mix(mix_name(mix)) == mix
