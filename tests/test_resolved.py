"""Tests of headstart/resolved.py: what enters a run's resolved spec, and so its key."""

from __future__ import annotations

import dataclasses

from headstart import resolved
from headstart.specs import RunSpec


def test_a_file_read_by_the_runs_own_columns_is_keyed_apart_from_scores_read_before_that_rule(toy_csv, other_csv):
    """An --eval-data file (or a term's data=) is read by the run's own text and label columns since 0a8c0d8; before,
    by name order. Its hash is of its bytes, so without the rule in the key a compare resumed on an older store reused
    scores read from the other column. A retained file is read as before, and built-in datasets carry no hash: those
    runs keep their keys."""
    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, seed=0)
    scored = resolved._other_files(dataclasses.replace(spec, eval_data=(str(other_csv),)))
    assert list(scored) == ["other_data", "other_data_read"], "the reading rule is part of the run's key"
    assert list(scored["other_data"]) == [str(other_csv)] and scored["other_data_read"] == resolved.READ_AGAINST_RUN
    term = resolved._other_files(dataclasses.replace(spec, terms={"dann": {"data": str(other_csv)}}))
    assert term.get("other_data_read") == resolved.READ_AGAINST_RUN
    assert list(resolved._other_files(dataclasses.replace(spec, retain=(str(other_csv),)))) == ["other_data"]
    assert resolved._other_files(dataclasses.replace(spec, eval_data=("drug-reviews-sentiment",))) == {}
