"""The search box's rule (tracker.clinical.search): the words a patient's name or MRN must hold."""

import pytest

from tracker.clinical.search import MAX_WORDS, exact_mrn_keys, search_words


@pytest.mark.parametrize(
    "typed, words",
    [
        ("Castillo, Lisa", ("castillo", "lisa")),
        ("Lisa Castillo", ("lisa", "castillo")),
        ("castillo", ("castillo",)),
        ("  LISA   castillo  ", ("lisa", "castillo")),
        ("Castillo,Lisa", ("castillo", "lisa")),
        ("Castillo ,, ; Lisa", ("castillo", "lisa")),
        ("castil", ("castil",)),  # a part is enough
        ("Lisa\tCastillo\n", ("lisa", "castillo")),
        ("Castillo/Lisa", ("castillo", "lisa")),
    ],
)
def test_a_name_is_its_words_in_any_order_with_commas_and_spaces_ignored(typed, words):
    assert search_words(typed) == words


@pytest.mark.parametrize(
    "typed",
    [
        "MRN8621234",
        "mrn8621234",
        "MRN 8621234",
        "MRN: 8621234",
        "MRN#8621234",
        "MRN-8621234",
        "mrn.8621234",
        "8621234",
        " 8621234 ",
    ],
)
def test_an_mrn_is_its_number_with_or_without_the_mrn_label(typed):
    assert search_words(typed) == ("8621234",)


def test_mrn_as_part_of_a_name_or_without_a_number_is_kept():
    assert search_words("Mrnovich") == ("mrnovich",)
    assert search_words("MRN") == ("mrn",)
    assert search_words("Castillo MRN862") == ("castillo", "862")


def test_nothing_to_find_gives_no_words():
    for typed in ("", "   ", ",,,", " , ; / ", "-", "'", "- ' ."):
        assert search_words(typed) == (), typed


def test_hyphens_apostrophes_and_wildcard_characters_are_letters_of_the_word():
    assert search_words("O'Neil Smith-Jones") == ("o'neil", "smith-jones")
    assert search_words("50% a_b") == ("50%", "a_b")  # the query escapes them (no LIKE wildcards)


def test_a_word_typed_twice_counts_once_and_at_most_max_words_are_kept():
    assert search_words("Lisa lisa LISA") == ("lisa",)
    assert search_words("a b c d e f g h") == tuple("abcdefgh"[:MAX_WORDS])


def test_letters_are_lowered_as_the_databases_lower_them():
    assert search_words("Strauß") == ("strauß",)  # not casefolded to "strauss", which lower(last_name) never gives
    assert search_words("ÉLODIE") == ("élodie",)


@pytest.mark.parametrize(
    "typed, keys",
    [
        ("MRN862", ("mrn862", "862")),
        ("mrn: 862", ("mrn: 862", "862", "mrn862")),
        ("4455667", ("4455667", "mrn4455667")),
        ("Castillo", ("castillo", "mrncastillo")),
        ("Lisa Castillo", ()),
        ("", ()),
    ],
)
def test_a_whole_mrn_is_the_text_as_typed_or_its_number_with_or_without_the_label(typed, keys):
    assert exact_mrn_keys(typed) == keys
