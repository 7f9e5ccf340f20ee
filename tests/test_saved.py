"""saved: a folder read as a classifier run, and what it says of a causal LM's run given there instead."""

from __future__ import annotations

import json

import pytest

from headstart.errors import StoreError
from headstart.run_meta import read_meta


@pytest.mark.parametrize("spec, named", [({"kind": "sft", "eval_rows": 32}, True), ({"kind": "sft"}, True),
                                         ({"kind": "sft", "eval_rows": 0}, False), ({"kind": "prefer"}, False)],
                         ids=["sft", "sft of before eval_rows", "sft of --eval-rows 0", "prefer"])
def test_a_causal_lm_run_names_evaluate_only_where_it_has_test_prompts(tmp_path, spec, named):
    """An sft run of --eval-rows 0 drew no test prompt, and evaluate refuses it: naming evaluate for its exact match
    sent the user to a refusal."""
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(StoreError, match=f"is a headstart {spec['kind']} run; ask it with") as refused:
        read_meta(tmp_path)
    assert ("(its test exact match: headstart.evaluate(" in str(refused.value)) is named, str(refused.value)


@pytest.mark.parametrize("content", ["[]", "3", '"done"'])
def test_a_metrics_file_that_is_json_but_not_an_object_does_not_stop_a_run_being_used(tmp_path, content):
    """metrics.json is informational (``check_usable`` reads its status; the weight files decide): valid JSON that is
    not an object raised AttributeError ('list' object has no attribute 'get') where a damaged one read as done."""
    from headstart.saved import _status

    (tmp_path / "metrics.json").write_text(content)
    assert _status(tmp_path) == "done"
