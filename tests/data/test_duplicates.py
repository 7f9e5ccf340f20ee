"""headstart.data.duplicates: which train row a test row copies, exactly (after ``normalize``) or nearly (3-shingle
Jaccard via MinHash). The leakage report and dedupe built on it are tested in tests/test_leakage.py."""

from __future__ import annotations

import numpy as np

from headstart.data.duplicates import _minhash, _shingles, match_rows, normalize


def words(n: int, *, prefix: str = "w") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_an_exact_copy_points_at_the_first_train_row_holding_it_and_test_rows_never_match_each_other():
    """Leakage examples and dedupe read ``match`` as a position into ``train``: the first of repeated train texts."""
    inputs = ["a fresh start", "the plot was thin", "The plot, was THIN!", "THE PLOT WAS THIN", "only in test",
              "only in test"]
    match, similarity, exact = match_rows(inputs, np.array([0, 1, 2]), np.array([3, 4, 5]), 1.0)
    assert match.tolist() == [1, -1, -1]
    assert similarity.tolist() == [1.0, 0.0, 0.0] and exact.tolist() == [True, False, False]
    assert match.dtype == np.int64 and similarity.dtype == np.float64 and exact.dtype == bool


def test_a_near_copy_points_at_the_first_train_row_of_its_most_similar_text_first_of_ties():
    base = words(19)
    tied_a, tied_b = " ".join(base + ["p"]), " ".join(base + ["q"])  # each shares 17 of 19 shingles with the query
    query = " ".join(base + ["r"])
    other = "unrelated words entirely here now"
    inputs = [other, other, tied_a, tied_a, tied_b, query]
    match, similarity, exact = match_rows(inputs, np.arange(5), np.array([5]), 0.8)
    assert match.tolist() == [2], "train position 2: tied_a's first row (a position, not its text's number), tied_a before tied_b"
    assert similarity[0] == 17 / 19 and not exact[0]


def test_underscores_and_symbols_separate_words_like_spaces():
    assert normalize("snake_case-name  #tag") == "snake case name tag"
    assert normalize("___") == ""


def test_minhash_signatures_do_not_depend_on_how_documents_are_chunked():
    """Large datasets are hashed a block of documents at a time: the block edges must not change any signature."""
    texts = [" ".join(words(k, prefix=f"t{k}_")) for k in (1, 2, 3, 7, 12, 30)]
    shingles, offsets = _shingles(texts)
    docs = np.arange(len(texts))
    whole = _minhash(shingles, offsets, docs)
    for chunk in (1, 5, 11):
        assert (_minhash(shingles, offsets, docs, chunk=chunk) == whole).all(), chunk
    assert (_minhash(shingles, offsets, docs[3:]) == whole[3:]).all(), "a document's signature is its own"
