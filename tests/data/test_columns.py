"""headstart.data.columns: which columns of a user's table hold the input and the label, given or guessed, and the
message when a named column is missing or none can be guessed."""

from __future__ import annotations

import pandas as pd
import pytest

from headstart.data.columns import (find_run_column, guess_notes, pick_image_column, pick_label_column, pick_text_column,
                                    text_values)
from headstart.data.dataset import PAIR_SEP
from headstart.errors import ColumnError, ConfigError, DataError

PAIRS = pd.DataFrame({"premise": ["a cat sits", None, f"x{PAIR_SEP}y", "  "], "hypothesis": ["an animal", "b", "c", "d"],
                      "label": [0, 1, 0, 1]})


def test_a_pair_of_columns_is_joined_by_the_pair_separator_and_empty_where_a_part_is_missing():
    """A part's own separator character is a space: a pair must split into exactly the two texts the user gave."""
    assert text_values(PAIRS, "premise, hypothesis").tolist() == [f"a cat sits{PAIR_SEP}an animal", "", f"x y{PAIR_SEP}c", ""]
    assert text_values(PAIRS, "premise").tolist() == ["a cat sits", "", "x y", ""]


def test_a_named_pair_is_taken_with_its_spaces_dropped_and_a_missing_or_repeated_part_is_named():
    assert pick_text_column(PAIRS, "premise , hypothesis", "nli.csv") == "premise,hypothesis"
    with pytest.raises(DataError, match=r"^text columns 'premise,hypo': 'hypo' is not a second column of 'nli.csv' "
                                        r"\(columns: premise, hypothesis, label\); pass --text-column FIRST,SECOND"):
        pick_text_column(PAIRS, "premise,hypo", "nli.csv")
    with pytest.raises(DataError, match=r"'premise' is not a second column"):
        pick_text_column(PAIRS, "premise,premise", "nli.csv")
    with pytest.raises(ConfigError, match="has an empty entry"):  # "premise,": a part left out, not a column "premise,"
        pick_text_column(PAIRS, "premise,", "nli.csv")


def test_a_named_text_column_that_is_not_there_lists_the_columns_and_the_fix():
    with pytest.raises(ColumnError) as error:
        pick_text_column(PAIRS, "review", "nli.csv")
    assert str(error.value) == ("text column 'review' not found in 'nli.csv' (columns: premise, hypothesis, label); "
                                "pass --text-column NAME")
    assert error.value.kind == "text"


def test_the_text_column_is_guessed_by_name_in_the_names_order_then_as_the_only_column_of_strings():
    both = pd.DataFrame({"Sentence": ["a", "b"], "TEXT": ["c", "d"], "label": [0, 1]})
    assert pick_text_column(both, None, "t.csv") == "TEXT", "'text' comes before 'sentence', whatever the table's order"
    assert pick_text_column(pd.DataFrame({"id": [1, 2], "words": ["x", "y"]}), None, "t.csv") == "words"
    with pytest.raises(ColumnError, match=r"^cannot tell which column of 't.csv' holds the text, 'a' or 'b' \(columns: "
                                          r"id, a, b\); pass --text-column NAME$"):
        pick_text_column(pd.DataFrame({"id": [1, 2], "a": ["x", "y"], "b": ["p", "q"]}), None, "t.csv")


def test_a_label_named_as_the_text_the_user_named_is_refused_and_read_on_when_the_text_was_guessed():
    frame = pd.DataFrame({"review": ["good", "bad"], "stars": [5, 1]})
    with pytest.raises(ColumnError, match=r"^--text-column 'review' and --label-column 'review' name the same column"):
        pick_label_column(frame, "review", "review", "r.csv", text_given=True)
    assert pick_label_column(frame, "review", "review", "r.csv") == "review"  # refused later as labels of free text
    with pytest.raises(ColumnError, match=r"^label column 'Stars' not found in 'r.csv' \(columns: review, stars\); "
                                          r"pass --label-column NAME$"):
        pick_label_column(frame, "Stars", "review", "r.csv")


def test_the_label_column_is_guessed_by_name_then_as_the_only_other_column_never_a_part_of_the_text():
    named = pd.DataFrame({"text": ["a"], "id": [1], "Sentiment": ["pos"], "LABEL": [1]})
    assert pick_label_column(named, None, "text", "t.csv") == "LABEL", "'label' comes before 'sentiment'"
    pair = pd.DataFrame({"premise": ["a"], "hypothesis": ["b"], "entails": [1]})
    assert pick_label_column(pair, None, "premise,hypothesis", "p.csv") == "entails"
    with pytest.raises(ColumnError, match=r"^cannot tell which column of 't.csv' holds the label \(columns: text, id, "
                                          r"stars\); pass --label-column NAME$"):
        pick_label_column(pd.DataFrame({"text": ["a"], "id": [1], "stars": [5]}), None, "text", "t.csv")


def test_a_column_guessed_as_the_only_candidate_is_said_and_one_guessed_by_its_name_is_not():
    assert guess_notes("words", "stars") == ["reading column 'words' as the text, the only column of strings",
                                            "reading column 'stars' as the label, the only column besides the text"]
    assert guess_notes("Review", "Sentiment") == [] and guess_notes(None, None) == []


def test_an_image_column_is_the_only_one_naming_image_files_and_two_are_refused():
    frame = pd.DataFrame({"path": ["a.png", "b.JPG"], "caption": ["x", "y"], "label": [0, 1]})
    assert pick_image_column(frame, None, "i.csv") == "path"
    assert pick_image_column(frame, "caption", "i.csv") is None, "a named column of texts: a table of texts"
    assert pick_image_column(frame.drop(columns="path"), None, "i.csv") is None
    frame["mask"] = ["a_mask.png", "b_mask.png"]
    with pytest.raises(DataError, match=r"^columns \['path', 'mask'\] of 'i.csv' all name image files; pass --text-column"):
        pick_image_column(frame, None, "i.csv")


def test_the_runs_own_column_is_found_only_where_the_table_holds_all_of_it():
    assert find_run_column(PAIRS, "premise, hypothesis") == "premise,hypothesis"
    assert find_run_column(PAIRS, "premise,claim") is None
    assert find_run_column(PAIRS, "label") == "label"
    assert find_run_column(PAIRS, None) is None and find_run_column(PAIRS, "") is None


def test_a_column_named_like_a_label_is_never_guessed_as_the_text():
    """A table of class names and a row number trained a regression from the names onto the row number: 'label' was
    read as the text, the only column of strings, and 'n' as the label. Train's and predict's guesses both refuse it."""
    frame = pd.DataFrame({"label": ["good", "bad"] * 3, "n": range(6)})
    with pytest.raises(ColumnError, match=r"^no text column in 'notext.parquet' \(columns: label, n; 'label' is named as a "
                                          r"label, not read as the text\); pass --text-column NAME$"):
        pick_text_column(frame, None, "notext.parquet")
    with pytest.raises(ColumnError, match=r"^no text column in 'one.csv' \(columns: Label; "):
        pick_text_column(pd.DataFrame({"Label": ["good", "bad"]}), None, "one.csv")
    with pytest.raises(ColumnError, match=r"^cannot tell which column of 's.csv' holds the text \(columns: id, score\)"):
        pick_text_column(pd.DataFrame({"id": ["1", "2"], "score": ["0.5", "0.7"]}), None, "s.csv")  # as before: no guess
    assert pick_text_column(frame, "label", "notext.parquet") == "label", "named, it is read as asked"
    assert pick_text_column(pd.DataFrame({"words": ["x", "y"], "label": [0, 1]}), None, "t.csv") == "words"


def test_the_only_column_of_strings_besides_the_label_is_the_text_and_several_are_named():
    """A table of tweets and class names ({tweet, label}) was refused, "cannot tell which column holds the text", though
    the label's column of strings was never a candidate: it needed --text-column tweet."""
    tweets = pd.DataFrame({"tweet": ["so happy", "so sad", "meh"], "label": ["joy", "sadness", "neutral"]})
    assert pick_text_column(tweets, None, "tweets.csv") == "tweet"
    topics = tweets.rename(columns={"label": "topic"})
    assert pick_text_column(topics, None, "t.csv", label_column="topic") == "tweet", "the label named by --label-column"
    with pytest.raises(ColumnError, match=r"^cannot tell which column of 't.csv' holds the text \(columns: tweet, topic\)"):
        pick_text_column(topics, None, "t.csv")  # neither is named like a label: no guess
    tweets["user"] = ["ann", "bo", "cy"]
    with pytest.raises(ColumnError, match=r"^cannot tell which column of 'tweets.csv' holds the text, 'tweet' or "
                                          r"'user' \(columns: tweet, label, user\); pass --text-column NAME$"):
        pick_text_column(tweets, None, "tweets.csv")
    assert guess_notes("tweet", None, aside=["label"]) == [
        "reading column 'tweet' as the text, the only column of strings besides the label 'label'; --text-column NAME "
        "picks another"]
