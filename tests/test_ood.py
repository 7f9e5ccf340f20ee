"""Tests of headstart/ood.py: out-of-domain scores (--eval-data) in train, evaluate and compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from headstart.errors import ConfigError
from headstart.ood_labels import label_map, opposite, parse_eval_data


def test_eval_data_is_read_with_its_label_mapping():
    assert parse_eval_data("drug-reviews-sentiment") == ("drug-reviews-sentiment", {})
    assert parse_eval_data("data/x.csv[negative=rotten, neutral=-]") == ("data/x.csv", {"negative": "rotten", "neutral": None})
    with pytest.raises(ConfigError, match="expected LABEL=RUN_LABEL"):
        parse_eval_data("x.csv[negative]")


def test_a_mapping_without_its_closing_bracket_is_named_as_such_not_as_a_missing_file(tmp_path, monkeypatch):
    """'good.csv[bad=rotten,good=fresh' (no ']') was read as the file name and said "data file not found"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^--eval-data 'good.csv\[bad=rotten,good=fresh': the brackets after 'good.csv' "
                                          r"have no closing '\]'; e\.g\. --eval-data 'good.csv\[bad=rotten,good=fresh\]'$"):
        parse_eval_data("good.csv[bad=rotten,good=fresh")
    with pytest.raises(ConfigError, match=r"^--target 'x\[text=t': the brackets after 'x' have no closing"):
        parse_eval_data("x[text=t", "--target")
    (tmp_path / "odd[1.csv").write_text("text,label\n")
    assert parse_eval_data("odd[1.csv") == ("odd[1.csv", {}), "a file named so is read as it is"


def test_labels_map_by_name_by_a_known_pair_or_as_given_and_a_mismatch_shows_the_mapping_to_write():
    assert label_map("a.csv", ("neg", "pos"), ("neg", "pos"), {}) == ({"neg": "neg", "pos": "pos"}, None)
    mapping, note = label_map("drug-reviews-sentiment", ("negative", "neutral", "positive"), ("rotten", "fresh"), {})
    assert mapping == {"negative": "rotten", "positive": "fresh", "neutral": None}
    assert note == "drug-reviews-sentiment's labels read as the run's: negative as rotten, neutral left out, positive as fresh (built-in pair)"
    mapping, _ = label_map("b.csv", ("bad", "good"), ("neg", "pos"), {"bad": "neg", "good": "pos"})
    assert mapping == {"bad": "neg", "good": "pos"}
    with pytest.raises(ConfigError, match=r"--eval-data b.csv: its label\(s\) \['bad', 'good'\] match none of the run's \(neg, pos\); "
                                          r"map them by name, e.g. --eval-data 'b.csv\[bad=\?, good=\?\]'"):
        label_map("b.csv", ("bad", "good"), ("neg", "pos"), {})
    with pytest.raises(ConfigError, match=r"it has no label\(s\) \['meh'\]"):
        label_map("b.csv", ("neg", "pos"), ("neg", "pos"), {"meh": None})
    with pytest.raises(ConfigError, match=r"the run has no label\(s\) \['positive'\]"):
        label_map("b.csv", ("bad", "good"), ("neg", "pos"), {"bad": "neg", "good": "positive"})


def test_a_mapping_example_quotes_labels_holding_what_the_brackets_or_the_shell_would_split_so_pasting_it_works():
    """A label holding = ] ' or a comma was written bare: pasted, the example read as other labels (``x=1=neg`` maps
    ``x``; ``bad=Diabetes, Type 2, good=fresh`` maps ``'Type 2, good'``) or broke the shell's quotes."""
    import shlex

    def pasted(labels, run_labels, given):
        with pytest.raises(ConfigError) as caught:
            label_map("b.csv", labels, run_labels, given)
        flag, value = shlex.split(str(caught.value).split("e.g. ")[1].split(" (a label")[0])
        assert flag == "--eval-data"
        return label_map("b.csv", labels, run_labels, parse_eval_data(value)[1])[0]

    assert pasted(("neg=1", "pos]", "a, b's"), ("neg", "pos", "a, b"), {}) == {"neg=1": "neg", "pos]": "pos", "a, b's": "a, b"}
    given = parse_eval_data("b.csv[bad=Diabetes, Type 2, good=fresh]")[1]  # unquoted: the comma joins the next label
    assert given == {"bad": "Diabetes", "Type 2, good": "fresh"}
    assert pasted(("bad", "good"), ("Diabetes, Type 2", "fresh"), given) == {"bad": "Diabetes, Type 2", "good": "fresh"}
    assert parse_eval_data('x.csv["a=b"=pos, "say \\"hi\\""="-", c=-]') == ("x.csv", {"a=b": "pos", 'say "hi"': "-", "c": None})


def test_a_suggested_mapping_pairs_labels_by_name_and_shows_a_placeholder_where_no_name_matches():
    """neg/pos run on negative/neutral/positive was told ``negative=neg, neutral=pos, positive=-``: paired by position,
    so pasting it scored neutral rows as pos and dropped every positive one."""
    def example(labels, run_labels, given=None):
        with pytest.raises(ConfigError) as caught:
            label_map("d", labels, run_labels, given or {})
        return str(caught.value).split("e.g. --eval-data ")[1]

    assert example(("negative", "neutral", "positive"), ("neg", "pos")).startswith(
        "'d[negative=neg, neutral=-, positive=pos]' (a label mapped to - is left out)")
    assert example(("Negative", "Positive"), ("neg", "pos")).startswith("'d[Negative=neg, Positive=pos]'")
    assert example(("bad", "good", "meh"), ("rotten", "fresh")) == (
        "'d[bad=?, good=?, meh=?]' (a label mapped to - is left out; put one of the run's labels (rotten, fresh) or - "
        "for each ?)")
    assert example(("negative", "meh"), ("neg", "pos")).startswith("'d[negative=neg, meh=?]'")  # pos has no match yet
    with pytest.raises(ConfigError, match=r"the run has no label\(s\) \['\?'\]"):  # pasted as is, it is refused
        label_map("d", ("bad", "good"), ("rotten", "fresh"), parse_eval_data("d[bad=?, good=?]")[1])


def test_a_suggested_mapping_never_pairs_a_label_with_its_opposite():
    """nontoxic was suggested as toxic (toxic stands inside it), not_spam as spam, unhelpful as helpful: pasted, each
    scores one class's rows as the other's, silently accepted."""
    def example(labels, run_labels):
        with pytest.raises(ConfigError) as caught:
            label_map("d", labels, run_labels, {})
        return str(caught.value).split("e.g. --eval-data ")[1].split(" (")[0]

    assert example(("toxic", "nontoxic"), ("toxic", "non-toxic")) == "'d[nontoxic=non-toxic]'"  # toxic is toxic's
    assert example(("spam", "not_spam"), ("ham", "spam")) == "'d[not_spam=?]'"
    assert example(("bad", "unhelpful"), ("bad", "helpful")) == "'d[unhelpful=?]'"
    assert opposite("Non-Toxic", "toxic") and opposite("helpful", "un_helpful") and not opposite("negative", "neg")
    assert not opposite("index", "dex") and not opposite("notice", "ice"), "a prefix of a short word is no negation"
    assert example(("pos", "positive", "bad"), ("positive_review", "negative_review")).startswith(
        "'d[pos=positive_review, positive=?"), "one suggestion a run label"


def test_a_lone_double_quote_inside_a_label_is_part_of_it_not_the_end_of_the_mapping():
    """``x[5" screen=pos]`` read as a dataset named ``x[5" screen=pos]``: the bracket part refused an unclosed quote."""
    assert parse_eval_data('x[5" screen=pos]') == ("x", {'5" screen': "pos"})
    assert parse_eval_data('x[5" screen=pos, 7" screen=-]') == ("x", {'5" screen': "pos", '7" screen': None})
    assert parse_eval_data('x["a]b"=pos, 5" screen=neg]') == ("x", {"a]b": "pos", '5" screen': "neg"})
    assert parse_eval_data('data/x[1].csv') == ("data/x[1].csv", {})  # brackets mid-name are the name's


def copied(path, tmp_path, name):
    """The same rows under another file name: the same dataset by content."""
    out = tmp_path / name
    pd.read_csv(path).to_csv(out, index=False)
    return out


def test_a_trained_run_is_scored_out_of_domain_at_train_time_and_again_after_loading(toy_csv, other_csv, tiny_registry, tmp_path):
    """fit scores --eval-data on the other dataset's test split (its third label left out); evaluate on the saved run
    gives the same numbers, for a run that changed its backbone and for a probe scored on cached features."""
    import headstart
    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.specs import TrainConfig

    other = load_dataset(str(other_csv))
    test = split_dataset(other, SplitConfig(), by_label=False).test  # cut without its labels
    kept = int((other.targets[test] != other.label_names.index("neutral")).sum())
    text = f"{other_csv}[neutral=-]"
    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    for strategy in ("full-finetune", "linear-probe"):
        run = headstart.fit(str(toy_csv), "tiny", strategy=strategy, n=32, out=tmp_path / strategy, config=cfg, eval_data=[text])
        (found,) = run.ood
        assert found["test_rows"] == kept and 0 <= found["metrics"]["accuracy"] <= 1 and found["note"] is not None
        mapped = [other.label_names[t] for t in other.targets[test] if other.label_names[t] != "neutral"]
        assert found["majority"] == pytest.approx(max(mapped.count(v) for v in set(mapped)) / kept), "what one answer scores"
        scored = [i for i in test if other.label_names[other.targets[i]] != "neutral"]  # by name, as a user would
        said = [p["label"] for p in run.predict([other.inputs[i] for i in scored])]
        assert found["metrics"]["accuracy"] == pytest.approx(np.mean([
            label == other.label_names[other.targets[i]] for label, i in zip(said, scored)])), "each row against its own label"
        again = headstart.evaluate(tmp_path / strategy, eval_data=text)
        assert again["n"] == kept and again["accuracy"] == pytest.approx(found["metrics"]["accuracy"])
        assert again["majority"] == pytest.approx(found["majority"]), "evaluate gives the same reference as train"
        assert headstart.evaluate(run, eval_data=text)["accuracy"] == pytest.approx(found["metrics"]["accuracy"])
        (listed,) = headstart.evaluate(run, eval_data=[text])  # a list, as fit and compare take: one result each
        assert listed["accuracy"] == pytest.approx(found["metrics"]["accuracy"])


def review_tables(tmp_path):
    """A run's training table whose text column is 'review', and a table to score it on holding 'review' (the label's
    words) beside 'sentence' (the other label's words), which the name order (text, sentence, review) reads first."""
    from conftest import make_toy, toy_texts

    train, other = make_toy(200), make_toy(300, seed=7)
    trained_on = tmp_path / "reviews.csv"
    pd.DataFrame({"review": train.inputs, "label": [train.label_names[y] for y in train.targets]}).to_csv(trained_on, index=False)
    labels = [other.label_names[y] for y in other.targets]
    both = pd.DataFrame({"sentence": toy_texts(1 - other.targets, 8), "review": other.inputs, "label": labels})
    return trained_on, both


def test_eval_data_is_read_by_the_runs_own_text_column_where_the_file_has_it(tiny_registry, tmp_path, monkeypatch, capsys):
    """A run trained with --text-column review, scored on a table holding 'review' and 'sentence': evaluate and train
    --eval-data score it on 'review' (the scores of the file holding only 'review', not of the one holding only
    'sentence'), with no note."""
    import json

    from test_cli import TRAIN, cli

    import headstart
    from headstart.specs import TrainConfig

    trained_on, both = review_tables(tmp_path)
    scored, reviews, sentences = tmp_path / "both.csv", tmp_path / "only-reviews.csv", tmp_path / "only-sentences.csv"
    both.to_csv(scored, index=False)
    both[["review", "label"]].to_csv(reviews, index=False)
    both[["sentence", "label"]].to_csv(sentences, index=False)
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(trained_on), "--text-column", "review", "--backbone", "tiny", "--strategy",
                "tfidf-logreg", "--n", "64", "--out", str(out)], monkeypatch, capsys)[0] == 0  # fitted in closed form
    code, printed, err = cli(["evaluate", str(out), "--eval-data", str(scored), "--json"], monkeypatch, capsys)
    assert code == 0 and "run's own" not in err, err
    (found,) = json.loads(printed)["ood"]
    on_review, on_sentence = (headstart.evaluate(out, eval_data=str(path)) for path in (reviews, sentences))
    assert on_review["accuracy"] > 0.9 and on_sentence["accuracy"] < 0.5, "the two columns tell the scores apart"
    assert found["n"] == on_review["n"] and found["accuracy"] == pytest.approx(on_review["accuracy"])
    fitted = headstart.fit(str(trained_on), "tiny", strategy="tfidf-logreg", n=64, text_column="review",
                           config=TrainConfig(precision="fp32"), eval_data=[str(scored)])
    assert fitted.ood[0]["metrics"]["accuracy"] == pytest.approx(headstart.evaluate(fitted, eval_data=str(reviews))["accuracy"])


def test_eval_data_without_the_runs_own_columns_is_read_by_guessing_and_said_in_one_line(tiny_registry, tmp_path, monkeypatch,
                                                                                        capsys):
    from test_cli import TRAIN, cli

    trained_on, both = review_tables(tmp_path)
    lacking = tmp_path / "sentences.csv"
    both[["sentence", "label"]].rename(columns={"label": "sentiment"}).to_csv(lacking, index=False)
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(trained_on), "--text-column", "review", "--backbone", "tiny", "--strategy",
                "linear-probe", "--n", "16", "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)[0] == 0
    code, _, err = cli(["evaluate", str(out), "--eval-data", str(lacking)], monkeypatch, capsys)
    said = [line for line in err.splitlines() if "run's own" in line]
    assert code == 0 and said == ["note: sentences.csv: reading column 'sentence' as the text and 'sentiment' as the label "
                                  "(the run's own text column 'review' is not in it; the run's own label column 'label' is "
                                  "not in it)"], err


def test_an_alignment_terms_target_is_read_by_the_runs_own_text_column(tiny_registry, tmp_path, monkeypatch, caplog):
    """coral[data=T] aligns with T's 'review' inputs (the run's column) where T has it, not its 'sentence'; a T
    without it is read by guessing, said in a note."""
    import logging

    import headstart
    import headstart.recipe
    from headstart.specs import TrainConfig

    trained_on, both = review_tables(tmp_path)
    target, lacking = tmp_path / "target.csv", tmp_path / "sentences.csv"
    both.to_csv(target, index=False)
    both[["sentence", "label"]].to_csv(lacking, index=False)
    read, real = {}, headstart.recipe.load_dataset

    def load(name, **options):  # what the run reads last of each dataset: the term's target, after the checks
        read[name] = real(name, **options)
        return read[name]

    monkeypatch.setattr(headstart.recipe, "load_dataset", load)
    cfg = TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32")
    for data in (target, lacking):
        with caplog.at_level(logging.INFO, logger="headstart"):
            headstart.fit(str(trained_on), "tiny", strategy="full-finetune", n=16, text_column="review", config=cfg,
                          terms={"coral": {"data": str(data), "rows": 16}})
    assert read[str(target)].inputs == both["review"].tolist()
    said = [r.getMessage() for r in caplog.records if "run's own" in r.getMessage()]
    assert said == ["sentences.csv: reading column 'sentence' as the text and 'label' as the label (the run's own text "
                    "column 'review' is not in it)"]


def test_adapt_reads_the_target_by_the_sources_columns_for_the_methods_and_the_oracle_alike(tiny_registry, tmp_path):
    """A target holding the source's 'review' beside 'sentence' (the other label's words): the methods are scored on
    its 'review', and the oracle trains and is scored on the same table, so the gap has its ceiling."""
    import headstart.adapt as adapt_module
    from headstart.specs import TrainConfig

    source, both = review_tables(tmp_path)
    target = tmp_path / "target.csv"
    both.to_csv(target, index=False)
    result = adapt_module.adapt(str(source), str(target), backbone="tiny", strategy="tfidf-logreg", methods="source-only",
                                sizes="32", seeds=1, out=tmp_path / "a", tune=None, config=TrainConfig(precision="fp32"))
    (row,) = result.rows
    assert row["mean"] > 0.9, "scored on the target's reviews, not on its sentences"
    assert row["oracle"] is not None and row["oracle"]["mean"] > 0.9


def test_the_runs_own_data_or_another_task_is_refused_before_training(toy_csv, other_csv, tiny_registry, tmp_path):
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32")
    copy = copied(toy_csv, tmp_path, "copy.csv")
    with pytest.raises(ConfigError, match="is the run's own dataset"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, config=cfg, eval_data=[str(copy)])
    with pytest.raises(ConfigError, match=r"match none of the run's \(neg, pos\)"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, config=cfg, eval_data=[str(other_csv)])
    with pytest.raises(ConfigError, match="lists a dataset twice"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, config=cfg, eval_data=[str(other_csv), f"{other_csv}[neutral=-]"])


def test_a_compare_sets_each_arm_in_domain_beside_out_of_domain(toy_csv, other_csv, tiny_registry, tmp_path):
    """compare --eval-data: results.json, report.md, report.html and ood.png carry the out-of-domain rows, with the gap
    paired by seed; the score each row quotes is the runs' own."""
    import json

    import headstart
    from headstart.specs import TrainConfig
    from headstart.store import Store

    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    result = headstart.compare(str(toy_csv), backbone="tiny", strategies="linear-probe,full-finetune", sizes=[16, 32], seeds=2,
                               out=tmp_path / "cmp", config=cfg, tune=None, eval_data=[f"{other_csv}[neutral=-]"], tta=["tent"])
    assert {r["data"] for r in result.summary["ood"]} == {str(other_csv), f"{other_csv} after tent"}
    produced = (tmp_path / "cmp" / "report.md").read_text()  # the Python call, as the CLI records its command line
    assert (f"headstart.compare(data={str(toy_csv)!r}, backbone='tiny', strategies='linear-probe,full-finetune', sizes=[16, 32], "
            f"seeds=2, out={str(tmp_path / 'cmp')!r}, config=TrainConfig(min_steps=8, max_steps=8, batch_size=8, precision='fp32'), "
            f"tune=None, eval_data=['{other_csv}[neutral=-]'], tta=['tent'])") in produced, produced[-600:]
    rows = {(r["strategy"], r["n"]): r for r in result.summary["ood"] if r["data"] == str(other_csv)}
    assert set(rows) == {(s, n) for s in ("linear-probe", "full-finetune") for n in (16, 32)}
    with Store(tmp_path / "cmp", create=False) as store:
        runs = [r for r in store.results() if r.spec["strategy"] == "full-finetune" and r.spec["n_requested"] == 16]
    ood = [r.record["ood"][0]["metrics"]["accuracy"] for r in runs]
    inside = [r.metrics["accuracy"] for r in runs]
    row = rows[("full-finetune", 16)]
    assert row["mean"] == pytest.approx(sum(ood) / 2) and row["in_domain"] == pytest.approx(sum(inside) / 2)
    assert row["gap"]["mean"] == pytest.approx(row["in_domain"] - row["mean"]) and row["gap"]["pairs"] == 2
    assert row["gap"]["ci_low"] < row["gap"]["mean"] < row["gap"]["ci_high"]
    assert row["seeds"] == 2 and "labels read as the run's: neutral left out" in row["note"]
    target = runs[0].record["ood"][0]["rows"]["target"]
    share = max(target.count(c) for c in set(target)) / len(target)
    assert f"{100 * share:.1f}% of its {len(target)} test rows are its most frequent class" in row["majority_note"]
    md = result.reports["report.md"].read_text()
    majority = [line for line in md.splitlines() if "test rows are its most frequent class" in line]
    assert len(majority) == len({r["data"].split(" after ")[0] for r in rows.values()}), "each dataset's share said once"
    assert any(line.startswith("- ") and "neutral left out." in line for line in md.splitlines()), "a sentence of its own" 
    assert "## Out of domain" in md and "![in domain vs out of domain](ood.png)" in md
    assert result.reports["ood.png"].read_bytes().startswith(b"\x89PNG")
    assert '"ood": [{' in result.reports["report.html"].read_text()
    assert json.loads(result.reports["results.json"].read_text())["ood"]


def test_the_cli_says_in_one_line_how_to_map_labels_that_do_not_match(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                      monkeypatch, capsys):
    from test_cli import assert_user_error, cli

    base = ["--data", str(toy_csv), "--backbone", "tiny", "--out", str(tmp_path / "x")]
    assert_user_error(cli(["train", "--strategy", "linear-probe", "--n", "16", *base, "--eval-data", str(other_csv)],
                          monkeypatch, capsys), "match none of the run's (neg, pos)", "[neutral=")
    assert_user_error(cli(["compare", "--strategies", "linear-probe", "--sizes", "16", "--seeds", "1", *base,
                           "--eval-data", f"{other_csv}[neutral]"], monkeypatch, capsys), "expected LABEL=RUN_LABEL")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_a_compare_refuses_unmatched_labels_before_any_cell_trains(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                    monkeypatch, capsys):
    from test_cli import assert_user_error, cli

    assert_user_error(cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
                           "--sizes", "16", "--seeds", "2", "--no-tune", "--out", str(tmp_path / "cmp"),
                           "--eval-data", str(other_csv)], monkeypatch, capsys), "match none of the run's (neg, pos)")
    from headstart.store import Store

    if (tmp_path / "cmp" / "runs.sqlite").exists():
        with Store(tmp_path / "cmp", create=False) as store:
            assert [r.status for r in store.results()] == [], "no cell was trained, failed or left running"


def test_a_mapping_that_leaves_nothing_a_partial_one_and_a_bare_toml_string(tmp_path):
    """Every label dropped is refused before training; a partial mapping adds to the built-in pair's; a TOML string
    where a list belongs is refused (it was read letter by letter)."""
    from headstart.sweep_config import read_config

    with pytest.raises(ConfigError, match="every label is mapped to -"):
        label_map("x.csv", ("a", "b"), ("neg", "pos"), {"a": None, "b": None})
    mapping, note = label_map("drug-reviews-sentiment", ("negative", "neutral", "positive"), ("rotten", "fresh"),
                              {"neutral": "rotten"})
    assert mapping == {"negative": "rotten", "positive": "fresh", "neutral": "rotten"}
    assert note.endswith("neutral as rotten, positive as fresh (negative, positive as the built-in pair maps them)"), \
        "the labels not given are the pair's: said, as a CSV's partial mapping is refused"
    path = tmp_path / "c.toml"
    path.write_text('data = "rotten-tomatoes"\neval_data = "drug-reviews-sentiment"\n')
    with pytest.raises(ConfigError, match=r'eval_data in .* must be a list, e.g. eval_data = \["drug-reviews-sentiment"\]'):
        read_config(path)


def test_adapt_trains_each_method_on_the_source_and_the_oracle_on_the_target(tiny_registry, tmp_path):
    """headstart adapt on tiny data: source-only, coral, importance, tent and lp-ft scored on the target's test split, each method's
    gain over source-only paired by seed, the oracle as the ceiling and the gap it closes; a mapped target cannot have
    an oracle, and a method it does not know is named."""
    import json

    import headstart.adapt as adapt_module
    from conftest import make_toy
    from headstart.specs import TrainConfig

    def write(data, name):
        path = tmp_path / name
        pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
        return str(path)

    source, target = write(make_toy(200, seed=0), "source.csv"), write(make_toy(200, seed=11), "target.csv")
    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    result = adapt_module.adapt(source, target, backbone="tiny", methods="source-only,coral,importance,tent,lp-ft", sizes="32",
                                seeds=2, out=tmp_path / "a", tune=None, config=cfg)
    rows = {r["method"]: r for r in result.rows}
    assert set(rows) == {"source-only", "coral", "importance", "tent", "lp-ft"}
    assert 0.0 <= rows["importance"]["estimates"]["importance"]["domain_accuracy"] <= 1.0
    assert rows["source-only"]["over_baseline"] is None and rows["coral"]["over_baseline"]["pairs"] == 2
    assert rows["coral"]["over_baseline"]["mean"] == pytest.approx(rows["coral"]["mean"] - rows["source-only"]["mean"])
    oracle = rows["source-only"]["oracle"]
    assert oracle is not None and oracle["seeds"] == 2
    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.store import Store

    with Store(tmp_path / "a", create=False) as store:
        runs = [r for r in store.results() if r.status == "done"]
    ceiling = [r for r in runs if r.spec["data"]["name"] != runs[0].spec["data"]["name"] or not r.record.get("ood")]
    scored = [o for r in runs for o in r.record.get("ood") or () if o["tta"] is None]
    assert ceiling and scored
    target_data = load_dataset(target)
    oracle_split = split_dataset(target_data, SplitConfig(**ceiling[0].spec["data"]["split"]))
    methods_split = split_dataset(target_data, SplitConfig(**scored_split), by_label=False) if (
        scored_split := next(r for r in runs if r.record.get("ood")).spec["data"]["split"]) else None
    # the ceiling is scored on the methods' target test rows, and never trains on one of them
    assert list(oracle_split.test) == list(methods_split.test) and scored[0]["test_rows"] == len(oracle_split.test)
    assert not set(oracle_split.pool) & set(methods_split.test)
    if oracle["ci_low"] > rows["source-only"]["mean"]:
        assert rows["coral"]["gap_closed"] == pytest.approx((rows["coral"]["mean"] - rows["source-only"]["mean"])
                                                            / (oracle["mean"] - rows["source-only"]["mean"]))
    else:  # an oracle not clearly above the baseline leaves no gap to speak of
        assert rows["coral"]["gap_closed"] is None
    report = result.reports["report.md"].read_text()
    assert "headstart.adapt(source=" in report, "its report records the call"
    assert "*This store was written by headstart adapt: adaptation.md compares the methods on the target" in report
    assert "This store was written by headstart adapt" in result.reports["report.html"].read_text()
    written = result.reports["adaptation.md"].read_text()
    assert ("| coral | 32 |" in written or "| coral ⚠ | 32 |" in written) and "- n = 32: held-out accuracy" in written
    assert "| majority class | 32 |" in written and "The oracle (full-finetune trained on" in written
    assert json.loads(result.reports["adaptation.json"].read_text())["rows"]
    assert result.reports["adaptation.png"].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="this mapping changes; drop (--)?oracle"):
        adapt_module.adapt(source, f"{target}[neutral=-]", backbone="tiny", sizes="32", seeds=1, out=tmp_path / "b", oracle=True)
    with pytest.raises(ConfigError, match="unknown adaptation method 'dan'"):
        adapt_module.adapt(source, target, backbone="tiny", methods="source-only,dan", out=tmp_path / "c")


def test_adaptation_md_carries_each_scores_note_once():
    from headstart.report.adaptation import adaptation_markdown

    row = {"method": "bn-adapt", "n": 256, "mean": 0.9, "ci_low": 0.88, "ci_high": 0.92, "seeds": 3, "over_baseline": None,
           "gap_closed": None, "oracle": None, "estimates": {}, "notes": ["bn-adapt: this run kept the backbone's BatchNorm"]}
    written = adaptation_markdown([row, {**row, "method": "source-only", "notes": []}], source="a", target="b", strategy="ft")
    assert written.count("- bn-adapt (n = 256): bn-adapt: this run kept the backbone's BatchNorm") == 1, written
    assert "Notes on the scores" not in adaptation_markdown([{**row, "notes": []}], source="a", target="b", strategy="ft")
    mapped = {**row, "notes": ["labels read as the run's"]}  # a note on every score is said once for all
    written = adaptation_markdown([mapped, {**mapped, "method": "tent"}], source="a", target="b", strategy="ft")
    assert written.count("labels read as the run's") == 1 and "- every method: labels read as the run's" in written, written


def test_the_adapt_command_names_a_bad_method_in_one_line(toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    from test_cli import assert_user_error, cli

    assert_user_error(cli(["adapt", "--source", str(toy_csv), "--target", str(other_csv), "--backbone", "tiny",
                           "--methods", "coral,tent", "--out", str(tmp_path / "a")], monkeypatch, capsys),
                      "--methods must include source-only")
    code, printed, _ = cli(["adapt", "--source", str(toy_csv), "--target", f"{other_csv}[neutral=-]", "--backbone", "tiny",
                      "--methods", "source-only,coral", "--sizes", "16", "--seeds", "1", "--no-tune", "--max-steps", "4",
                      "--min-steps", "4", "--out", str(tmp_path / "b"), "-q"], monkeypatch, capsys)
    from headstart.store import Store

    with Store(tmp_path / "b", create=False) as store:
        steps = {r.steps for r in store.results()}
    assert code in (0, None) and steps == {4}, "the budget flags' advice (--min-steps, --max-steps) is adapt's to take"
    # a mapped target without --oracle / --no-oracle: no oracle (it would be another task), and the report says why
    said = "no oracle: the methods' scores read"
    assert said in printed and said in (tmp_path / "b" / "adaptation.md").read_text(), printed
    assert "headstart adapt --source" in (tmp_path / "b" / "report.md").read_text()


def test_the_targets_labels_are_never_read_by_training_or_selection(toy_csv, other_csv, tiny_registry, tmp_path):
    """The same target inputs under shuffled labels: an aligned, tuned run trains to the same weights, picks the same
    rate on validation, and (scored out of domain) differs only in its target score."""
    import headstart
    from headstart.specs import TrainConfig

    frame = pd.read_csv(other_csv)
    shuffled = tmp_path / "shuffled.csv"
    frame.assign(label=frame["label"].sample(frac=1.0, random_state=3).to_numpy()).to_csv(shuffled, index=False)
    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")

    def run(target):
        return headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=cfg, tune="lr",
                             terms={"dann": {"data": str(target), "rows": 32}, "coral": {"data": str(target), "rows": 32},
                                    "importance": {"data": str(target), "rows": 32}})

    a, b = run(other_csv), run(shuffled)
    assert a.chosen == b.chosen and a.estimates == b.estimates and a.val_metrics == b.val_metrics
    weights_a, weights_b = a._loaded.model.state_dict(), b._loaded.model.state_dict()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a), "the target's labels moved no weight"


def test_a_score_that_answered_one_class_for_every_row_is_named_in_train_and_evaluate():
    """train/evaluate print a WARNING on an out-of-domain line whose predictions were one class (as adapt flags it)."""
    from headstart.ood import one_class, one_class_text

    assert one_class([1, 1, 1], ("neg", "pos")) == "pos" and one_class([0, 1, 1], ("neg", "pos")) is None
    assert one_class([1]) is None, "one row says nothing"
    line = one_class_text({"one_class": "pos", "tta": "tent"})
    assert line.startswith("; WARNING: it answered 'pos' for every row, so this score is that class's share")
    assert "compare tent-episodic" in line and one_class_text({"one_class": None}) == ""


def test_evaluate_scores_every_row_of_a_file_kept_apart_as_a_test_set(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                       monkeypatch, capsys):
    """--eval-data scores a seeded fifth of a file (the rest its pool, for --tta); --eval-rows all scores every row of
    it — a labelled file the user kept apart — each against its own label. A file too small to split says so and names
    --eval-rows all; the --tta methods that adapt on the pool are refused with it (nothing would be left to adapt on)."""
    import pandas as pd

    from test_cli import cli

    import headstart
    from headstart.data import load_dataset
    from headstart.errors import DataError
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "ft", config=cfg)
    other = load_dataset(str(other_csv))
    text = f"{other_csv}[neutral=-]"
    kept = [i for i in range(len(other.targets)) if other.label_names[other.targets[i]] != "neutral"]
    every = headstart.evaluate(tmp_path / "ft", eval_data=text, eval_rows="all")
    said = [p["label"] for p in run.predict([other.inputs[i] for i in kept])]
    assert every["n"] == len(kept) and every["split"] == f"every row of {other_csv}"
    assert every["accuracy"] == pytest.approx(np.mean([s == other.label_names[other.targets[i]] for s, i in zip(said, kept)]))
    assert headstart.evaluate(tmp_path / "ft", eval_data=text)["n"] < len(kept) / 3  # the default: its test fifth
    tiny = tmp_path / "two.csv"
    pd.DataFrame({"text": other.inputs[:2], "label": ["neg", "pos"]}).to_csv(tiny, index=False)
    with pytest.raises(DataError, match="pass eval_rows='all'"):
        headstart.evaluate(tmp_path / "ft", eval_data=str(tiny))
    # the user asked for test rows: the message said "the val split of 'two.csv' is empty", a part never scored
    code, _, err = cli(["evaluate", "-q", str(tmp_path / "ft"), "--eval-data", str(tiny)], monkeypatch, capsys)
    assert code == 2 and err.strip() == (
        "error: 'two.csv' has too few rows (2) to cut the test fifth that --eval-data scores: every dataset is cut "
        "into that test fifth, a validation part and a pool, and 2 rows leave no validation row; it needs 7 rows or more; "
        "to score every row of 'two.csv', pass --eval-rows all"), err
    assert headstart.evaluate(tmp_path / "ft", eval_data=str(tiny), eval_rows="all")["n"] == 2
    with pytest.raises(ConfigError, match="tta tent adapts on the dataset's pool"):
        headstart.evaluate(tmp_path / "ft", eval_data=text, eval_rows="all", tta="tent")
    with pytest.raises(ConfigError, match="eval_rows must be test or all, got 'every'"):
        headstart.evaluate(tmp_path / "ft", eval_data=text, eval_rows="every")
    with pytest.raises(ConfigError, match="^eval_rows must be test or all, got 'foo'"):  # without eval_data too (it
        headstart.evaluate(tmp_path / "ft", eval_rows="foo")  # said "eval_rows foo says which rows ... add eval_data")
    code, out, _ = cli(["evaluate", str(tmp_path / "ft"), "--eval-data", str(tiny), "--eval-rows", "all"], monkeypatch, capsys)
    assert code == 0 and "every row of" in out and "(2 examples)" in out



def test_evaluate_warns_of_eval_data_rows_the_run_trained_or_chose_on(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """``evaluate RUN --eval-data FILE --eval-rows all`` scored a file of which 14 rows were the run's training rows and
    10 its validation rows without a word, where an in-domain evaluate warns of duplicates; it warns now, with the
    counts, and a file of unseen rows carries no warning."""
    from test_cli import cli

    import headstart
    from conftest import run_with_repeated_rows

    _, held, unseen, labels = run_with_repeated_rows(toy_csv, tmp_path)
    scored = headstart.evaluate(tmp_path / "ft", eval_data=str(held), eval_rows="all")
    leaked = scored["leakage"]
    assert leaked["training"] + leaked["validation"] == 24 and leaked["training"] >= 14 and leaked["scored"] == 100
    assert leaked["text"].startswith(f"24 of the 100 rows scored from {held} (24.00%) duplicate the run's own training "
                                     "or validation rows (") and "so this score is optimistic" in leaked["text"]
    code, _, err = cli(["evaluate", str(tmp_path / "ft"), "--eval-data", str(held), "--eval-rows", "all"], monkeypatch, capsys)
    assert code == 0 and f"warning: 24 of the 100 rows scored from {held}" in err, err
    clean = tmp_path / "clean.csv"
    pd.DataFrame({"text": unseen, "label": labels[24:]}).to_csv(clean, index=False)
    assert "leakage" not in headstart.evaluate(tmp_path / "ft", eval_data=str(clean), eval_rows="all")


def test_an_eval_data_files_own_columns_are_named_in_its_brackets():
    from headstart.ood_labels import eval_columns

    text = "o.csv[text=txt, label=lab, neg=rotten]"
    assert parse_eval_data(text) == ("o.csv", {"neg": "rotten"})
    assert eval_columns(text) == {"text_column": "txt", "label_column": "lab"}
    assert parse_eval_data('o.csv["text"=fresh]') == ("o.csv", {"text": "fresh"})  # quoted: a label so named
    assert eval_columns("o.csv[neg=rotten]") == {}
    with pytest.raises(ConfigError, match=r"text= names a column of the file"):
        parse_eval_data("o.csv[text=-]")


def test_eval_data_with_other_columns_is_scored_by_the_columns_its_brackets_name(toy_csv, tiny_registry, tmp_path,
                                                                                monkeypatch, capsys):
    """A file of columns txt,lab: without brackets the error names them; with them train, evaluate and fit score it."""
    import json

    from test_cli import TRAIN, cli

    import headstart
    from headstart.errors import DataError
    from headstart.specs import TrainConfig

    from conftest import make_toy

    toy = make_toy(300, seed=7)
    usual, other = tmp_path / "usual.csv", tmp_path / "other2.csv"
    table = pd.DataFrame({"text": toy.inputs, "label": [toy.label_names[y] for y in toy.targets]})
    table.to_csv(usual, index=False)
    table.rename(columns={"text": "txt", "label": "lab"}).assign(extra="x").to_csv(other, index=False)
    out = tmp_path / "run"
    code, _, err = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "tfidf-logreg", "--n", "64",
                        "--eval-data", str(other), "--out", str(out)], monkeypatch, capsys)
    assert code == 2 and "cannot tell which column" in err and f"--eval-data '{other}[text=COLUMN, label=COLUMN]'" in err, err
    named = f"{other}[text=txt, label=lab]"
    code, _, err = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "tfidf-logreg", "--n", "64",
                        "--eval-data", named, "--out", str(out)], monkeypatch, capsys)
    assert code == 0, err
    code, printed, err = cli(["evaluate", str(out), "--eval-data", named, "--json"], monkeypatch, capsys)
    assert code == 0, err
    (found,) = json.loads(printed)["ood"]
    same = headstart.evaluate(out, eval_data=str(usual))  # the same rows under the usual names
    assert found["n"] == same["n"] and found["accuracy"] == pytest.approx(same["accuracy"])
    fitted = headstart.fit(str(toy_csv), "tiny", strategy="tfidf-logreg", n=64, config=TrainConfig(precision="fp32"),
                           eval_data=named)
    assert fitted.ood[0]["metrics"]["accuracy"] == pytest.approx(same["accuracy"])
    with pytest.raises(DataError, match=r"holds the label .*; name the file.s columns in brackets, e.g. "):
        headstart.evaluate(out, eval_data=f"{other}[text=txt]")  # label still cannot be told: 'lab' and 'extra'
    with pytest.raises(ConfigError, match=r"names a file's columns, but 'rotten-tomatoes' is a built-in dataset"):
        headstart.evaluate(out, eval_data="rotten-tomatoes[text=txt]")


def test_a_text_column_beside_eval_data_on_built_in_training_data_points_at_the_eval_files_brackets(tmp_path, monkeypatch,
                                                                                                   capsys):
    """--text-column txt meant for the --eval-data file said only that it applies to files, not to rotten-tomatoes:
    it now names the brackets to write, in train, compare and fit."""
    from test_cli import TRAIN, cli

    import headstart

    other = tmp_path / "other2.csv"
    pd.DataFrame({"txt": ["good", "bad"] * 5, "lab": ["fresh", "rotten"] * 5}).to_csv(other, index=False)
    fix = f"an --eval-data file's own columns go in its brackets: --eval-data '{other}[text=txt]'"
    for command in ("train", "compare"):
        code, _, err = cli([command, "--data", "rotten-tomatoes", "--text-column", "txt", "--eval-data", str(other),
                            "--out", str(tmp_path / command)], monkeypatch, capsys)
        assert code == 2 and err.strip().splitlines()[-1].endswith(fix), err
    with pytest.raises(ConfigError, match=r"^text_column='txt' and label_column='lab' name the columns of the training "
                                          r"data.*; an eval_data file's own columns go in its brackets: "
                                          r"eval_data='.*other2.csv\[text=txt, label=lab\]'$"):
        headstart.fit("rotten-tomatoes", text_column="txt", label_column="lab", eval_data=str(other))


def test_eval_data_of_star_ratings_is_said_as_read_naming_no_task_evaluate_does_not_take(tiny_registry, tmp_path,
                                                                                          monkeypatch, capsys):
    """evaluate --eval-data noted "pass --task regression" under a column of -1/0/1: evaluate has no --task (the run's
    task is fixed). The labels are read as the run's task says, classes here, so no note offers another reading, and
    the refusal of classes that do not map names the mapping to write, not a flag evaluate lacks."""
    from test_cli import TRAIN, cli

    trained_on, both = review_tables(tmp_path)
    stars = tmp_path / "stars.csv"
    pd.DataFrame({"review": both["review"], "rating": [i % 3 - 1 for i in range(len(both))]}).to_csv(stars, index=False)
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(trained_on), "--text-column", "review", "--backbone", "tiny", "--strategy",
                "tfidf-logreg", "--n", "64", "--out", str(out)], monkeypatch, capsys)[0] == 0
    code, _, err = cli(["evaluate", str(out), "--eval-data", str(stars)], monkeypatch, capsys)
    assert "not as a scale" not in err and "its label(s) ['-1', '0', '1'] match none of the run's (neg, pos)" in err, err
    assert "--task" not in err, err


def test_a_regression_runs_eval_file_of_whole_number_ratings_is_read_as_numbers_as_the_run_reads_them(
        tiny_registry, tmp_path, monkeypatch, capsys):
    """A regression run (--task regression on whole-number ratings) scored on a file of whole-number ratings under
    another column than the run's was refused: the file's labels were read as classes (a classification dataset, "so it
    cannot be scored there"), with no flag to change it. A file is read as the run's task says, in evaluate,
    headstart.evaluate and train --eval-data; a file whose labels are not numbers is refused in one line naming the column."""
    from types import SimpleNamespace

    from conftest import assert_user_error, make_toy
    from test_cli import TRAIN, cli

    import headstart
    from headstart.ood import check_elsewhere

    def ratings(path, seed, column):
        toy = make_toy(120, seed=seed)
        pd.DataFrame({"text": toy.inputs, column: [1 + 4 * int(y) - (i % 2) for i, y in enumerate(toy.targets)]}).to_csv(
            path, index=False)
        return path

    # the file's label column is not the run's: the run's own task was read only into a file holding that column
    trained_on, other = ratings(tmp_path / "own.csv", 1, "rating"), ratings(tmp_path / "other.csv", 2, "stars")
    run = SimpleNamespace(hash="run", task="regression", label_names=(), modality="text", source={})
    data, _, _ = check_elsewhere(str(other), run)
    assert data.task == "regression" and sorted(set(data.targets.tolist())) == [0.0, 1.0, 4.0, 5.0]
    out = tmp_path / "run"
    code, _, err = cli([*TRAIN, "--data", str(trained_on), "--task", "regression", "--backbone", "tiny", "--strategy",
                        "linear-probe", "--n", "32", "--max-steps", "2", "--eval-data", str(other), "--out", str(out)],
                       monkeypatch, capsys)
    assert code == 0, err
    code, printed, err = cli(["evaluate", str(out), "--eval-data", str(other), "--eval-rows", "all", "--json"],
                             monkeypatch, capsys)
    assert code in (0, None), err
    assert "rmse" in printed and "not as a scale" not in err, (printed, err)
    scored = headstart.evaluate(str(out), eval_data=str(other), eval_rows="all")
    assert scored["n"] == 120 and "rmse" in scored and "accuracy" not in scored
    words = tmp_path / "words.csv"
    pd.DataFrame({"text": ["good film", "bad film"] * 20, "rating": ["good", "bad"] * 20}).to_csv(words, index=False)
    assert_user_error(cli(["evaluate", str(out), "--eval-data", str(words)], monkeypatch, capsys),
                      "label column 'rating' of", "is not numeric, so it cannot be a regression target; a regression "
                      "run is scored on numbers")
