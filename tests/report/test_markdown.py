"""Tests of headstart/report/markdown.py: what report.md writes (the rest is covered through render in test_render)."""

from __future__ import annotations

from headstart.report.markdown import _ood_lines


def ood_row(strategy: str, gap: float, low: float, high: float) -> dict:
    return {"strategy": strategy, "n": 16, "data": "shift", "in_domain": 0.8, "mean": 0.8 - gap, "ci_low": 0.7,
            "ci_high": 0.9, "gap": {"mean": gap, "ci_low": low, "ci_high": high}, "test_rows": 50, "seeds": 3}


def test_the_out_of_domain_gaps_are_points_with_one_decimal_and_a_sign_like_every_other_score():
    """The gap was written with 3 significant digits (+10, -0.948, -1.65, +13.5) beside scores with one decimal."""
    rows = [ood_row("a", 0.1, 0.0812, 0.1188), ood_row("b", -0.00948, -0.0213, 0.00234), ood_row("c", 0.135, 0.12, 0.15)]
    table = [line for line in _ood_lines({"ood": rows, "scale": 100.0}) if line.startswith("| a") or line.startswith("| b")
             or line.startswith("| c")]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in table]
    assert [c[6:8] for c in cells] == [["+10.0", "+8.1 to +11.9"], ["-0.9", "-2.1 to +0.2"], ["+13.5", "+12.0 to +15.0"]]
    assert [c[3:5] for c in cells] == [["80.0", "70.0"], ["80.0", "80.9"], ["80.0", "66.5"]]
    (line,) = [x for x in _ood_lines({"ood": [ood_row("r", 0.0123, -0.004, 0.0287)], "scale": 1.0}) if x.startswith("| r")]
    assert "| +0.0123 | -0.004 to +0.0287 |" in line  # a metric in its own units (rmse): three significant digits, signed


def test_the_intervals_note_says_which_accuracies_the_wilson_floor_holds_for() -> None:
    """It said every accuracy's interval was at least Wilson's, but the floor holds only where the seeds do not vary
    (one run, or seeds that all scored the same): a mean of seeds that differ keeps its bootstrap interval."""
    from headstart.report.footnote import interval_text

    summary = {"curves": [{"strategy": "a", "n": 16, "interval": "seeds and test rows"}], "confidence": 0.95,
               "metric": "accuracy"}
    text = interval_text(summary)
    assert "An accuracy's interval is never narrower" not in text
    assert ("An accuracy from one run (one seed, or seeds that all scored the same) has an interval never narrower than "
            "the Wilson interval of its score on the test rows") in text
    assert "a mean of seeds that differ takes its rows' error from the bootstrap and may be narrower" in text


def test_another_experiments_table_shows_no_interval_where_the_main_table_shows_none() -> None:
    """The store's other experiments have their own table, which wrote every row's "low – high": three seeds that all
    scored 72% read "72.0 – 72.0" there and "1 seed, no interval: …" in the main table."""
    from headstart.analysis import summarize
    from headstart.report.markdown import report_markdown
    from headstart.results import RunResult

    def run(strategy: str, seed: int, value: float, data: str) -> RunResult:
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                "data": {"name": data, "hash": data}, "options": {}, "train": {}}
        return RunResult(key=f"{data}/{strategy}/{seed}", spec=spec, status="done", metrics={"accuracy": value, "n": 300},
                         val_metrics={"accuracy": value}, train_seconds=1.0)

    older = [run("lora", seed, 0.72, "sst2") for seed in range(3)]
    newer = [run("lora", seed, 0.60 + seed / 100, "imdb") for seed in range(3)]  # the newest: the main table
    text = report_markdown(summarize(older + newer), title="t", command=None)
    assert "## Other experiments in this store" in text and "72.0 – 72.0" not in text
    assert "| lora | 16 | 72.0 | no interval: every seed gave the same value and no test predictions are stored to resample | 3 |" in text


def test_long_runs_and_large_files_read_as_numbers_not_exponents():
    """``.3g`` wrote a 1,234-second cell as "1.23e+03" and a 1.3 GB run as "1.3e+03 MB" in report.md (and, since the
    page writes report.md's cells, in report.html)."""
    from headstart.report.markdown import per_step_text, seconds_text
    from headstart.report.mdtext import bytes_text

    assert [seconds_text(s) for s in (0.318, 12.5, 999.4, 999.6, 1234.5, 123_456.0)] == [
        "0.318", "12.5", "999", "1,000", "1,234", "123,456"]
    assert per_step_text(None) == "–" and per_step_text(0.25) == "0.250"
    assert [bytes_text(n) for n in (500, 90_900_000, 1_300_000_000, 1_300_000_000_000)] == [
        "500 B", "90.9 MB", "1.30 GB", "1,300 GB"]


def test_seconds_keep_their_trailing_zeros_so_a_column_lines_up():
    """``.3g`` dropped trailing zeros: s / step read "6" beside "5.87" in report.md (and report.html, which shows
    report.md's strings). Every seconds cell now has three significant digits, zeros included."""
    from headstart.report.markdown import per_step_text, seconds_text

    assert [per_step_text(s) for s in (6.0, 5.87, 0.5, 0.0523, 12.0, 100.0, 120.4)] == [
        "6.00", "5.87", "0.500", "0.0523", "12.0", "100", "120"]
    assert [seconds_text(s) for s in (6.0, 5.87, 0.0)] == ["6.00", "5.87", "0.00"]


def test_only_what_validation_chose_is_under_chosen_on_validation() -> None:
    """icl[k=4] showed "k 4; prompt_tokens 193" and zero-shot-prompt "prompt_tokens 42" under "chosen on validation":
    k was given and a prompt's length is measured. They are the budget's now, said as what they are; report.md and
    report.html show the same strings. icl[k=8] at n = 4 said its 4 demonstrations were cut by the prompt token limit:
    only 4 labelled rows existed, and the note now says so."""
    from headstart.analysis import summarize
    from headstart.report.html import _payload
    from headstart.report.markdown import report_markdown
    from headstart.results import RunResult

    def run(strategy: str, n: int, options: dict, chosen: dict, seed: int = 0) -> RunResult:
        spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": "smollm2-135m",
                "data": {"name": "rt", "hash": "rt"}, "options": options, "train": {}}
        record = {"budget": {"planned_steps": 0, "steps": 0}, "history": [{"step": 0, "phase": strategy, "val_score": 0.6,
                                                                            "solved": True}]}
        return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": 0.6, "n": 40},
                         val_metrics={"accuracy": 0.6}, chosen=chosen, record=record, train_seconds=1.0)

    runs = [run("zero-shot-prompt", 0, {}, {"prompt_tokens": 42, "chat": False}),
            run("icl", 8, {"k": 4, "calibrate": True}, {"prompt_tokens": 193, "chat": False, "demonstrations": 4}),
            run("icl", 16, {"k": 4, "calibrate": True}, {"prompt_tokens": 300, "chat": False, "demonstrations": 3}),
            run("icl", 3, {"k": 4, "calibrate": True}, {"prompt_tokens": 175, "chat": False, "demonstrations": 3}),
            run("icl", 2, {"k": 4, "calibrate": True}, {"prompt_tokens": 900, "chat": False, "demonstrations": 1}),
            run("embed-knn", 8, {}, {"k": 5})]
    summary = summarize(runs)
    text = report_markdown(summary, title="t", command=None)
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[1:-1]]
            for line in text.splitlines() if line.startswith("| ") and "|---" not in line}
    assert rows[("zero-shot-prompt", "0")][5:7] == ["–", "closed form (no optimiser steps), 42-token prompt"]
    assert rows[("icl", "8")][5:7] == ["–", "closed form (no optimiser steps), 193-token prompt, 4 demonstrations"]
    assert rows[("icl", "16")][6].endswith("300-token prompt, 3 demonstrations (of k=4: more would not fit the prompt token limit)")
    assert rows[("icl", "3")][6].endswith("3 demonstrations (of k=4: n = 3 labelled rows)"), "n, not the limit, held them"
    assert rows[("icl", "2")][6].endswith(
        "1 demonstration (of k=4, n = 2 labelled rows: more would not fit the prompt token limit)")
    assert rows[("embed-knn", "8")][5] == "k 5", "a k validation chose stays chosen"
    page = {(r["strategy"], str(r["n"])): r for r in _payload(summary, "t", None)["curves"]}
    assert page[("icl", "8")]["chosen"] == "" and page[("icl", "8")]["budget"] == rows[("icl", "8")][6]


def test_experiments_alike_but_for_their_split_say_what_tells_them_apart() -> None:
    """Two compares into one store with --max-test 300 then 400 read "rotten-tomatoes · all-minilm-l6-v2" and
    "rotten-tomatoes · all-minilm-l6-v2 (2)", under a lead-in saying the store held "runs on other data or another
    backbone": the same data and backbone, another test cap. Each title now names its cap, the lead-in what differs."""
    from headstart.analysis import summarize
    from headstart.report.html import _payload
    from headstart.report.markdown import report_markdown
    from headstart.results import RunResult

    def run(strategy: str, max_test: int, *, backbone: str = "all-minilm-l6-v2") -> RunResult:
        split = {"dedupe": False, "max_test": max_test, "max_val": 300, "seed": 0, "test_fraction": 0.2, "val_fraction": 0.1}
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": 0, "backbone": backbone, "options": {}, "train": {},
                "data": {"name": "rotten-tomatoes", "hash": "208a6147", "split": split, "task": "classification"}}
        return RunResult(key=f"{strategy}/{max_test}/{backbone}", spec=spec, status="done",
                         metrics={"accuracy": 0.6, "n": max_test}, val_metrics={"accuracy": 0.6}, train_seconds=1.0)

    runs = [run(s, 300) for s in ("linear-probe", "tfidf-logreg")] + [run(s, 400) for s in ("linear-probe", "tfidf-logreg")]
    summary = summarize(runs)
    text = report_markdown(summary, title=summary["experiment"], command=None)
    assert text.startswith("# rotten-tomatoes · all-minilm-l6-v2 · test capped at 400 rows\n")
    assert "### rotten-tomatoes · all-minilm-l6-v2 · test capped at 300 rows (2 runs)" in text and "(2)" not in text
    lead = ("The figures above are rotten-tomatoes · all-minilm-l6-v2 · test capped at 400 rows, the newest experiment. "
            "The store also holds runs that differ from them in the test split's row cap; each is summarised apart")
    assert lead in text and "other data or another backbone" not in text
    assert _payload(summary, "t", None)["others_lead"].startswith(lead), "report.html says the same"

    other = summarize(runs[:2] + [run("linear-probe", 300, backbone="bge-small")])
    assert other["experiment"] == "rotten-tomatoes · bge-small" and other["others_differ"] == "the backbone"


def test_a_one_value_grid_is_a_setting_not_a_choice() -> None:
    """embed-logreg[grid=1] showed "C 1" under "chosen on validation", and embed-knn[grid=3,5] at n = 2 (both k capped
    to 2) "k 2": one candidate, nothing chosen. The budget column says them as settings; a real choice stays."""
    from headstart.analysis import summarize
    from headstart.report.html import _payload
    from headstart.report.markdown import report_markdown
    from headstart.results import RunResult

    def run(strategy: str, n: int, options: dict, chosen: dict) -> RunResult:
        spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": 0, "backbone": "all-minilm-l6-v2",
                "data": {"name": "rt", "hash": "rt"}, "options": options, "train": {}}
        record = {"budget": {"planned_steps": 0, "steps": 0}, "history": [{"step": 0, "phase": "solve", "val_score": 0.6,
                                                                            "solved": True}]}
        return RunResult(key=f"{strategy}/{n}/{options}", spec=spec, status="done", metrics={"accuracy": 0.6, "n": 40},
                         val_metrics={"accuracy": 0.6}, chosen=chosen, record=record, train_seconds=1.0)

    runs = [run("embed-logreg", 8, {"grid": [1.0], "max_iter": 1000}, {"C": 1.0}),
            run("embed-knn", 2, {"grid": [3, 5]}, {"k": 2}),
            run("embed-knn", 8, {"grid": [3, 5]}, {"k": 5})]
    summary = summarize(runs)
    text = report_markdown(summary, title="t", command=None)
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[1:-1]]
            for line in text.splitlines() if line.startswith("| ") and "|---" not in line}
    setting = " (a grid of one value: set, not chosen on validation)"
    assert rows[("embed-logreg", "8")][5:7] == ["–", "closed form (no optimiser steps), C 1" + setting]
    assert rows[("embed-knn", "2")][5:7] == ["–", "closed form (no optimiser steps), k 2" + setting]
    assert rows[("embed-knn", "8")][5:7] == ["k 5", "closed form (no optimiser steps)"], "a k validation chose stays chosen"
    page = {(r["strategy"], str(r["n"])): r for r in _payload(summary, "t", None)["curves"]}
    assert page[("embed-logreg", "8")]["chosen"] == "" and page[("embed-logreg", "8")]["budget"] == rows[("embed-logreg", "8")][6]


def test_icl_runs_of_several_sizes_held_below_k_by_their_rows_do_not_blame_the_token_limit() -> None:
    """Runs of two sizes (n = 2 and 3, k = 4) grouped in one budget text: each showed all its rows, and the text said
    "more would not fit the prompt token limit", which nothing had cut."""
    from headstart.analysis.budgets import prompt_facts
    from headstart.results import RunResult

    runs = [RunResult(key=f"icl/{n}", spec={"strategy": "icl", "n": n, "options": {"k": 4}}, status="done", metrics={},
                      chosen={"prompt_tokens": 100, "demonstrations": n}) for n in (2, 3)]
    facts = prompt_facts(runs)
    assert facts[-1] == "2–3 demonstrations (of k=4: fewer labelled rows than k)", facts


def test_the_choice_text_says_a_tuned_arms_learning_rate_was_chosen_on_all_validation_rows() -> None:
    """Under --tune lr the rate is chosen on every validation row: the report said the choices read validation "held out
    from each run's own choice", as if that choice were held out too."""
    from headstart.analysis import summarize
    from headstart.report.footnote import choice_text
    from headstart.results import RunResult

    def run(strategy: str, seed: int, val: float, tuned: bool) -> RunResult:
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
        budget = {"epochs": 3, "min_steps": 10, "planned_steps": 10, "steps": 10, "tuned": tuned}
        return RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", metrics={"accuracy": val, "n": 300},
                         val_metrics={"accuracy": val}, train_seconds=1.0, steps=10,
                         record={"budget": budget, "held_out": {"accuracy": val}})

    def text(tuned: bool) -> str:
        return choice_text(summarize([run(s, seed, v + seed / 100, tuned and s == "full-finetune")
                                      for seed in range(3) for s, v in (("full-finetune", 0.8), ("linear-probe", 0.7))]))

    assert text(True).startswith("Choices (recommendation, head start, crossover) are made on validation scores held out "
                                 "from each run's own checkpoint choice: "), text(True)
    assert text(True).endswith(" (not held out from the learning rate that tuning chose for full-finetune: its search "
                               "read all the validation rows); the figures quoted are test scores."), text(True)
    assert "tuning" not in text(False)


def test_the_choice_text_names_tuned_arms_where_no_run_kept_held_out_scores_too() -> None:
    """Without held-out scores (validation maxima) the tuned arms went unnamed, though README says the report names them."""
    from headstart.analysis import summarize
    from headstart.report.footnote import choice_text
    from headstart.results import RunResult

    def run(strategy: str, seed: int, val: float) -> RunResult:
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
        budget = {"epochs": 3, "min_steps": 10, "planned_steps": 10, "steps": 10, "tuned": strategy == "full-finetune"}
        return RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", metrics={"accuracy": val, "n": 300},
                         val_metrics={"accuracy": val}, train_seconds=1.0, steps=10, record={"budget": budget})

    text = choice_text(summarize([run(s, seed, v + seed / 100) for seed in range(3)
                                  for s, v in (("full-finetune", 0.8), ("linear-probe", 0.7))]))
    assert text == ("Choices (recommendation, head start, crossover) are made on validation scores (the learning rate "
                    "tuning chose for full-finetune was chosen on the same validation rows); the figures quoted are test "
                    "scores."), text


def test_a_tiny_out_of_domain_gap_is_not_written_as_none() -> None:
    """A gap of 0.04 points read "+0.0" (and its interval "-0.0 to +0.1") in report.md's and report.html's out-of-domain
    table: the gap column now writes points as the crossover does (``cell_stats.signed_points``)."""
    from headstart.report.markdown import signed_value

    (line,) = [x for x in _ood_lines({"ood": [ood_row("t", 0.0004, -0.00003, 0.0009)], "scale": 100.0})
               if x.startswith("| t")]
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[6:8] == ["+0.04", "-0.003 to +0.1"], cells
    assert signed_value({"scale": 100.0}, 0.0) == "0.0" and signed_value({"scale": 100.0}, -0.0) == "0.0"


def test_the_train_time_columns_say_they_are_wall_time() -> None:
    """Runs store the seconds a run took by the clock (perf_counter), not CPU time, and the recommendation says "N×
    cheaper in wall time", yet report.md's and report.html's column read "train time (s)", and the per-step column
    beside it (wall time too) read "s / step". Both say wall time now, in both files."""
    from headstart.analysis import summarize
    from headstart.report.html import report_html
    from headstart.report.markdown import report_markdown
    from headstart.results import RunResult

    spec = {"strategy": "lora", "n": 16, "n_requested": 16, "seed": 0, "backbone": "tiny", "data": {"name": "d", "hash": "d"},
            "options": {}, "train": {}}
    summary = summarize([RunResult(key="k", spec=spec, status="done", metrics={"accuracy": 0.7, "n": 50},
                                   val_metrics={"accuracy": 0.7}, train_seconds=2.0)])
    text = report_markdown(summary, title="t", command=None)
    assert "| budget | train wall time (s) | wall s / step |" in text and "| train time (s) |" not in text
    page = report_html(summary, title="t", command=None)
    assert page.count("<th>train wall time (s)</th>") == 2 and "<th>train time (s)</th>" not in page
    assert page.count("<th>wall s / step</th>") == 1 and "<th>s / step</th>" not in page


def test_the_footnote_reads_what_the_choices_read_as_data_not_from_the_chosen_on_words() -> None:
    """report.md's footnote (and report.html's, the same text) found whether the choices read held-out scores, and why
    not, by parsing each pick's ``chosen_on`` sentence ("held-out ..." / "(each run's best check: ...)"): a reworded
    sentence lost the reason. The picks now carry ``held_out`` and ``best_check_why`` from ``analysis.cells``."""
    from headstart.analysis import summarize
    from headstart.report.footnote import choice_text
    from headstart.results import RunResult

    def run(strategy: str, seed: int, val: float, held: bool) -> RunResult:
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
        budget = {"epochs": 3, "min_steps": 10, "planned_steps": 10, "steps": 10}
        return RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", metrics={"accuracy": val, "n": 300},
                         val_metrics={"accuracy": val, "n": 300}, train_seconds=1.0, steps=10,
                         record={"budget": budget, **({"held_out": {"accuracy": val}} if held else {})})

    for older in (False, True):  # every run kept held-out scores; one arm's runs were stored before they were kept
        summary = summarize([run(s, seed, v + seed / 100, not (older and s == "linear-probe"))
                             for seed in range(3) for s, v in (("full-finetune", 0.8), ("linear-probe", 0.7))])
        (pick,) = summary["recommendation"][0]["evidence"]
        why = "3 of 6 runs were stored before held-out scores were kept" if older else ""
        assert (pick["held_out"], pick["best_check_why"]) == (not older, why), pick
        said = choice_text(summary)
        pick["chosen_on"] = "the validation split, as each run chose"  # other words: the footnote does not depend on them
        assert choice_text(summary) == said and (why in said if older else "held out from each run's own" in said), said
