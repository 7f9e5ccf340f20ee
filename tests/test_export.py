"""headstart export --format hf: the folder loads in a fresh process with transformers alone and gives the run's
probabilities; a LoRA run is folded in; what cannot be exported is refused in one line; the model card renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from headstart.errors import ConfigError
from headstart.specs import POOLINGS, TrainConfig

CFG = TrainConfig(max_steps=12, min_steps=12, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2)
PROBE = """
import json, sys, torch
import transformers
from transformers import AutoModelForSequenceClassification
path, texts = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True).eval()
settings = json.load(open(path + "/tokenizer_config.json"))
assert "auto_map" not in settings  # the tokenizer loads by its transformers class, never through code in the folder
tok = getattr(transformers, settings["tokenizer_class"]).from_pretrained(path)
with torch.no_grad():
    logits = model(**tok(texts, padding=True, truncation=True, return_tensors="pt")).logits
print(json.dumps({"p": torch.softmax(logits, -1).tolist(), "labels": model.config.id2label}))
"""


def predicts_as_the_run(run: Path, exported: Path, texts: list[str]) -> None:
    """The exported folder, loaded by transformers alone in a fresh process (``PROBE``), gives ``texts`` the
    probabilities ``headstart.predict`` gives them from the run, to 1e-5."""
    import headstart

    ours = headstart.predict(run, texts)
    done = subprocess.run([sys.executable, "-c", PROBE, str(exported), json.dumps(texts)], capture_output=True, text=True,
                          cwd=exported.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    names = [theirs["labels"][str(i)] for i in range(len(theirs["labels"]))]
    for row, p in zip(ours, theirs["p"]):
        assert max(abs(row["probabilities"][n] - q) for n, q in zip(names, p)) < 1e-5


@pytest.mark.parametrize("strategy", ["full-finetune", "lora"])
def test_an_exported_run_gives_the_runs_probabilities_in_a_fresh_process(strategy, toy_csv, tiny_registry, tmp_path):
    import headstart

    headstart.fit(str(toy_csv), "tiny-bert", strategy=strategy, n=32, config=CFG, out=tmp_path / "run")
    report = headstart.export(tmp_path / "run", tmp_path / "hf")  # the module is the function too (headstart.callable_module)
    assert report.max_abs_diff <= 1e-5 and report.inputs > 0
    texts = ["good great movie", "bad awful the plot", "it was a film"]
    predicts_as_the_run(tmp_path / "run", tmp_path / "hf", texts)
    card = (tmp_path / "hf" / "README.md").read_text()
    assert f"# {strategy} on" in card and "trust_remote_code=True" in card and '"torch"' in card
    assert (tmp_path / "hf" / "modeling_headstart.py").exists() and not list(tmp_path.glob("*.tmp"))


def test_a_bf16_runs_export_is_checked_in_fp32_and_says_how_far_predict_is_from_it(toy_csv, tiny_registry, tmp_path):
    """The export computes in fp32, the run predicts at bf16: the check is against fp32, and the gap to what
    ``headstart predict`` gives is measured on the same inputs and reported."""
    import dataclasses

    import headstart
    from headstart.export import export

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=dataclasses.replace(CFG, precision="bf16"),
                  out=tmp_path / "run")
    report = export(tmp_path / "run", tmp_path / "hf")
    assert report.max_abs_diff <= 1e-5
    gap = report.at_precision
    assert gap is not None and gap.precision == "bf16" and gap.inputs == report.inputs and 0 <= gap.same_class <= gap.inputs
    assert 0 < gap.max_abs_diff < 0.5, "bf16 rounding moves probabilities, a little"
    again = export(tmp_path / "run", tmp_path / "hf2")  # the same run again: the same gap, measured the same way
    assert again.at_precision == gap
    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "fp32")
    assert export(tmp_path / "fp32", tmp_path / "hf3").at_precision is None


def test_a_run_whose_data_was_deleted_exports_checked_on_fixed_sentences_and_says_so(toy_csv, tiny_registry, tmp_path,
                                                                                    monkeypatch, capsys):
    """export read the run's validation rows from its data file, and stopped with 'data file not found' once it was
    gone: a text run is checked on the fixed sentences instead, with one note, and --json's checked_on says so."""
    import headstart
    from conftest import run_cli
    from headstart.output_checks import FIXED_SENTENCES

    headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, config=CFG, out=tmp_path / "run")
    toy_csv.unlink()
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf"), "--json"], monkeypatch, capsys)
    assert code in (0, None), err
    assert [line for line in err.splitlines() if line.startswith(("note:", "error:", "Traceback"))] == [
        f"note: the run's data {str(toy_csv)!r} cannot be read (data file not found): the export is checked on "
        f"{len(FIXED_SENTENCES)} fixed sentences instead of its validation rows"], err
    report = json.loads(out)
    assert report["checked_on"] == "fixed sentences" and report["inputs"] == len(FIXED_SENTENCES) and report["max_abs_diff"] <= 1e-5
    texts = list(FIXED_SENTENCES[:3])
    predicts_as_the_run(tmp_path / "run", tmp_path / "hf", texts)
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf2"), "--inputs", "2"], monkeypatch, capsys)
    assert code in (0, None) and "of the run's in fp32 on 2 fixed sentences (the run's data could not be read)" in out, (out, err)
    from headstart import export as export_module

    monkeypatch.setattr(export_module, "check_hf_folder", lambda *args, **kwargs: 0.5)  # outputs beyond the tolerance
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf3")], monkeypatch, capsys)
    assert code == 2 and err.splitlines()[-1] == (
        "error: the exported model's outputs differ from the run's by 0.5 (> tolerance 1e-05) on "
        f"{len(FIXED_SENTENCES)} fixed sentences (the run's data could not be read); nothing written"), err


@pytest.mark.parametrize("change", ["fewer rows", "edited texts"])
def test_a_run_whose_data_changed_exports_checked_on_fixed_sentences_and_says_what_changed(change, toy_csv, tiny_registry,
                                                                                          tmp_path, monkeypatch, capsys):
    """The run's CSV still there but cut to 5 rows stopped export with the splitter's 'has only 5 labelled rows ... add
    rows'; edited texts were checked on as if they were the run's validation rows. Either way its rows are not the run's
    (its content hash differs): the export is checked on the fixed sentences, with one note naming the file and that it
    changed, and --json's checked_on says so. The file as the run read it is checked on its validation rows."""
    import pandas as pd

    import headstart
    from conftest import run_cli
    from headstart.output_checks import CHANGED, FIXED_SENTENCES, VALIDATION_ROWS

    headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, config=CFG, out=tmp_path / "run")
    capsys.readouterr()  # what the fit said (its leakage warning, to a Python caller) is not export's
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "same"), "--json"], monkeypatch, capsys)
    assert code in (0, None) and json.loads(out)["checked_on"] == VALIDATION_ROWS and "note:" not in err, err
    table = pd.read_csv(toy_csv)
    (table.head(5) if change == "fewer rows" else table.assign(text=table.text.str.upper())).to_csv(toy_csv, index=False)
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf"), "--json"], monkeypatch, capsys)
    assert code in (0, None), err
    notes = [line for line in err.splitlines() if line.startswith(("note:", "error:", "Traceback"))]
    assert len(notes) == 1 and notes[0].startswith(f"note: the run's data {str(toy_csv)!r} changed since the run (its rows, "
                                                   "texts or labels differ: content hash "), err
    assert notes[0].endswith(f"now): the export is checked on {len(FIXED_SENTENCES)} fixed sentences instead of its "
                             "validation rows"), err
    report = json.loads(out)
    assert report["checked_on"] == CHANGED and report["inputs"] == len(FIXED_SENTENCES) and report["max_abs_diff"] <= 1e-5
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf2")], monkeypatch, capsys)
    assert code in (0, None) and f"of the run's in fp32 on {len(FIXED_SENTENCES)} fixed sentences (the run's data changed since the run)" in out, (out, err)


def test_a_text_pair_run_whose_data_moved_is_refused_with_no_note_about_its_data(tiny_registry, tmp_path, monkeypatch,
                                                                                 capsys):
    """A text-pair run's export read its data first, so with the file moved it printed the fixed-sentences note, then
    refused it ('single-text models only'): the refusal comes alone, before any data is read."""
    import pandas as pd

    import headstart
    from conftest import assert_user_error, run_cli

    rng = np.random.default_rng(0)
    words = rng.choice(["good", "bad"], size=60)
    same = rng.integers(2, size=60).astype(bool)
    pd.DataFrame({"premise": [f"the film was {w}" for w in words],
                  "hypothesis": [f"it was {w if s else 'fine'} overall" for w, s in zip(words, same)],
                  "label": np.where(same, "entailment", "neutral")}).to_csv(tmp_path / "nli.csv", index=False)
    headstart.fit(str(tmp_path / "nli.csv"), "tiny-bert", strategy="full-finetune", n=24, text_column="premise,hypothesis",
                  label_column="label", config=TrainConfig(max_steps=2, min_steps=2, precision="fp32"), out=tmp_path / "run")
    (tmp_path / "nli.csv").rename(tmp_path / "moved.csv")
    capsys.readouterr()  # what the fit said (its leakage warning, to a Python caller) is not export's
    result = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf")], monkeypatch, capsys)
    assert_user_error(result, "reads text pairs", "export writes single-text models only")
    assert "note:" not in result[2] and not (tmp_path / "hf").exists()


@pytest.mark.parametrize("strategy", ["full-finetune", "lora"])
def test_a_sentence_transformers_export_gives_the_runs_logits_and_the_probabilities_follow(strategy, toy_csv, tiny_registry, tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer

    import headstart
    from headstart.export import export

    headstart.fit(str(toy_csv), "tiny-bert", strategy=strategy, n=32, config=CFG, out=tmp_path / "run")
    report = export(tmp_path / "run", tmp_path / "st", format="sentence-transformers")
    assert report.max_abs_diff <= 1e-5
    texts = ["good great movie", "bad awful the plot"]
    logits = SentenceTransformer(str(tmp_path / "st"), device="cpu").encode(texts, convert_to_tensor=True)
    ours = headstart.predict(tmp_path / "run", texts)
    names = list(ours[0]["probabilities"])
    for row, p in zip(ours, torch.softmax(logits, -1).tolist()):
        assert max(abs(row["probabilities"][n] - q) for n, q in zip(names, p)) < 1e-5
    assert "not an embedding" in (tmp_path / "st" / "README.md").read_text()


def test_what_cannot_be_exported_is_refused(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    import headstart
    from conftest import run_cli
    from headstart.export import export

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="--format must be one of hf, sentence-transformers"):
        export(tmp_path / "run", tmp_path / "x", format="tflite")
    (tmp_path / "taken").mkdir()
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "taken")], monkeypatch, capsys)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="--tolerance is the largest output difference accepted, a number >= 0; got -1.0"):
        export(tmp_path / "run", tmp_path / "strict", tolerance=-1.0)
    from headstart import export as export_module

    monkeypatch.setattr(export_module, "check_hf_folder", lambda *args, **kwargs: 0.5)  # an export whose outputs moved
    with pytest.raises(ConfigError, match="differ from the run's by 0.5"):
        export(tmp_path / "run", tmp_path / "strict")
    assert not (tmp_path / "strict").exists() and not (tmp_path / "strict.tmp").exists()
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "toy")
    with pytest.raises(ConfigError, match="not a run on a transformers text encoder"):
        export(tmp_path / "toy", tmp_path / "y")


@pytest.mark.slow
def test_a_minilm_lora_run_exports_with_its_adapter_folded_in(tmp_path):
    """Real data, the real encoder: LoRA on all-MiniLM-L6-v2, 64 rotten-tomatoes reviews, exported and checked."""
    import headstart
    from headstart.export import export

    headstart.fit("rotten-tomatoes", "all-minilm-l6-v2", strategy="lora", n=64, config=TrainConfig(max_steps=20, min_steps=20),
                  out=tmp_path / "run")
    report = export(tmp_path / "run", tmp_path / "hf")
    assert report.max_abs_diff <= 1e-5 and report.inputs == 64
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["pooling"] == ["mean"] and config["id2label"] == {"0": "rotten", "1": "fresh"} and "lora" not in json.dumps(config).lower()
    assert export(tmp_path / "run", tmp_path / "st", format="sentence-transformers").max_abs_diff <= 1e-5


@pytest.mark.parametrize("mode", POOLINGS)
def test_the_exported_files_pooling_is_the_backbones(mode):
    """export_modeling.py is copied beside the weights and may not import headstart, so it carries its own ``pool``:
    it must pool as the run did, mode by mode, padding included."""
    import torch

    from headstart.backbones.text import pool
    from headstart.export_modeling import pool as exported_pool

    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    assert torch.equal(exported_pool(hidden, mask, [mode]), pool(hidden, mask, (mode,)))
    assert torch.equal(exported_pool(hidden, mask, ["mean", mode]), pool(hidden, mask, ("mean", mode)))


def test_a_backbone_folders_tokenizer_code_never_runs_and_is_not_exported(toy_csv, tmp_path, monkeypatch):
    """A folder whose tokenizer_config.json maps AutoTokenizer to its own code: training never ran it, and export's
    check (which loads the exported folder) ran it with trust_remote_code=True. Now the export names transformers'
    class and drops the auto_map, in every format."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    import headstart
    from headstart.backbones.registry import _minilm_dir

    folder = tmp_path / "bb"
    AutoTokenizer.from_pretrained(_minilm_dir()).save_pretrained(folder)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64)).save_pretrained(folder, safe_serialization=True)
    marker = tmp_path / "ran"
    (folder / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
                                    "from transformers import BertTokenizer as EvilTok\n")
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["auto_map"] = {"AutoTokenizer": ["evil.EvilTok", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    import sys

    import transformers.dynamic_module_utils as dynamic
    import transformers.models.auto.tokenization_auto  # noqa: F401  (the modules that call it, loaded before patching)

    fetched = []  # every class transformers would load from a folder's (or a Hub repo's) code
    real = dynamic.get_class_from_dynamic_module
    for module in [m for name, m in list(sys.modules.items()) if name.startswith("transformers") and m is not None]:
        if getattr(module, "get_class_from_dynamic_module", None) is real:
            monkeypatch.setattr(module, "get_class_from_dynamic_module",
                                lambda reference, *a, **k: fetched.append(reference) or real(reference, *a, **k))
    headstart.fit(str(toy_csv), str(folder), strategy="linear-probe", n=16, config=TrainConfig(max_steps=4, min_steps=4), out=tmp_path / "run")
    for form in ("hf", "sentence-transformers"):
        headstart.export(tmp_path / "run", tmp_path / form, format=form)
    assert not marker.exists(), "the folder's tokenizer code ran"
    assert all("Tok" not in str(r) for r in fetched), f"transformers loaded tokenizer code: {fetched}"
    assert any("modeling_headstart" in str(r) for r in fetched), "the hook sees the model class headstart itself wrote"
    for path in (tmp_path / "hf" / "tokenizer_config.json", tmp_path / "sentence-transformers" / "0_Transformer" / "tokenizer_config.json"):
        written = json.loads(path.read_text())
        assert "auto_map" not in written and written["tokenizer_class"] == "BertTokenizer", path
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "tokenizer = BertTokenizer.from_pretrained(PATH)" in card and "tokenizer = AutoTokenizer" not in card


def test_the_export_line_says_how_to_load_the_tokenizer_as_the_card_does(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """AutoTokenizer on the folder would read config.json's auto_map (headstart's model code) and ask to run it: the
    line names transformers' own tokenizer class, the one the card's code loads, and the folder holds no code for it."""
    import re

    import headstart
    from conftest import run_cli

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "run")
    code, out, _ = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "hf")], monkeypatch, capsys)
    said = re.search(r"its tokenizer with (\w+)\.from_pretrained\('([^']+)'\)", out)
    assert code == 0 and said and said[2] == str(tmp_path / "hf"), out
    assert f"tokenizer = {said[1]}.from_pretrained(PATH)" in (tmp_path / "hf" / "README.md").read_text()
    assert json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())["tokenizer_class"] == said[1]


AUTO_TOKENIZER = """
import json, sys
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=False)
code = [name for name in sys.modules if "modeling_headstart" in name or "HeadstartConfig" in name]
print(json.dumps({"class": type(tokenizer).__name__, "max": tokenizer.model_max_length, "code": code}))
"""


def test_the_card_says_how_autotokenizer_loads_the_tokenizer_without_the_models_code(toy_csv, tiny_registry, tmp_path):
    """AutoTokenizer.from_pretrained(DIR) asked whether to run modeling_headstart.py (transformers 5 reads config.json,
    whose auto_map is the model's code, before tokenizer_config.json), and the card said nothing of it. No supported
    config keeps the model's class and lets a bare AutoTokenizer skip that question (a registered model_type would
    let AutoModelForSequenceClassification without trust_remote_code build transformers' own class, silently
    untrained), so the card says it and gives the call that asks nothing: trust_remote_code=False, checked here in a
    fresh process with no stdin to answer a question."""
    import headstart

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "run")
    headstart.export(tmp_path / "run", tmp_path / "hf")
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "`AutoTokenizer.from_pretrained(PATH)` alone asks whether to run `modeling_headstart.py`" in card
    assert "`AutoTokenizer.from_pretrained(PATH, trust_remote_code=False)` loads the same BertTokenizer without asking" in card
    done = subprocess.run([sys.executable, "-c", AUTO_TOKENIZER, str(tmp_path / "hf")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert done.returncode == 0 and "Do you wish to run the custom code" not in done.stderr, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"class": "BertTokenizer", "max": 32, "code": []}


def test_an_export_into_a_folder_with_a_space_says_nothing_of_its_staging_folders_name(toy_csv, tiny_registry, tmp_path):
    """`export --out "moved dir/exp hf"` printed transformers' "The module name ... is not a valid Python identifier"
    twice, of the hidden staging folder its check loads; that load says nothing of it, a user's own load still does."""
    import logging

    import headstart
    from transformers import AutoModelForSequenceClassification

    said: list[str] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logger, seen = logging.getLogger("transformers.dynamic_module_utils"), Seen()
    logger.addHandler(seen)
    try:
        headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=16, config=CFG, out=tmp_path / "run")
        out = tmp_path / "moved dir" / "exp hf"
        headstart.export(tmp_path / "run", out)
        assert not [m for m in said if "not a valid Python identifier" in m], said
        AutoModelForSequenceClassification.from_pretrained(out, trust_remote_code=True)
        assert [m for m in said if "not a valid Python identifier" in m and "exp hf" in m], said
    finally:
        logger.removeHandler(seen)


def test_a_classifier_export_refuses_from_its_spec_before_loading_the_run(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """A classifier's export loaded the run, unsaid, before its refusals could be made (an sft / prefer export says
    "loading the run"): what it refuses is read from spec.json first, and nothing is said or loaded before a refusal;
    the load is a stage it says (``test_a_classifier_export_says_its_stages_in_order``)."""
    import headstart
    from headstart import saved

    headstart.fit(str(toy_csv), "tiny-bert", strategy="prompt-tuning", n=32, config=CFG, out=tmp_path / "prompt")
    headstart.fit(str(toy_csv), "tiny-bert", strategy="embed-knn", n=32, out=tmp_path / "knn")

    def refused_unloaded(directory):
        raise AssertionError(f"{directory} was loaded before its refusal")

    monkeypatch.setattr(saved, "load_run", refused_unloaded)
    told: list[dict] = []
    with pytest.raises(ConfigError, match="PROMPT_TUNING is not a weight update that folds into the encoder"):
        headstart.export(tmp_path / "prompt", tmp_path / "x", progress=lambda done, total, info: told.append(dict(info)))
    with pytest.raises(ConfigError, match=r"\(embed-knn\) has no linear head to export"):
        headstart.export(tmp_path / "knn", tmp_path / "y", progress=lambda done, total, info: told.append(dict(info)))
    assert told == [], "nothing said before a refusal"


def test_a_classifier_export_says_its_stages_in_order(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """A classifier's export said nothing and ignored progress= (an sft / prefer run's told each stage): it says the
    run's outputs, merging its adapter, saving, loading back and comparing; --quiet and --json say none."""
    import headstart
    from conftest import run_cli

    headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, config=CFG, out=tmp_path / "run")
    told: list[dict] = []
    report = headstart.export(tmp_path / "run", tmp_path / "hf", progress=lambda done, total, info: told.append(dict(info)))
    stages = ["loading the run", f"the run's outputs on {report.inputs} inputs", "merging its adapter into the encoder",
              "saving the model", "loading the written folder back and comparing its outputs"]
    assert [info["stage"] for info in told] == stages
    for format, writing in [("sentence-transformers", "saving the model"), ("onnx", "exporting the model to ONNX")]:
        told.clear()
        headstart.export(tmp_path / "run", tmp_path / format, format=format,
                         progress=lambda done, total, info: told.append(dict(info)))
        assert [info["stage"] for info in told] == [*stages[:3], writing, stages[4]], format
    code, _, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / "cli")], monkeypatch, capsys)
    assert code in (0, None) and "export: stage loading the run" in err and "comparing its outputs" in err, err
    for flag, number in [("--quiet", 1), ("--json", 2)]:
        code, _, err = run_cli(["export", str(tmp_path / "run"), "--out", str(tmp_path / f"q{number}"), flag], monkeypatch, capsys)
        assert code in (0, None) and "export: " not in err, err


def test_every_export_truncates_as_the_run_did_through_the_tokenizer_it_writes(toy_csv, tiny_registry, tmp_path):
    """The exported tokenizer kept the base tokenizer's model_max_length (512) and a stale "max_length": a transformers
    pipeline with truncation=True read past the run's --max-length and answered otherwise on long texts. Every format's
    tokenizer now says the run's max_length (tiny-bert's 32), so it cuts where the run cut. The hf folder's pipeline
    truncated only when called with truncation=True (a long text failed past the encoder's 64 positions): the folder's
    config names its own pipeline class, which truncates unless told truncation=False."""
    import numpy as np
    import onnxruntime
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, pipeline

    import headstart

    headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, config=CFG, out=tmp_path / "run")
    for format in ("hf", "onnx", "sentence-transformers"):
        headstart.export(tmp_path / "run", tmp_path / format, format=format)
    long = "good great movie, but the plot was awful and the acting dull " * 20  # far past 32 tokens
    texts = [long, "good"]
    ours = [row["probabilities"] for row in headstart.predict(tmp_path / "run", texts)]
    for folder in ("hf", "onnx", "sentence-transformers/0_Transformer"):
        settings = json.loads((tmp_path / folder / "tokenizer_config.json").read_text())
        # hf: by its class, as the card says (AutoTokenizer would read config.json's auto_map and ask about its code)
        loader = getattr(transformers, settings["tokenizer_class"]) if folder == "hf" else AutoTokenizer
        tokenizer = loader.from_pretrained(tmp_path / folder)
        assert tokenizer.model_max_length == 32, folder
        assert settings.get("max_length", 32) == 32, folder
        assert len(tokenizer(long, truncation=True)["input_ids"]) == 32, folder

    for told in ({}, {"truncation": True}):  # as the card says to call it, and as it was called before
        classify = pipeline("text-classification", model=str(tmp_path / "hf"), trust_remote_code=True, top_k=None, **told)
        for row, answer in zip(ours, classify(texts)):
            assert max(abs(row[a["label"]] - a["score"]) for a in answer) < 1e-5, told
    with pytest.raises(RuntimeError):  # truncation=False still reads the whole text, as transformers' own pipeline does
        classify(texts, truncation=False)
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "pipeline('text-classification', model=PATH, trust_remote_code=True)` does so unasked" in card

    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = AutoTokenizer.from_pretrained(tmp_path / "onnx")(texts, padding=True, truncation=True, return_tensors="np")
    logits = session.run(["logits"], {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})[0]
    names = list(ours[0])
    for row, p in zip(ours, torch.softmax(torch.from_numpy(np.asarray(logits)), -1).tolist()):
        assert max(abs(row[n] - q) for n, q in zip(names, p)) < 1e-4

    logits = SentenceTransformer(str(tmp_path / "sentence-transformers"), device="cpu").encode(texts, convert_to_tensor=True)
    for row, p in zip(ours, torch.softmax(logits, -1).tolist()):
        assert max(abs(row[n] - q) for n, q in zip(names, p)) < 1e-5


@pytest.mark.parametrize("format", ["hf", "sentence-transformers"])
def test_a_houlsby_run_is_refused_by_name_before_it_loads(format, toy_csv, tiny_registry, tmp_path, monkeypatch):
    """Its adapters are hooks on the encoder: hf died loading the folder back (unexpected houlsby.* keys), and
    sentence-transformers dropped them (outputs off by the adapters' whole effect)."""
    import headstart
    from headstart import saved

    headstart.fit(str(toy_csv), "tiny-bert", strategy="houlsby", n=32, config=CFG, out=tmp_path / "houlsby")
    monkeypatch.setattr(saved, "load_run", lambda directory: pytest.fail("loaded before its refusal"))
    with pytest.raises(ConfigError, match=r"\(houlsby\): its bottleneck adapters are forward hooks .* serve it with headstart predict$"):
        headstart.export(tmp_path / "houlsby", tmp_path / "x", format=format)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_runs_card_offers_the_export_only_where_export_writes_the_run(toy_csv, tiny_registry, tmp_path):
    """Every text run's README.md said ``headstart export RUN --format hf``, which export refuses for a houlsby, a
    prompt-tuning or a tfidf-logreg run: the card asks export's own refusal, and the export it offers works."""
    import headstart

    for strategy in ("houlsby", "prompt-tuning", "tfidf-logreg", "full-finetune"):
        headstart.fit(str(toy_csv), "tiny-bert", strategy=strategy, n=32, out=tmp_path / strategy,
                      config=None if strategy == "tfidf-logreg" else CFG)
        card = (tmp_path / strategy / "README.md").read_text()
        assert ("headstart export" in card) == (strategy == "full-finetune"), (strategy, card)
        assert "headstart predict" in card
    with pytest.raises(ConfigError, match=r"\(tfidf-logreg\): its features are TF-IDF counts"):
        headstart.export(tmp_path / "tfidf-logreg", tmp_path / "x")
    headstart.export(tmp_path / "full-finetune", tmp_path / "full-finetune-hf")  # the card's line, as the card has it


def test_a_4bit_runs_card_merges_before_it_exports_and_the_merged_runs_card_exports(tmp_path):
    from headstart.export import refusal
    from headstart.saved import _export_lines

    meta = {"resolved": {"strategy": "qlora", "backbone_config": {}}, "backbone_saved": "adapter"}
    assert "has a 4-bit base; merge it first" in refusal(tmp_path, meta)
    assert _export_lines(tmp_path, meta, run="runs/q", name="runs/q").splitlines()[1:] == [
        "headstart adapters merge runs/q --dequantize --out runs/q-merged   # the adapter folded into an fp32 base",
        "headstart export runs/q-merged --format hf --out runs/q-merged-hf   # a folder transformers loads"]
    merged = {**meta, "backbone_saved": "merged"}  # dequantized: an fp32 encoder, which export writes
    assert refusal(tmp_path, merged) is None
    assert _export_lines(tmp_path, merged, run="runs/q-merged", name="runs/q-merged").splitlines()[1:] == [
        "headstart export runs/q-merged --format hf --out runs/q-merged-hf   # a folder transformers loads"]
