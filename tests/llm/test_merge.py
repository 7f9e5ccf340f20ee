"""llm.merge: an sft / prefer run merged into a run of full weights, or exported as a folder transformers loads alone,
answering as headstart generate does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import assert_user_error, run_cli
from lm_fixtures import pref_csv, sft_csv, tiny_lm, tiny_lm_folder  # noqa: F401  (fixtures)

PROMPTS = ["say hello", "count to three"]


@pytest.fixture(scope="module")
def chat_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LM with a chat template in its tokenizer, as SmolLM2-Instruct has one."""
    from transformers import AutoTokenizer

    folder = tiny_lm_folder(tmp_path_factory.mktemp("lm") / "tiny-chat")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [SEP] {% endfor %}"
                               "{% if add_generation_prompt %}<assistant> {% endif %}")
    tokenizer.save_pretrained(folder)
    return folder


def sft_run(backbone: Path, csv: Path, out: Path, **settings) -> Path:
    from headstart.api_llm import sft
    from headstart.llm.sft import SftConfig

    base = {"backbone": str(backbone), "max_steps": 6, "batch_size": 6, "lr": 3e-2, "rank": 4, "eval_rows": 0, "val_rows": 4}
    sft(str(csv), out=out, config=SftConfig(**{**base, **settings}))
    return out


def answered_by_the_card(folder: Path, prompt: str) -> str:
    """What the README's transformers code answers to ``prompt``, run as written (only PATH and PROMPT filled in)."""
    code = re.search(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S).group(1)
    assert 'path, prompt = "PATH", "PROMPT"' in code
    scope: dict = {}
    exec(code.replace('"PATH", "PROMPT"', f"{str(folder)!r}, {prompt!r}"), scope)  # noqa: S102 - our own card's code
    return scope["answer"]


def headstart_generate(run: Path, prompt: str, monkeypatch, capsys) -> str:
    code, out, err = run_cli(["generate", str(run), "--prompt", prompt, "--json"], monkeypatch, capsys)
    assert code in (0, None), err
    return json.loads(out)[0]["response"]


@pytest.mark.parametrize("lm", ["tiny_lm", "chat_lm"])
def test_an_sft_run_exports_as_a_folder_transformers_loads_and_generates_from_as_headstart_does(
        lm, sft_csv, tmp_path, monkeypatch, capsys, request):
    """export refused an sft run ('is a headstart sft run; ask it with: headstart generate'): the LoRA merged into its
    base, written as a folder AutoModelForCausalLM and AutoTokenizer load, greedy answers the same as generate's."""
    run = sft_run(request.getfixturevalue(lm), sft_csv, tmp_path / "run")
    spec = json.loads((run / "spec.json").read_text())
    assert spec["format"] == ("chat" if lm == "chat_lm" else "plain")
    code, printed, err = run_cli(["export", str(run), "--format", "hf", "--out", str(tmp_path / "hf")], monkeypatch, capsys)
    assert code in (0, None), err
    assert "load it with AutoModelForCausalLM.from_pretrained(" in printed and "validation sequences" in printed, printed
    folder = tmp_path / "hf"
    assert {"config.json", "model.safetensors", "generation_config.json", "README.md"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "spec.json").exists() and not (folder / "adapter_config.json").exists()
    for prompt in PROMPTS:
        expected = headstart_generate(run, prompt, monkeypatch, capsys)
        assert expected and answered_by_the_card(folder, prompt) == expected


def test_adapters_merge_writes_a_run_generate_reads_and_transformers_loads(tiny_lm, sft_csv, pref_csv, tmp_path, monkeypatch,
                                                                         capsys):
    run = sft_run(tiny_lm, sft_csv, tmp_path / "run")
    merged = tmp_path / "merged"
    code, printed, err = run_cli(["adapters", "merge", str(run), "--out", str(merged)], monkeypatch, capsys)
    assert code in (0, None), err
    assert printed.startswith(f"merged {run} -> {merged}: max |merged - adapter| logit = ") and "tolerance 0.001" in printed
    spec = json.loads((merged / "spec.json").read_text())
    assert spec["kind"] == "sft" and spec["merged"]["from"] == str(run.resolve()) and spec["merged"]["max_abs_diff"] <= 1e-4
    assert not (merged / "adapter_config.json").exists() and (merged / "model.safetensors").exists()
    for prompt in PROMPTS:
        expected = headstart_generate(run, prompt, monkeypatch, capsys)
        assert headstart_generate(merged, prompt, monkeypatch, capsys) == expected
        assert answered_by_the_card(merged, prompt) == expected, "the merged run's README.md generates as headstart does"
    card = (merged / "README.md").read_text()
    assert card.startswith("# headstart sft run")
    # the card says how the merge was checked, as a merged classifier's does (it said nothing of it)
    assert (f"The adapter of `{run.resolve()}` is merged into the base weights; its logits match the adapter's to "
            f"{spec['merged']['max_abs_diff']:.2g} (largest difference) in fp32 on {spec['merged']['inputs']} validation sequences.") in card
    assert "unmerge" not in card
    # what a merged run is not: an adapter to merge again, take apart, or keep training with prefer
    assert_user_error(run_cli(["adapters", "merge", str(merged), "--out", str(tmp_path / "again")], monkeypatch, capsys),
                      "has no adapter to merge: it is merged already")
    assert_user_error(run_cli(["adapters", "unmerge", str(merged), "--out", str(tmp_path / "apart")], monkeypatch, capsys),
                      "a merged one is not taken apart again", str(run.resolve()))
    assert_user_error(run_cli(["prefer", "--data", str(pref_csv), "--sft", str(merged), "--max-steps", "1", "-q",
                               "--out", str(tmp_path / "dpo")], monkeypatch, capsys), "is a merged run", "--backbone")
    assert not (tmp_path / "again").exists() and not (tmp_path / "apart").exists() and not (tmp_path / "dpo").exists()


@pytest.mark.parametrize("args,fragment", [
    (["export", "{run}", "--format", "onnx", "--out", "{out}"], "export writes it as --format hf only"),
    (["export", "{run}", "--format", "sentence-transformers", "--out", "{out}"], "export writes it as --format hf only"),
    (["adapters", "merge", "{run}", "--out", "{out}", "--dequantize"], "--dequantize is for a run trained on a 4-bit base"),
    (["adapters", "merge", "{run}", "--out", "{out}", "--base", "x"], "--base is for a plain PEFT adapter"),
    (["adapters", "merge", "{run}", "--out", "{out}", "--tolerance", "-1"], "tolerance"),
    (["adapters", "merge", "{run}", "--out", "{run}"], "already exists"),
])
def test_what_merge_and_export_refuse_of_an_sft_run_is_one_line(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys, args, fragment):
    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=1)
    command = [a.format(run=run, out=tmp_path / "out") for a in args]
    assert_user_error(run_cli(command, monkeypatch, capsys), fragment)
    assert not (tmp_path / "out").exists()


def test_a_full_finetune_run_exports_as_it_is_and_is_not_merged(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", strategy="full-finetune", lr=1e-3, rank=8, max_steps=2)
    assert_user_error(run_cli(["adapters", "merge", str(run), "--out", str(tmp_path / "m")], monkeypatch, capsys),
                      "has no adapter to merge: full-finetune saved every weight", "headstart export")
    from headstart.export import export

    report = export(run, tmp_path / "hf")
    assert report.max_abs_diff <= 1e-4
    assert answered_by_the_card(tmp_path / "hf", "say hello") == headstart_generate(run, "say hello", monkeypatch, capsys)


@pytest.mark.parametrize("kind", ["sft", "prefer"])
def test_a_run_whose_data_moved_merges_and_exports_checked_on_fixed_sentences_and_says_so(kind, tiny_lm, sft_csv, pref_csv,
                                                                                          tmp_path, monkeypatch, capsys):
    """merge and export read the run's validation rows from spec.json's data path and stopped with the loader's 'data
    file not found' once the file had moved, never saying why they wanted it: the check reads the fixed sentences
    instead, as prompt and answer formatted as trained, one note names the path and the error, and spec.json's
    merged.checked_on, the report and the printed line say 'fixed sentences'."""
    from headstart.errors import ConfigError
    from headstart.export import export
    from headstart.output_checks import FIXED, FIXED_SENTENCES

    csv = sft_csv if kind == "sft" else pref_csv
    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=2)
    if kind == "prefer":
        from headstart.api_llm import prefer
        from headstart.llm.dpo import PreferConfig

        prefer(str(pref_csv), out=tmp_path / "dpo", config=PreferConfig(sft=str(run), max_steps=1, batch_size=4, evals=1))
        run = tmp_path / "dpo"
    capsys.readouterr()
    csv.rename(tmp_path / "moved.csv")
    note = (f"note: the run's data {str(csv)!r} cannot be read (data file not found): the merge is checked on "
            f"{len(FIXED_SENTENCES)} fixed sentences instead of its validation rows")
    code, printed, err = run_cli(["adapters", "merge", str(run), "--out", str(tmp_path / "merged")], monkeypatch, capsys)
    assert code in (0, None), err
    assert [line for line in err.splitlines() if line.startswith(("note:", "error:", "Traceback"))] == [note], err
    assert f"in fp32 on {len(FIXED_SENTENCES)} fixed sentences (the run's data could not be read), loaded back" in printed
    merged = json.loads((tmp_path / "merged" / "spec.json").read_text())["merged"]
    assert merged["checked_on"] == FIXED and merged["inputs"] == len(FIXED_SENTENCES) and merged["max_abs_diff"] <= 1e-4
    assert (f"on {len(FIXED_SENTENCES)} fixed sentences (the run's data could not be read)."
            in (tmp_path / "merged" / "README.md").read_text())
    assert headstart_generate(tmp_path / "merged", "say hello", monkeypatch, capsys) == headstart_generate(
        run, "say hello", monkeypatch, capsys)
    report = export(run, tmp_path / "hf", inputs=3)  # from Python: the same check, the same note (through the headstart logger)
    assert report.checked_on == FIXED and report.inputs == 3 and report.max_abs_diff <= 1e-4
    assert "the export is checked on 3 fixed sentences instead of its validation rows" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"on 2 fixed sentences \(the run's data could not be read\); not writing"):
        export(run, tmp_path / "hf2", inputs=2, tolerance=0.0)


def test_a_written_model_beyond_the_tolerance_leaves_nothing(tiny_lm, sft_csv, tmp_path):
    from headstart.adapters import merge
    from headstart.errors import ConfigError

    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=1)
    with pytest.raises(ConfigError, match=r"differ from the run's by .* \(> tolerance=0\)"):
        merge(run, tmp_path / "m", tolerance=0.0, inputs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "sft.csv"], "no folder, no temp folder left behind"


def test_a_qlora_run_merges_into_an_fp32_copy_of_its_nf4_base_with_dequantize(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    pytest.importorskip("bitsandbytes")
    run = sft_run(tiny_lm, sft_csv, tmp_path / "q", strategy="qlora", lr=1e-3, max_steps=2)
    capsys.readouterr()  # transformers' warning that gradient checkpointing turns the cache off: training's, not merge's
    assert_user_error(run_cli(["export", str(run), "--out", str(tmp_path / "x")], monkeypatch, capsys),
                      "has a 4-bit base; merge it first", "--dequantize")
    assert_user_error(run_cli(["adapters", "merge", str(run), "--out", str(tmp_path / "m")], monkeypatch, capsys),
                      "pass --dequantize")
    code, printed, err = run_cli(["adapters", "merge", str(run), "--dequantize", "--out", str(tmp_path / "m")], monkeypatch, capsys)
    assert code in (0, None) and "base dequantized from 4-bit" in printed, err
    assert headstart_generate(tmp_path / "m", "say hello", monkeypatch, capsys) == headstart_generate(run, "say hello", monkeypatch, capsys)


@pytest.mark.slow
def test_a_few_sft_steps_on_the_real_smollm2_then_generate_and_export(tmp_path, monkeypatch, capsys):
    """On the real SmolLM2-135M-Instruct (chat template, a GGUF base converted into $HEADSTART_CACHE, once: the rebuild
    after a cleared cache is tests/llm/test_runs.py's, on a tiny LM): three packed steps learn; the adapter names
    smollm2-135m, not the cache folder; the hf export answers as headstart generate does."""
    from headstart.api_llm import generate, sft
    from headstart.llm.sft import SftConfig

    run = tmp_path / "smol"
    cfg = SftConfig(backbone="smollm2-135m", n=16, max_steps=3, batch_size=4, max_length=64, val_rows=4, eval_rows=2,
                    max_new_tokens=16, packing=True)  # check_packing runs on the real model: its packed examples stay apart
    trained = sft("rotten-tomatoes-sft", out=run, config=cfg)
    assert trained.metrics["status"] == "done" and trained.spec["format"] == "chat", "SmolLM2-Instruct has a chat template"
    assert trained.spec["packing"] is True
    assert trained.metrics["val_loss"] <= trained.metrics["val_loss_before"] and trained.metrics["val_loss"] < 6
    prompt = "Write a positive review of Heat."
    text = generate(run, [prompt], max_new_tokens=16)[0]
    assert text and text == generate(trained, [prompt], max_new_tokens=16)[0]
    assert json.loads((run / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m"
    import headstart

    scored = headstart.evaluate(run)  # the saved run's test prompts answered again, as sft answered them
    assert scored["rows"] == 2 and scored["exact_match"] == trained.metrics["test"]["exact_match"], scored
    assert [s["generated"] for s in scored["samples"]] == [s["generated"] for s in trained.metrics["test"]["samples"]]
    code, _, err = run_cli(["export", str(run), "--out", str(tmp_path / "hf"), "--inputs", "4"], monkeypatch, capsys)
    assert code in (0, None), err
    expected = headstart_generate(run, prompt, monkeypatch, capsys)
    assert expected and answered_by_the_card(tmp_path / "hf", prompt) == expected


def test_an_sft_run_whose_data_changed_is_checked_on_fixed_sentences_never_on_no_rows(tiny_lm, sft_csv, tmp_path, monkeypatch,
                                                                                      capsys):
    """The run's file with its validation rows removed: merge and export 'checked' on 0 validation sequences and passed
    (within 0 of nothing). Its content hash is not the run's: the check reads the fixed sentences, one note says the
    file changed, and checked_on says so."""
    import pandas as pd

    from headstart.export import export
    from headstart.output_checks import CHANGED, FIXED_SENTENCES

    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=1)
    table = pd.read_csv(sft_csv)
    table[table["split"] == "train"].to_csv(sft_csv, index=False)
    capsys.readouterr()
    code, printed, err = run_cli(["adapters", "merge", str(run), "--out", str(tmp_path / "merged")], monkeypatch, capsys)
    assert code in (0, None), err
    notes = [line for line in err.splitlines() if line.startswith(("note:", "error:", "Traceback"))]
    assert len(notes) == 1 and notes[0].startswith(f"note: the run's data {str(sft_csv)!r} changed since the run ("), err
    assert notes[0].endswith(f": the merge is checked on {len(FIXED_SENTENCES)} fixed sentences instead of its validation rows")
    assert f"on {len(FIXED_SENTENCES)} fixed sentences (the run's data changed since the run)" in printed, printed
    merged = json.loads((tmp_path / "merged" / "spec.json").read_text())["merged"]
    assert merged["checked_on"] == CHANGED and merged["inputs"] == len(FIXED_SENTENCES)
    report = export(run, tmp_path / "hf", inputs=3)
    assert report.checked_on == CHANGED and report.inputs == 3 and report.max_abs_diff <= 1e-4


def test_a_prefer_run_whose_data_changed_is_checked_on_fixed_sentences_as_an_sft_run_is(tiny_lm, sft_csv, pref_csv, tmp_path,
                                                                                        caplog):
    """A prefer run's spec.json recorded no group column (nor the file's path), so merge and export never compared its
    data's hash: an edited file's rows were checked on as if they were the run's. It records them now: the file as the
    run read it is checked on its validation rows, an edited one on the fixed sentences, said as changed."""
    import logging

    import pandas as pd

    from headstart.api_llm import prefer
    from headstart.export import export
    from headstart.llm.dpo import PreferConfig
    from headstart.output_checks import CHANGED, VALIDATION_ROWS

    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=1)
    prefer(str(pref_csv), out=tmp_path / "dpo", config=PreferConfig(sft=str(run), max_steps=1, batch_size=4, evals=1))
    data = json.loads((tmp_path / "dpo" / "spec.json").read_text())["data"]
    assert data["group_column"] is None and data["path"] == str(pref_csv.resolve())
    assert export(tmp_path / "dpo", tmp_path / "same", inputs=3).checked_on == VALIDATION_ROWS
    table = pd.read_csv(pref_csv)
    table.assign(chosen=table.chosen.str.upper()).to_csv(pref_csv, index=False)
    with caplog.at_level(logging.INFO, logger="headstart"):
        report = export(tmp_path / "dpo", tmp_path / "hf", inputs=3)
    assert report.checked_on == CHANGED and report.inputs == 3 and report.max_abs_diff <= 1e-4
    assert f"the run's data {str(pref_csv.resolve())!r} changed since the run" in caplog.text


def test_a_prefer_export_card_names_the_chain_the_weights_kept_and_the_validation_numbers(tiny_lm, tmp_path):
    """A prefer run whose steps never beat step 0 exported with a card of its own run alone ('from the run DIR (lora:
    its LoRA merged into the base weights), 3 steps on DATA'): it now names the base, the sft run and its data, the
    prefer run and its data, that the weights are the sft run's unchanged, and the validation numbers."""
    from transformers import AutoTokenizer

    from headstart.llm.merge import export_card
    from headstart.report.mdtext import md_text

    sft, dpo = tmp_path / "sft", tmp_path / "dpo"
    for folder, spec, metrics in [
            (sft, {"kind": "sft", "backbone": "tiny", "strategy": "lora", "n": 16, "seed": 0, "steps": 3,
                   "data": {"name": "reviews-sft"}}, {"status": "done", "steps": 3, "best_step": 3, "val_loss": 4.18}),
            (dpo, {"kind": "prefer", "sft": str(sft), "backbone": "tiny", "strategy": "lora", "n": 16, "seed": 0, "steps": 3,
                   "data": {"name": "reviews-preferences"}},
             {"status": "done", "steps": 3, "best_step": 0, "val": {"loss": 0.6931, "reward_accuracy": 0.5}})]:
        folder.mkdir()
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "metrics.json").write_text(json.dumps(metrics))
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    shown, dpo_shown = md_text(str(sft)), md_text(str(dpo))  # as a card writes a path
    card = export_card(json.loads((dpo / "spec.json").read_text()), tokenizer, dpo)
    items = [line[2:] for line in card.split("## ")[0].splitlines() if line.startswith("- ")]
    assert items[0] == "base model: tiny"
    assert items[1] == f"then the sft run {shown} (lora, 3 steps on reviews-sft, n = 16, seed 0; kept step 3)"
    assert items[2].startswith(f"then the prefer run {dpo_shown} (lora, 3 steps on reviews-preferences, n = 16, seed 0; kept step 0)")
    assert items[3] == (f"weights: the starting point's, unchanged: no step improved the validation loss, so these are the "
                        f"sft run {shown}'s weights (step 0 of 3)")
    assert "validation loss: 0.6931 (on the validation pairs, the pairs that chose the step kept: optimistic)" in items
    assert "validation reward_accuracy: 0.5 (on the validation pairs, the pairs that chose the step kept: optimistic)" in items
    assert any(item.startswith("test: no held-out test score") for item in items)
    sft_card = export_card(json.loads((sft / "spec.json").read_text()), tokenizer, sft)
    assert "- weights: step 3's of 3, the best on validation" in sft_card and "- validation loss: 4.18" in sft_card
    assert "then the sft run" in sft_card and "then the prefer run" not in sft_card
    (sft / "spec.json").unlink()  # the sft run moved away: the chain still names it
    assert f"then the sft run {shown} (its spec.json could not be read)" in export_card(
        json.loads((dpo / "spec.json").read_text()), tokenizer, dpo)


def _staged(command, run, out):
    """``command(run, out)`` (export or merge) with what its progress was told, checked to name the stages in order."""
    told: list[tuple[int, int, dict]] = []
    report = command(run, out, progress=lambda done, total, info: told.append((done, total, dict(info))))
    stages = []
    for _, _, info in told:
        stage = info.get("stage") or info["sequences"]
        if not stages or stages[-1] != stage:
            stages.append(stage)
    assert stages == ["loading the run", "the run's logits", "merging its LoRA into the base weights", "saving the model",
                      "loading the saved folder back with transformers", "the saved folder's logits"]
    return report, told


def test_an_sft_export_says_its_stages_in_order_and_counts_its_check(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """export printed nothing for 6.5 minutes (load, merge, save, the logits check on 64 sequences), then its last
    line: each stage is told, the two logits passes counted with the time left at their own pace; --quiet and --json
    say none."""
    from headstart.export import export

    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=2)
    report, told = _staged(export, run, tmp_path / "hf")
    counted = [(done, total, info) for done, total, info in told if total]
    n = report.inputs
    assert [(d, t) for d, t, _ in counted] == [(i, n) for i in range(n + 1)] * 2
    assert counted[0][2]["eta_s"] is None and all(isinstance(i["eta_s"], float) for d, _, i in counted if d)
    assert counted[-1][2]["sequences"] == "the saved folder's logits"
    code, _, err = run_cli(["export", str(run), "--out", str(tmp_path / "cli")], monkeypatch, capsys)
    assert code in (0, None) and "export: " in err and "merging its LoRA into the base weights" in err, err
    # one count a line: "export: 4/64 stage the run's logits, 4/64 sequences" said it twice
    lines = [line for line in err.splitlines() if line.startswith("export: ")]
    assert f"export: 0/{n} sequences the run's logits elapsed " in err, err
    assert all(len(re.findall(r"\d+/\d+", line)) <= 1 for line in lines), lines
    for flag, number in [("--quiet", 1), ("--json", 2)]:
        code, _, err = run_cli(["export", str(run), "--out", str(tmp_path / f"q{number}"), flag], monkeypatch, capsys)
        assert code in (0, None) and "export: " not in err, err


def test_an_sft_merge_says_its_stages_in_order_and_counts_its_check(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """adapters merge runs export's slow stages (load, the run's logits, merge, save, load back, the folder's logits)
    and said nothing before its last line: each stage is told as export's are; --quiet says none."""
    from headstart.adapters import merge

    run = sft_run(tiny_lm, sft_csv, tmp_path / "run", max_steps=2)
    report, told = _staged(merge, run, tmp_path / "merged")
    n = report.inputs
    assert [(d, t) for d, t, _ in told if t] == [(i, n) for i in range(n + 1)] * 2
    code, _, err = run_cli(["adapters", "merge", str(run), "--out", str(tmp_path / "cli")], monkeypatch, capsys)
    assert code in (0, None) and "merge: " in err and "merging its LoRA into the base weights" in err, err
    code, _, err = run_cli(["adapters", "merge", str(run), "--out", str(tmp_path / "quiet"), "--quiet"], monkeypatch, capsys)
    assert code in (0, None) and "merge: " not in err, err
