"""Adapter lifecycle: PEFT-format round trips both ways, merge / unmerge equality, refusals, several adapters on one base.

Runs on a tiny real BERT (``conftest.tiny_bert``) and the toy CSV, so PEFT, bitsandbytes and the file formats
are the real ones; ``test_real_*`` repeat the key checks on all-MiniLM-L6-v2 and rotten-tomatoes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from headstart.errors import ConfigError, StoreError
from headstart.loaded import predict_loaded
from headstart.recipe import setup, train
from headstart.saved import save
from headstart.saved import load_run
from headstart.specs import RunSpec, TrainConfig

TEXTS = ["a good movie", "the plot was awful and dull", "story", "superb and lovely film"]
FAST = TrainConfig(max_steps=20, min_steps=20, batch_size=8, precision="fp32", lr=5e-3, head_lr=3e-2, patience=0)


def trained_run(toy_csv, out, strategy="lora", seed=0, options=None):
    spec = RunSpec(data=str(toy_csv), backbone="tiny-bert", strategy=strategy, n=64, seed=seed, options=options or {}, train=FAST)
    s = setup(spec)
    report = train(s)
    assert report.status == "done"
    save(s, report, out)
    return s


def logits(run, texts=TEXTS):
    from headstart.output_checks import logits_of

    return logits_of(run.model, texts)


def plain_peft_logits(peft_model, run_dir, batch) -> torch.Tensor:
    """What a plain-PEFT user computes from a headstart adapter run: masked mean pooling, then the saved head."""
    from safetensors.torch import load_file

    head = load_file(str(run_dir / "weights.safetensors"))
    with torch.no_grad():
        hidden = peft_model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)) @ head["head.weight"].T + head["head.bias"]


@pytest.fixture
def lora_dir(toy_csv, tiny_registry, tmp_path):
    trained_run(toy_csv, tmp_path / "lora")
    return tmp_path / "lora"


def test_lora_run_is_a_peft_adapter_directory(lora_dir, make_tiny_bert):
    from peft import PeftModel
    from safetensors.torch import load_file

    config = json.loads((lora_dir / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and sorted(config["target_modules"]) == ["query", "value"]
    # Plain PEFT loads it onto the plain base model; with the saved head it gives headstart's logits.
    base = make_tiny_bert(0).model
    peft_model = PeftModel.from_pretrained(base, str(lora_dir)).eval()
    head = load_file(str(lora_dir / "weights.safetensors"))
    assert set(head) == {"head.weight", "head.bias", "target_mean", "target_std"}, "weights.safetensors holds the head only"
    run = load_run(lora_dir)
    batch = run.model.backbone.collate(run.model.backbone.encode(TEXTS))
    plain = plain_peft_logits(peft_model, lora_dir, batch)
    assert torch.allclose(plain, logits(run), atol=1e-5)
    # ...and the adapter changed the model: the base alone gives other logits.
    with peft_model.disable_adapter():
        assert not torch.allclose(plain_peft_logits(peft_model, lora_dir, batch), plain, atol=1e-4)


def test_adapter_trained_with_plain_peft_loads_and_merges_into_a_backbone(make_tiny_bert, tiny_registry, tmp_path):
    from peft import LoraConfig, get_peft_model

    from headstart.adapter_info import inspect
    from headstart.adapters import merge_base
    from headstart.backbones.text import load_text_backbone

    torch.manual_seed(1)
    peft_model = get_peft_model(make_tiny_bert(0).model, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                                                                    init_lora_weights=False))  # random B: a visible update
    peft_model.save_pretrained(tmp_path / "plain")
    info = inspect(tmp_path / "plain")
    assert info.kind == "peft" and info.method == "LORA"
    assert info.trainable_params == sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    folder = merge_base(tmp_path / "plain", tmp_path / "merged-backbone", base="tiny-bert")
    merged = load_text_backbone(folder, name="merged")
    batch = merged.collate(merged.encode(TEXTS))
    with torch.no_grad():
        expected = peft_model.eval()(**batch).last_hidden_state
        got = merged.model(**batch).last_hidden_state
    assert torch.allclose(got, expected, atol=1e-5)
    with pytest.raises(ConfigError, match="already exists"):
        merge_base(tmp_path / "plain", folder, base="tiny-bert")


def test_merge_gives_the_same_outputs_and_unmerge_gives_back_the_base(lora_dir, tiny_registry, make_tiny_bert, tmp_path):
    from headstart.adapters import merge, unmerge

    adapter = load_run(lora_dir)
    report = merge(lora_dir, tmp_path / "merged")
    assert report.max_abs_diff <= 1e-4 and report.inputs > 0
    assert report.at_precision is None, "an fp32 run: the fp32 check is what predict gives"
    merged = load_run(tmp_path / "merged")
    assert merged.meta["backbone_saved"] == "merged"
    assert merged.meta["card_path"] == str(tmp_path / "merged"), "the path its card names: its own, not the adapter run's"
    assert not any("lora" in n for n, _ in merged.model.named_parameters()), "merged model is a plain model"
    assert torch.allclose(logits(merged), logits(adapter), atol=1e-4)
    # The merged weights differ from the base exactly in the adapted layers.
    base = make_tiny_bert(0).model.state_dict()
    state = {k.removeprefix("backbone.model."): v for k, v in merged.model.state_dict().items()}
    changed = {k for k, v in base.items() if not torch.equal(state[k], v)}
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed)
    card = (tmp_path / "merged" / "README.md").read_text()
    assert f"The adapter of `{lora_dir}` is merged into the base weights; its outputs match" in card
    assert f"headstart predict {tmp_path / 'merged'} -" in card

    back = unmerge(tmp_path / "merged", tmp_path / "unmerged")
    assert "is merged into" not in (tmp_path / "unmerged" / "README.md").read_text()
    assert back.base_max_abs_diff <= 1e-5 and back.output_max_abs_diff <= 1e-4
    again = load_run(tmp_path / "unmerged")
    assert again.meta["backbone_saved"] == "adapter"
    assert torch.allclose(logits(again), logits(adapter), atol=1e-5)


def test_a_merged_run_does_not_carry_the_test_score_evaluate_wrote_of_its_source(lora_dir, tiny_registry, tmp_path):
    """evaluate writes a classifier's test score into its metrics.json and card; merge copied that metrics.json, so
    the merged run's card quoted a test score its own weights never made (a dequantized merge's outputs differ)."""
    import headstart
    from headstart.adapters import merge

    headstart.evaluate(lora_dir)
    assert "test" in json.loads((lora_dir / "metrics.json").read_text())
    merge(lora_dir, tmp_path / "merged")
    metrics = json.loads((tmp_path / "merged" / "metrics.json").read_text())
    assert "test" not in metrics and metrics["val"] == json.loads((lora_dir / "metrics.json").read_text())["val"]
    assert "Test (scored by" not in (tmp_path / "merged" / "README.md").read_text()
    assert "Test (scored by" in (lora_dir / "README.md").read_text()


def test_a_classifier_merge_says_its_stages_after_its_refusals_and_counts_its_logits(toy_csv, lora_dir, tiny_registry,
                                                                                       tmp_path):
    """An sft / prefer run's merge said each stage with its logits counted; a classifier run's said nothing until its
    last line. It says its stages too, each logits pass counted in inputs, and nothing before a refusal."""
    from headstart.adapters import merge

    told = []
    report = merge(lora_dir, tmp_path / "merged", inputs=70, progress=lambda done, total, info: told.append((done, total, info)))
    stages = [info["stage"] for _, _, info in told if "stage" in info]
    assert stages == ["loading the run", "merging its adapter into the encoder", "saving the merged run"], told
    for what in ("the run's logits", "the merged model's logits"):
        counts = [(done, total) for done, total, info in told if info.get("inputs") == what]
        assert counts[0] == (0, report.inputs) and counts[-1] == (report.inputs, report.inputs), (what, told)
        assert len(counts) == 1 + -(-report.inputs // 64), "counted batch by batch"
    order = [info.get("stage") or info.get("inputs") for _, _, info in told]
    assert order.index("the run's logits") < order.index("merging its adapter into the encoder") < order.index(
        "the merged model's logits") < order.index("saving the merged run")
    trained_run(toy_csv, tmp_path / "prompt", strategy="prompt-tuning")
    told.clear()
    with pytest.raises(ConfigError, match="adds virtual tokens"):
        merge(tmp_path / "prompt", tmp_path / "m", progress=lambda done, total, info: told.append(info))
    assert told == [], "a refusal comes before any stage"


def test_a_run_whose_data_moved_is_merged_and_unmerged_on_fixed_sentences_and_says_so(lora_dir, toy_csv, tmp_path, monkeypatch,
                                                                                   capsys, caplog):
    """The run's CSV moved after training (a run copied to another machine): merge stopped with the loader's 'data file
    not found', never saying why a merge reads data. A text run is checked on the fixed sentences instead, one note names
    the path and the error, and the record, the card and the report say what the check ran on."""
    import logging

    from conftest import run_cli
    from headstart.adapters import unmerge
    from headstart.output_checks import FIXED, FIXED_SENTENCES

    toy_csv.rename(tmp_path / "moved.csv")
    code, out, err = run_cli(["adapters", "merge", str(lora_dir), "--out", str(tmp_path / "merged"), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    assert err.strip().splitlines() == [
        f"note: the run's data {str(toy_csv)!r} cannot be read (data file not found): the merge is checked on "
        f"{len(FIXED_SENTENCES)} fixed sentences instead of its validation rows"], err
    assert f"in fp32 on {len(FIXED_SENTENCES)} fixed sentences (the run's data could not be read)" in out, out
    record = json.loads((tmp_path / "merged" / "spec.json").read_text())["merge"]
    assert record["checked_on"] == FIXED and record["inputs"] == len(FIXED_SENTENCES) and record["max_abs_diff"] <= 1e-4
    assert "fixed sentences (the run's data could not be read)" in (tmp_path / "merged" / "README.md").read_text()
    assert torch.allclose(logits(load_run(tmp_path / "merged")), logits(load_run(lora_dir)), atol=1e-4)
    with caplog.at_level(logging.INFO, logger="headstart"):  # from Python: the same note, through the headstart logger
        back = unmerge(tmp_path / "merged", tmp_path / "unmerged", inputs=3)
    assert back.checked_on == FIXED and back.inputs == 3 and back.output_max_abs_diff <= 1e-4
    said = capsys.readouterr().err + caplog.text  # printed by the CLI's handler the merge above left, and / or captured here
    assert (f"the run's data {str(toy_csv)!r} cannot be read (data file not found): the unmerge is checked on 3 fixed "
            "sentences instead of its validation rows") in said, said


def band_images(folder: Path) -> Path:
    """Two classes of 12x12 grey images, a bright band on the left or the right, 12 of each, as an image folder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("left", "right")):
        (folder / name).mkdir(parents=True)
        for i in range(12):
            image = rng.integers(0, 80, size=(12, 12)).astype(np.uint8)
            image[:, 6 * c: 6 * c + 6] = 220
            Image.fromarray(image).save(folder / name / f"{i}.png")
    return folder


def test_an_image_run_whose_data_moved_is_refused_in_one_line_naming_the_path_why_and_the_fix(tiny_registry, tmp_path,
                                                                                            monkeypatch, capsys):
    """No fixed input stands in for a run's images: merge of a LoRA on a CNN whose image folder moved is refused in one
    line (exit 2), not the loader's bare 'not found' and no traceback, and nothing is written."""
    import headstart
    from conftest import run_cli

    folder = band_images(tmp_path / "bands")
    headstart.fit(str(folder), "tiny-cnn", strategy="lora", n=12, out=tmp_path / "lora",
                  config=TrainConfig(max_steps=2, min_steps=2, batch_size=4, precision="fp32"))
    folder.rename(tmp_path / "moved")
    code, out, err = run_cli(["adapters", "merge", str(tmp_path / "lora"), "--out", str(tmp_path / "merged"), "-q"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().splitlines() == [
        f"error: the run's data {str(folder)!r} cannot be read (data file not found): the merge checks the rewritten model "
        "against the run on its validation images, and no fixed input stands in for images; put the data back at that "
        "path (a link to where it is now will do)"], err
    assert not (tmp_path / "merged").exists()


def test_a_run_whose_data_changed_is_merged_on_fixed_sentences_and_an_image_run_is_refused_in_one_line(
        lora_dir, toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """The run's data still there but changed (rows cut): merge stopped with the splitter's 'has only 5 labelled rows
    ... add rows'. A text run is checked on the fixed sentences with one note naming the file and that it changed; an
    image run whose folder lost images is refused in one line (exit 2) naming the folder, what changed and the fix."""
    import pandas as pd

    import headstart
    from conftest import run_cli
    from headstart.output_checks import CHANGED, FIXED_SENTENCES

    pd.read_csv(toy_csv).head(5).to_csv(toy_csv, index=False)
    code, out, err = run_cli(["adapters", "merge", str(lora_dir), "--out", str(tmp_path / "merged"), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    notes = err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith(f"note: the run's data {str(toy_csv)!r} changed since the run ("), err
    assert notes[0].endswith(f": the merge is checked on {len(FIXED_SENTENCES)} fixed sentences instead of its validation "
                             "rows"), err
    # the line and the card say the data changed, as the note does: it was read, it was not unreadable
    assert f"in fp32 on {len(FIXED_SENTENCES)} fixed sentences (the run's data changed since the run)" in out, out
    assert "fixed sentences (the run's data changed since the run)" in (tmp_path / "merged" / "README.md").read_text()
    assert json.loads((tmp_path / "merged" / "spec.json").read_text())["merge"]["checked_on"] == CHANGED

    folder = band_images(tmp_path / "bands")
    headstart.fit(str(folder), "tiny-cnn", strategy="lora", n=12, out=tmp_path / "cnn",
                  config=TrainConfig(max_steps=2, min_steps=2, batch_size=4, precision="fp32"))
    for i in range(8):
        (folder / "left" / f"{i}.png").unlink()
    code, out, err = run_cli(["adapters", "merge", str(tmp_path / "cnn"), "--out", str(tmp_path / "m2"), "-q"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: the run's data {str(folder)!r} changed since the run ("), err
    assert lines[0].endswith("no fixed input stands in for images; put the data back at that path as the run read it, or "
                             "train again on it as it is now"), err
    assert not (tmp_path / "m2").exists()


def test_a_bf16_run_is_merged_and_checked_in_fp32_and_its_own_precisions_gap_is_measured(toy_csv, tiny_registry, tmp_path, capsys):
    """The merge's arithmetic is checked in fp32; at bf16 (what predict runs) merged and adapter outputs differ by
    rounding, so that gap is measured on the same inputs and said."""
    import dataclasses
    import sys

    from headstart.adapters import merge
    from headstart.cli import main
    from headstart.output_checks import check_texts, logits_of
    from headstart.precision import autocast_for

    spec = RunSpec(data=str(toy_csv), backbone="tiny-bert", strategy="lora", n=64, seed=0,
                   train=dataclasses.replace(FAST, precision="bf16"))
    s = setup(spec)
    save(s, train(s), tmp_path / "bf16")
    report = merge(tmp_path / "bf16", tmp_path / "merged")
    assert report.max_abs_diff <= 1e-4
    gap = report.at_precision
    assert gap is not None and gap.precision == "bf16" and gap.inputs == report.inputs
    adapter, merged = load_run(tmp_path / "bf16"), load_run(tmp_path / "merged")
    (texts, _), bf16 = check_texts(adapter, report.inputs), autocast_for("bf16", torch.device("cpu"))
    theirs, ours = logits_of(merged.model, texts, bf16), logits_of(adapter.model, texts, bf16)
    assert gap.max_abs_diff == pytest.approx(float((theirs - ours).abs().max()))
    assert gap.same_class == int((theirs.argmax(-1) == ours.argmax(-1)).sum())
    assert merged.meta["merge"]["at_precision"]["max_abs_diff"] == gap.max_abs_diff
    # the card says both: evaluate and predict run at bf16, where a row near 0.5 can flip (it said only the fp32 match)
    card = (tmp_path / "merged" / "README.md").read_text()
    assert (f"its outputs match the adapter's to {report.max_abs_diff:.2g} (largest difference) in fp32 on {report.inputs} "
            f"validation inputs; at the run's own precision (bf16, as `headstart predict` and `evaluate` run it) they "
            f"differ by up to {gap.max_abs_diff:.2g}, the same top class on {gap.same_class} of {gap.inputs}: bf16 rounds") in card
    argv = sys.argv
    sys.argv = ["headstart", "adapters", "merge", str(tmp_path / "bf16"), "--out", str(tmp_path / "merged-cli"), "-q"]
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0 and "in fp32 on" in out
    assert err.startswith("note: at the run's own precision (bf16, as predict and evaluate run it) merged and adapter logits differ by up to "), err


def test_evaluate_of_a_merged_bf16_run_notes_the_gap_its_card_states(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """evaluate runs a merged bf16 run at bf16, where its outputs differ from the adapter run's by the gap merge
    measured: said in one note on stderr, as the card and merge say it; --json's stdout stays the JSON alone."""
    import dataclasses

    from conftest import run_cli
    from headstart.adapters import merge

    spec = RunSpec(data=str(toy_csv), backbone="tiny-bert", strategy="lora", n=64, seed=0,
                   train=dataclasses.replace(FAST, precision="bf16"))
    s = setup(spec)
    save(s, train(s), tmp_path / "bf16")
    gap = merge(tmp_path / "bf16", tmp_path / "merged").at_precision

    def evaluate(*flags: str) -> tuple[str, str]:
        capsys.readouterr()
        code, out, err = run_cli(["evaluate", str(tmp_path / "merged"), "-q", *flags], monkeypatch, capsys)
        assert code == 0, err
        return out, err

    out, err = evaluate()
    notes = [line for line in err.splitlines() if "merged" in line]
    assert notes == [f"note: evaluate runs this merged run at its own precision (bf16), where its outputs differ from the "
                     f"adapter run's {gap.text()} (measured by the merge): bf16 rounds the merged weight as one matrix, "
                     "the adapter its parts"], err
    assert out.startswith("test (")
    out, err = evaluate("--json")
    assert "test" in json.loads(out)["split"] and gap.text() in err


def test_predict_of_a_merged_bf16_run_notes_the_gap_evaluate_notes(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """predict runs a merged bf16 run at bf16 too, yet printed none of the note evaluate prints of its gap to the adapter
    run: it prints the same note, naming predict, on stderr; stdout stays the predictions alone."""
    import dataclasses

    from conftest import run_cli
    from headstart.adapters import merge

    spec = RunSpec(data=str(toy_csv), backbone="tiny-bert", strategy="lora", n=64, seed=0,
                   train=dataclasses.replace(FAST, precision="bf16"))
    s = setup(spec)
    save(s, train(s), tmp_path / "bf16")
    gap = merge(tmp_path / "bf16", tmp_path / "merged").at_precision
    texts = tmp_path / "texts.txt"
    texts.write_text("good great film\nbad dull plot\n")
    capsys.readouterr()
    code, out, err = run_cli(["predict", str(tmp_path / "merged"), str(texts), "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert [line for line in err.splitlines() if "merged" in line] == [
        f"note: predict runs this merged run at its own precision (bf16), where its outputs differ from the adapter "
        f"run's {gap.text()} (measured by the merge): bf16 rounds the merged weight as one matrix, the adapter its parts"], err
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["good great film", "bad dull plot"]
    code, out, err = run_cli(["predict", str(tmp_path / "bf16"), str(texts), "-q"], monkeypatch, capsys)
    assert code == 0 and "merged" not in err, err


def test_evaluate_notes_no_merge_gap_where_none_was_measured(tmp_path):
    """An fp32 merged run (no gap at its precision), a run not merged and a folder without a readable spec.json: no note."""
    from headstart.cli.runs import merge_gap_note

    for name, spec in {"fp32": {"merge": {"max_abs_diff": 1e-6, "at_precision": None}}, "plain": {"key": "k"}}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "spec.json").write_text(json.dumps(spec))
        assert merge_gap_note(tmp_path / name, command="evaluate") is None
    assert merge_gap_note(tmp_path / "missing", command="predict") is None


def test_merge_refuses_when_outputs_change_and_writes_nothing(lora_dir, tiny_registry, tmp_path, monkeypatch):
    from peft.tuners.lora import LoraModel

    from headstart.adapters import merge

    real = LoraModel.merge_and_unload

    def broken(self, *args, **kwargs):  # a merge bug that silently changes the model
        model = real(self, *args, **kwargs)
        with torch.no_grad():
            weight = model.encoder.layer[0].attention.self.value.weight
            weight.add_(0.1 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
        return model

    monkeypatch.setattr(LoraModel, "merge_and_unload", broken)
    with pytest.raises(ConfigError, match="differ from the adapter's"):
        merge(lora_dir, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_merge_refusals_name_the_reason(toy_csv, tiny_registry, tmp_path, lora_dir):
    from headstart.adapters import merge

    with pytest.raises(ConfigError, match="already exists"):
        merge(lora_dir, lora_dir)
    trained_run(toy_csv, tmp_path / "prompt", "prompt-tuning", options={"virtual_tokens": 4})
    with pytest.raises(ConfigError, match="virtual tokens"):
        merge(tmp_path / "prompt", tmp_path / "m1")
    trained_run(toy_csv, tmp_path / "houlsby", "houlsby")
    with pytest.raises(ConfigError, match="nonlinear"):
        merge(tmp_path / "houlsby", tmp_path / "m2")
    (tmp_path / "plain").mkdir()  # a folder of neither kind (one beside the output: a folder inside it is refused first)
    with pytest.raises(StoreError, match="neither a headstart run"):
        merge(tmp_path / "plain", tmp_path / "m3")
    assert not any((tmp_path / f"m{i}").exists() for i in (1, 2, 3))


def test_a_run_missing_its_adapter_config_is_named_at_once(lora_dir, tiny_registry, tmp_path):
    """Without adapter_config.json PEFT would take the folder for a hub id and retry a download for ~30 s."""
    import shutil

    import headstart
    from headstart.adapters import merge

    damaged = tmp_path / "damaged"
    shutil.copytree(lora_dir, damaged)
    (damaged / "adapter_config.json").unlink()
    for attempt in (lambda: headstart.evaluate(damaged), lambda: merge(damaged, tmp_path / "m")):
        with pytest.raises(StoreError, match="has no adapter_config.json: its PEFT adapter is missing or incomplete"):
            attempt()
    assert not (tmp_path / "m").exists()


def test_qlora_merge_needs_dequantize(toy_csv, tiny_registry, tmp_path):
    from headstart.adapters import merge
    from headstart.quantize import weight_bytes

    s = trained_run(toy_csv, tmp_path / "qlora", "qlora")
    import bitsandbytes as bnb

    linears = [m for m in s.model.backbone.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linears) == 12, "every linear layer of the 2-layer encoder is 4-bit"
    assert weight_bytes(linears[0]).ratio < 0.2
    with pytest.raises(ConfigError, match="pass dequantize=True to merge into an fp32 copy"):
        merge(tmp_path / "qlora", tmp_path / "merged")
    report = merge(tmp_path / "qlora", tmp_path / "merged", dequantize=True)
    assert report.dequantized and report.max_abs_diff <= 1e-4
    merged = load_run(tmp_path / "merged")
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in merged.model.modules())
    assert torch.allclose(logits(merged), logits(load_run(tmp_path / "qlora")), atol=1e-4)


def test_several_adapters_share_one_base_and_switch_per_call(toy_csv, tiny_registry, tmp_path):
    from headstart.adapter_set import AdapterSet

    trained_run(toy_csv, tmp_path / "a", seed=0)
    trained_run(toy_csv, tmp_path / "b", seed=1, options={"rank": 4})
    alone = {name: predict_loaded(load_run(tmp_path / name), TEXTS) for name in ("a", "b")}
    assert alone["a"] != alone["b"]
    adapters = AdapterSet()
    adapters.add(tmp_path / "a")
    adapters.add(tmp_path / "b", name="default")  # PEFT's own name for the first adapter: must not clash
    assert adapters.names == ["a", "default"]
    assert adapters.runs["a"].model.backbone is adapters.runs["default"].model.backbone, "one base in memory"
    for name, expected in (("default", "b"), ("a", "a"), ("default", "b")):  # switch back and forth
        got = adapters.predict(TEXTS, adapter=name)
        for g, e in zip(got, alone[expected]):
            assert g["label"] == e["label"]
            assert np.allclose(list(g["probabilities"].values()), list(e["probabilities"].values()), atol=1e-5)
    with pytest.raises(ConfigError, match="already loaded"):
        adapters.add(tmp_path / "b", name="default")
    with pytest.raises(ConfigError, match="letters, digits"):
        adapters.add(tmp_path / "b", name="../escape")
    with pytest.raises(ConfigError, match="unknown adapter"):
        adapters.predict(TEXTS, adapter="nope")


def test_adapter_set_checks_every_run_as_loading_one_does(toy_csv, tiny_registry, tmp_path):
    """The runs after the first skipped load_run's checks: a head file with foreign keys gave a random head's answers."""
    import shutil

    from safetensors.torch import load_file, save_file

    from headstart.adapter_set import AdapterSet
    from headstart.errors import StoreError

    trained_run(toy_csv, tmp_path / "a", seed=0)
    for name in ("renamed", "gone"):
        shutil.copytree(tmp_path / "a", tmp_path / name)
    weights = tmp_path / "renamed" / "weights.safetensors"
    save_file({f"x.{k}": v for k, v in load_file(str(weights)).items()}, str(weights))
    (tmp_path / "gone" / "weights.safetensors").unlink()
    adapters = AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(StoreError, match=r"weights.safetensors' does not match its spec \(unexpected \['x\."):
        adapters.add(tmp_path / "renamed")
    with pytest.raises(StoreError, match=r"weights.safetensors' is missing; the run did not finish saving"):
        adapters.add(tmp_path / "gone")
    assert adapters.names == ["a"] and list(adapters.runs["a"].model.backbone.model.peft_config) == ["default"], "nothing half-added"
    adapters.add(tmp_path / "a", name="again")  # the set still takes a good run
    assert adapters.predict(TEXTS, adapter="again") == adapters.predict(TEXTS, adapter="a")


def test_adapter_set_refuses_a_different_base(toy_csv, tiny_registry, tmp_path):
    from headstart.adapter_set import AdapterSet

    trained_run(toy_csv, tmp_path / "a")
    trained_run(toy_csv, tmp_path / "q", "qlora")
    adapters = AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"different base than .*a' \(4-bit True vs False\), .*its own AdapterSet$"):
        adapters.add(tmp_path / "q")


def test_cli_lists_shows_merges_and_predicts_with_a_chosen_adapter(toy_csv, tiny_registry, tmp_path):
    from typer.testing import CliRunner

    from headstart.cli import app

    trained_run(toy_csv, tmp_path / "runs" / "a", seed=0)
    trained_run(toy_csv, tmp_path / "runs" / "b", seed=1)
    runner = CliRunner()
    listed = runner.invoke(app, ["adapters", "list", str(tmp_path / "runs"), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["kind"] for r in rows] == ["headstart-peft"] * 2 and all(r["adapter_bytes"] > 0 for r in rows)
    (tmp_path / "runs" / "ft").mkdir()
    trained_run(toy_csv, tmp_path / "runs" / "ft", "bitfit")
    text = runner.invoke(app, ["adapters", "list", str(tmp_path / "runs")]).output.splitlines()
    assert text[-1] == "3 listed (1 headstart, 2 headstart-peft)", text
    assert len({line.index(" headstart") for line in text[:-1]}) == 1, "the columns line up"
    assert all(line.endswith(" kB") for line in text[:-1]), text
    assert [line.split()[2] for line in text[:-1]] == ["lora", "lora", "bitfit"], "strategy names, one case, as headstart spells them"
    shown = runner.invoke(app, ["adapters", "show", str(tmp_path / "runs" / "a")])
    assert shown.exit_code == 0 and "LORA" in shown.output
    merged = runner.invoke(app, ["adapters", "merge", str(tmp_path / "runs" / "a"), "--out", str(tmp_path / "m")])
    assert merged.exit_code == 0 and "max |merged - adapter|" in merged.output, merged.output
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    got = runner.invoke(app, ["predict", str(tmp_path / "runs" / "a"), str(tmp_path / "in.txt"),
                              "--adapter-dir", f"other={tmp_path / 'runs' / 'b'}", "--adapter", "other"])
    assert got.exit_code == 0, got.output
    expected = predict_loaded(load_run(tmp_path / "runs" / "b"), TEXTS)
    assert [json.loads(line)["label"] for line in got.output.splitlines()] == [e["label"] for e in expected]


@pytest.mark.parametrize("strategy", ["lora", "bitfit"])
def test_listed_size_is_the_reports_saved_size(toy_csv, tiny_registry, tmp_path, strategy):
    """A LoRA run's report said 298 kB and adapters list 301.6 kB: the list counted the files, headers and all, the
    report the tensors. Both count the tensors now."""
    from headstart.adapter_info import inspect
    from headstart.saved import backbone_saved, saved_bytes

    spec = RunSpec(data=str(toy_csv), backbone="tiny-bert", strategy=strategy, n=64, seed=0, train=FAST)
    s = setup(spec)
    report = train(s)
    save(s, report, tmp_path / "run")
    reported = saved_bytes(s.model, report, backbone_saved(s, report))
    files = sum(p.stat().st_size for p in (tmp_path / "run").glob("*.safetensors"))
    assert inspect(tmp_path / "run").adapter_bytes == reported < files


def test_cli_show_and_json_print_labels_as_written(monkeypatch, capsys, tmp_path):
    """adapters show printed ["tr\\u00e8s bien \\ud83d\\udc4d", ...]; --json too (valid, but not readable)."""
    from conftest import run_cli

    import headstart.adapter_info as adapter_info

    class Shown:
        def to_dict(self):
            return {"labels": ["not good", "très bien 👍"], "size": "12 kB"}

    monkeypatch.setattr(adapter_info, "inspect", lambda directory: Shown())
    code, out, _ = run_cli(["adapters", "show", str(tmp_path)], monkeypatch, capsys)
    assert code in (0, None) and 'labels: ["not good", "très bien 👍"]' in out.splitlines(), out
    code, out, _ = run_cli(["adapters", "show", str(tmp_path), "--json"], monkeypatch, capsys)
    assert code in (0, None) and '"très bien 👍"' in out and json.loads(out)["labels"][1] == "très bien 👍", out


def test_plain_peft_adapter_folder_works_as_a_backbone(make_tiny_bert, tmp_path):
    from peft import LoraConfig, get_peft_model

    from headstart.backbones import load_backbone
    from headstart.errors import BackboneError

    base = make_tiny_bert(0)
    base.model.save_pretrained(tmp_path / "base", safe_serialization=True)
    base.tokenizer.save_pretrained(tmp_path / "base")
    torch.manual_seed(2)
    peft_model = get_peft_model(load_backbone(str(tmp_path / "base")).model,
                                LoraConfig(r=4, target_modules=["query", "value"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    backbone = load_backbone(str(tmp_path / "adapter"))
    batch = backbone.collate(backbone.encode(TEXTS))
    with torch.no_grad():
        assert torch.allclose(backbone.model(**batch).last_hidden_state, peft_model.eval()(**batch).last_hidden_state, atol=1e-5)
    (tmp_path / "adapter" / "adapter_model.safetensors").unlink()
    with pytest.raises(BackboneError, match="adapter_model.bin is not loaded"):
        load_backbone(str(tmp_path / "adapter"))


@pytest.mark.slow
def test_real_lora_round_trips_through_plain_peft_and_merges(tmp_path):
    """all-MiniLM-L6-v2 on rotten-tomatoes: the saved adapter loads in plain PEFT on the plain AutoModel."""
    from peft import PeftModel
    from transformers import AutoModel

    from headstart.adapters import merge
    from headstart.backbones.registry import _minilm_dir

    spec = RunSpec(strategy="lora", n=32, seed=0, train=TrainConfig(max_steps=6, min_steps=6, evals_per_phase=1))
    s = setup(spec)
    report = train(s)
    save(s, report, tmp_path / "lora")
    assert (tmp_path / "lora" / "adapter_model.safetensors").stat().st_size < 1_000_000, "adapter-only, not the base"
    run = load_run(tmp_path / "lora")
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(_minilm_dir()), str(tmp_path / "lora")).eval()
    batch = run.model.backbone.collate(run.model.backbone.encode(TEXTS))
    assert torch.allclose(plain_peft_logits(peft_model, tmp_path / "lora", batch), logits(run), atol=1e-5)
    result = merge(tmp_path / "lora", tmp_path / "merged")
    assert result.max_abs_diff <= 1e-4


def test_a_damaged_adapter_file_is_named_by_show_and_by_loading(lora_dir, tiny_registry, tmp_path):
    """adapter_model.safetensors overwritten: `adapters show` and evaluate both say the file is corrupt, no traceback."""
    import shutil

    import headstart
    from headstart.adapter_info import inspect

    damaged = tmp_path / "damaged"
    shutil.copytree(lora_dir, damaged)
    (damaged / "adapter_model.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(StoreError, match="adapter_model.safetensors.*the file is corrupt; train the run again"):
        inspect(damaged)
    with pytest.raises(StoreError, match=r"cannot read .*damaged/adapter_model.safetensors.*the file is corrupt; train the run again"):
        headstart.evaluate(damaged)


def test_a_run_on_a_backbone_folder_whose_weights_changed_is_refused(make_tiny_bert, toy_csv, tmp_path):
    """A head fitted on one set of weights is wrong on another: loading says so, naming both fingerprints."""
    import headstart

    base = make_tiny_bert(0)
    folder = tmp_path / "encoder"
    base.model.save_pretrained(folder, safe_serialization=True)
    base.tokenizer.save_pretrained(folder)
    lp = headstart.fit(str(toy_csv), str(folder), strategy="linear-probe", n=32, out=tmp_path / "lp",
                       config=TrainConfig(precision="fp32"))
    headstart.fit(str(toy_csv), str(folder), strategy="full-finetune", n=32, out=tmp_path / "ft",
                  config=TrainConfig(max_steps=2, min_steps=2, precision="fp32"))
    # on the weights it trained on, the saved probe scores what it scored in training
    assert headstart.evaluate(tmp_path / "lp", "val")["accuracy"] == pytest.approx(lp.val_metrics["accuracy"])
    ft = {k: v for k, v in headstart.evaluate(tmp_path / "ft").items() if isinstance(v, float)}
    make_tiny_bert(1).model.save_pretrained(folder, safe_serialization=True)  # other weights under the same path
    with pytest.raises(StoreError, match=r"holds other weights than when .*lp.* trained \(fingerprint \w+ then, \w+ now\)"):
        headstart.evaluate(tmp_path / "lp")
    # a run holding every backbone weight does not need the folder's: it scores as it did before they changed
    assert {k: v for k, v in headstart.evaluate(tmp_path / "ft").items() if isinstance(v, float)} == ft


def test_merge_refuses_options_that_do_not_apply_instead_of_ignoring_them(lora_dir, make_tiny_bert, tiny_registry, tmp_path,
                                                                            monkeypatch, capsys):
    """--base on a headstart run, --tolerance / --inputs / --dequantize on a plain PEFT adapter, --dequantize on a run
    without a 4-bit base: each was dropped silently, and the merge reported success."""
    from peft import LoraConfig, get_peft_model

    from conftest import run_cli
    from headstart.adapters import merge

    get_peft_model(make_tiny_bert(0).model, LoraConfig(r=4, target_modules=["query", "value"])).save_pretrained(tmp_path / "plain")
    cases = [([str(lora_dir), "--base", "tiny-bert"], "--base is for a plain PEFT adapter"),
             ([str(tmp_path / "plain"), "--tolerance", "1e-3"], "--tolerance applies to a headstart run's merge"),
             ([str(tmp_path / "plain"), "--inputs", "8", "--dequantize"], "--dequantize, --inputs apply to a headstart run's merge"),
             ([str(lora_dir), "--dequantize"], "--dequantize is for a run trained on a 4-bit base (qlora)")]
    for args, text in cases:
        code, out, err = run_cli(["adapters", "merge", *args, "--out", str(tmp_path / "merged")], monkeypatch, capsys)
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1, (args, err)
        assert not (tmp_path / "merged").exists()
    with pytest.raises(ConfigError, match=r"^dequantize=True is for a run trained on a 4-bit base .*: drop dequantize=True$"):
        merge(lora_dir, tmp_path / "merged", dequantize=True)  # from Python: its argument, not the CLI's flag
    code, out, err = run_cli(["adapters", "merge", str(lora_dir), "--inputs", "8", "--out", str(tmp_path / "merged")], monkeypatch, capsys)
    assert code == 0 and "on 8 validation inputs" in out, err


def test_peft_is_never_handed_a_damaged_adapter(lora_dir, tmp_path):
    """unmerge, generate and prefer --sft handed PEFT a truncated adapter_model.safetensors or a broken
    adapter_config.json, and showed its traceback (SafetensorError, JSONDecodeError): ``saved_adapter`` reads both
    first, for every loader."""
    import shutil

    from headstart.strategies.peft_base import saved_adapter

    assert saved_adapter(lora_dir) == str(lora_dir)
    truncated = tmp_path / "truncated"
    shutil.copytree(lora_dir, truncated)
    (truncated / "adapter_model.safetensors").write_bytes((lora_dir / "adapter_model.safetensors").read_bytes()[:100])
    with pytest.raises(StoreError, match=r"cannot read .*adapter_model.safetensors' \(\w+\): the file is corrupt"):
        saved_adapter(truncated)
    broken = tmp_path / "broken"
    shutil.copytree(lora_dir, broken)
    (broken / "adapter_config.json").write_text('{"r": 4,')
    with pytest.raises(StoreError, match=r"cannot read .*adapter_config.json' \(JSONDecodeError\): the file is corrupt"):
        saved_adapter(broken)


def test_a_folder_listing_marks_a_damaged_run_and_goes_on(lora_dir, tmp_path):
    """`adapters list FOLDER` stopped at the first damaged run; it is listed as damaged, with why, and the rest too."""
    import shutil

    from headstart.adapter_info import find

    folder = tmp_path / "runs"
    shutil.copytree(lora_dir, folder / "a-good")
    shutil.copytree(lora_dir, folder / "b-damaged")
    (folder / "b-damaged" / "adapter_model.safetensors").write_bytes(b"\x00" * 40)
    good, damaged = find(folder)
    assert good.kind == "headstart-peft" and damaged.kind == "damaged"
    assert "the file is corrupt" in damaged.config["error"]
    with pytest.raises(StoreError, match="the file is corrupt"):  # named directly, it is still an error
        find(folder / "b-damaged")


def test_a_listing_with_damaged_runs_lists_the_rest_and_exits_2(lora_dir, tmp_path, monkeypatch, capsys):
    """`adapters list FOLDER` showed a damaged run's line and exited 0: a script saw no failure. It still lists every
    run, then exits 2 (a StoreError, as `adapters list` of that run alone: the run folder is damaged, not a training
    that failed, which is exit 1) with a last line naming the damaged folder and why, in --json too."""
    import shutil

    from conftest import run_cli

    folder = tmp_path / "runs"
    for name in ("a-good", "b-corrupt", "c-missing"):
        shutil.copytree(lora_dir, folder / name)
    (folder / "b-corrupt" / "adapter_model.safetensors").write_bytes(b"\x00" * 40)
    (folder / "c-missing" / "adapter_config.json").unlink()
    code, out, err = run_cli(["adapters", "list", str(folder)], monkeypatch, capsys)
    rows = out.splitlines()
    assert code == 2 and rows[-1] == "3 listed (2 damaged, 1 headstart-peft)", out
    assert "headstart-peft" in rows[0] and "the file is corrupt" in rows[1] and "has no adapter_config.json" in rows[2]
    assert err == (f"error: 2 of the 3 listed are damaged: the first, '{folder / 'b-corrupt'}': "
                   f"cannot read '{folder / 'b-corrupt' / 'adapter_model.safetensors'}' (SafetensorError): the file is corrupt; train the run again\n")
    code, out, err = run_cli(["adapters", "list", str(folder), "--json"], monkeypatch, capsys)
    assert code == 2 and [r["kind"] for r in json.loads(out)] == ["headstart-peft", "damaged", "damaged"] and err.startswith("error: 2 of")
    code, out, err = run_cli(["adapters", "list", str(folder / "c-missing")], monkeypatch, capsys)  # named alone: an error, one line
    assert code == 2 and out == "" and err.startswith(f"error: '{folder / 'c-missing'}' has no adapter_config.json")


def test_a_listing_counts_its_damaged_runs_once(tmp_path, monkeypatch, capsys):
    """`adapters list` of 6 with 3 damaged said "3 of the 6 listed are damaged (and 2 more, marked damaged)", read as 5:
    the count is said once, and the run it quotes is the first of them."""
    from conftest import run_cli

    from headstart.adapter_info import AdapterInfo

    infos = [AdapterInfo(str(tmp_path / f"r{i}"), "damaged", None, None, None, config={"error": "bad"}) for i in range(3)]
    infos += [AdapterInfo(str(tmp_path / f"s{i}"), "headstart", "bitfit", "bitfit", "tiny") for i in range(3)]
    monkeypatch.setattr("headstart.adapter_info.find", lambda paths: infos)
    code, out, err = run_cli(["adapters", "list", str(tmp_path)], monkeypatch, capsys)
    assert code == 2 and err == f"error: 3 of the 6 listed are damaged: the first, '{tmp_path / 'r0'}': bad\n", err
    assert "more" not in err


def test_adapters_show_and_list_refuse_what_predict_refuses_and_no_more(lora_dir, tmp_path, monkeypatch, capsys):
    """`adapters show` called a LoRA run without adapter_config.json healthy (exit 0, its options shown as its config)
    though predict refuses it; `adapters list` called a run without metrics.json damaged though predict loads it. Both
    now reach predict's verdict: the first is damaged, the second usable, with a note that its scores are unknown."""
    import shutil

    from conftest import run_cli

    folder = tmp_path / "runs"
    shutil.copytree(lora_dir, folder / "no-config")
    shutil.copytree(lora_dir, folder / "no-metrics")
    (folder / "no-config" / "adapter_config.json").unlink()
    (folder / "no-metrics" / "metrics.json").unlink()
    rows = tmp_path / "rows.csv"
    rows.write_text("text\ngreat movie\n")
    said = f"'{folder / 'no-config'}' has no adapter_config.json: its PEFT adapter is missing or incomplete"
    code, out, err = run_cli(["predict", str(folder / "no-config"), str(rows)], monkeypatch, capsys)
    assert code == 2 and err.startswith(f"error: {said}"), err
    code, out, err = run_cli(["adapters", "show", str(folder / "no-config")], monkeypatch, capsys)
    assert code == 2 and out == "" and err.startswith(f"error: {said}"), (out, err)
    code, out, err = run_cli(["predict", str(folder / "no-metrics"), str(rows)], monkeypatch, capsys)
    assert code in (0, None), err
    code, out, err = run_cli(["adapters", "show", str(folder / "no-metrics")], monkeypatch, capsys)
    assert code in (0, None) and "kind: headstart-peft" in out and "metrics.json' is missing" in out, (out, err)
    code, out, err = run_cli(["adapters", "list", str(folder)], monkeypatch, capsys)
    lines = out.splitlines()
    assert code == 2 and lines[-1] == "2 listed (1 damaged, 1 headstart-peft)", out
    assert "has no adapter_config.json" in lines[0] and "(note: " in lines[1] and "predict, merge and export still work" in lines[1]


def test_adapters_functions_from_python_name_their_arguments_not_the_clis_flags(tmp_path):
    """headstart.adapters.merge(..., tolerance=-1) was told "--tolerance"; fit and compare speak Python, these did not."""
    from headstart import adapters
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^tolerance is the largest output difference accepted, a number >= 0; got -1; "
                                          r"e\.g\. tolerance=1e-4$"):
        adapters.merge(tmp_path / "nope", tmp_path / "out", tolerance=-1)
    with pytest.raises(ConfigError, match=r"^inputs must be a positive number .* e\.g\. inputs=64$"):
        adapters.unmerge(tmp_path / "nope", tmp_path / "out", inputs=0)
    with pytest.raises(ConfigError, match=r"^dequantize must be True or False, got str 'yes'"):
        adapters.merge(tmp_path / "nope", tmp_path / "out", dequantize="yes")


def test_unmerge_help_says_it_takes_a_merged_classifier_run_and_readme_says_list_leaves_out_sft_and_prefer(monkeypatch, capsys):
    """unmerge --help said it takes 'a run directory written by headstart adapters merge', and refused a merged sft /
    prefer run that merge wrote; README showed adapters list without saying it leaves sft / prefer LoRA runs out."""
    from conftest import run_cli

    code, out, _ = run_cli(["adapters", "unmerge", "--help"], monkeypatch, capsys)
    said = " ".join(out.replace("│", " ").split())
    assert code == 0 and "A classifier run directory written by 'headstart adapters merge'" in said, said
    assert "a merged sft / prefer run is refused" in said
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    listed = next(i for i, line in enumerate(readme.splitlines()) if line.startswith("headstart adapters list"))
    shown = " ".join(line.split("#", 1)[-1].strip() for line in readme.splitlines()[listed : listed + 4])
    assert "sft / prefer LoRA runs are left out" in shown, shown


@pytest.mark.parametrize("damage", ["no-adapter", "bin-adapter", "no-head"])
def test_a_run_missing_a_weight_file_is_listed_and_shown_as_damaged_as_predict_refuses_it(lora_dir, tmp_path, monkeypatch,
                                                                                          capsys, damage):
    """`adapters list` / `show` of a run whose adapter_model.safetensors was removed (or swapped for a .bin), or whose
    weights.safetensors was, printed a normal row and exited 0, while predict refused it: both now name the file."""
    import shutil

    from conftest import run_cli

    folder = tmp_path / "runs"
    shutil.copytree(lora_dir, folder / "a-good")
    run = folder / "b-damaged"
    shutil.copytree(lora_dir, run)
    gone = "weights.safetensors" if damage == "no-head" else "adapter_model.safetensors"
    (run / gone).unlink()
    if damage == "bin-adapter":
        (run / "adapter_model.bin").write_bytes(b"not loaded")
    said = f"{str(run / gone)!r} is missing"
    for command in (["adapters", "list", str(run)], ["adapters", "show", str(run)]):
        code, out, err = run_cli(command, monkeypatch, capsys)
        assert code == 2 and out == "" and err.startswith(f"error: {said}") and len(err.splitlines()) == 1, (command, out, err)
        assert ("adapter_model.bin is pickle-based" in err) == (damage == "bin-adapter"), err
    code, out, err = run_cli(["adapters", "list", str(folder)], monkeypatch, capsys)
    rows = out.splitlines()
    assert code == 2 and "headstart-peft" in rows[0] and "damaged" in rows[1] and said in rows[1], out
    assert rows[-1] == "2 listed (1 damaged, 1 headstart-peft)" and said in err, err


def lm_run(folder: Path, kind: str, strategy: str, *, merged: bool = False) -> Path:
    """A synthetic sft / prefer run folder holding the files its kind saves (its weights one small tensor: the listing
    reads a safetensors file's header, not what the tensors say)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    spec = {"kind": kind, "strategy": strategy, "backbone": "tiny-lm", **({"merged": {"from": "runs/x"}} if merged else {})}
    (folder / "spec.json").write_text(json.dumps(spec))
    (folder / "metrics.json").write_text(json.dumps({"status": "done"}))
    for name in (["config.json", "model.safetensors"] if strategy == "full-finetune" or merged else
                 ["adapter_config.json", "adapter_model.safetensors"]):
        if name.endswith(".safetensors"):
            save_file({"weight": torch.zeros(4, 4)}, str(folder / name))
        else:
            (folder / name).write_bytes(b"{}")
    return folder


@pytest.mark.parametrize("kind, strategy, merged, gone", [("sft", "lora", False, "adapter_model.safetensors"),
                                                          ("prefer", "qlora", False, "adapter_config.json"),
                                                          ("sft", "full-finetune", False, "model.safetensors"),
                                                          ("prefer", "lora", True, "model.safetensors")])
def test_an_sft_or_prefer_run_missing_a_weight_file_is_listed_as_damaged_not_passed_over(tmp_path, monkeypatch, capsys,
                                                                                         kind, strategy, merged, gone):
    """`adapters list runs/` passed over an sft / prefer run before its files were checked: one whose
    adapter_model.safetensors was deleted was named among the runs to generate from, exit 0, where a classifier run
    missing it is listed as damaged, exit 2. It is now listed as damaged too; a whole one is still passed over."""
    from conftest import run_cli

    from headstart.llm.runs import load_run as load_lm_run

    folder = tmp_path / "runs"
    whole = lm_run(folder / "a-whole", kind, strategy, merged=merged)
    run = lm_run(folder / "b-damaged", kind, strategy, merged=merged)
    (run / gone).unlink()
    said = f"{str(run / gone)!r} is missing; the run did not finish saving, train it again"
    code, out, err = run_cli(["adapters", "list", str(folder)], monkeypatch, capsys)
    rows = out.splitlines()
    assert code == 2 and "damaged" in rows[0] and said in rows[0] and rows[1] == "1 listed (1 damaged)", out
    assert rows[2].startswith(f"not listed: 1 sft / prefer run(s), causal LMs generated from rather than adapters of a "
                              f"classifier ({whole}); "), out
    assert err == f"error: 1 of the 1 listed is damaged: '{run}': {said}\n", err
    for command in (["adapters", "list", str(run)], ["adapters", "show", str(run)]):  # named alone: an error, one line
        code, out, err = run_cli(command, monkeypatch, capsys)
        assert (code, out, err) == (2, "", f"error: {said}\n"), command
    with pytest.raises(StoreError) as caught:  # loading it (generate, evaluate, export, merge) refuses it by the same check
        load_lm_run(run)
    assert str(caught.value) == said


@pytest.mark.parametrize("kind, strategy, merged, cut", [("sft", "lora", False, "adapter_model.safetensors"),
                                                         ("prefer", "full-finetune", False, "model.safetensors"),
                                                         ("prefer", "lora", True, "model.safetensors")])
def test_an_sft_or_prefer_runs_truncated_weights_are_listed_as_damaged(tmp_path, monkeypatch, capsys, kind, strategy, merged,
                                                                       cut):
    """`adapters list / show` checked that an sft / prefer run's weight files exist, not that they read: one whose
    adapter_model.safetensors (or model.safetensors) was cut short was passed over as whole, exit 0. Its header is now
    read as a classifier run's is: listed as damaged, and named alone exit 2 with one line."""
    from conftest import run_cli

    folder = tmp_path / "runs"
    whole = lm_run(folder / "a-whole", kind, strategy, merged=merged)
    run = lm_run(folder / "b-cut", kind, strategy, merged=merged)
    (run / cut).write_bytes((run / cut).read_bytes()[:-8])
    said = "the file is corrupt; train the run again"
    code, out, err = run_cli(["adapters", "list", str(folder)], monkeypatch, capsys)
    rows = out.splitlines()
    assert code == 2 and "damaged" in rows[0] and said in rows[0] and rows[1] == "1 listed (1 damaged)", out
    assert str(whole) in rows[2] and str(run) not in rows[2], out
    for command in (["adapters", "list", str(run)], ["adapters", "show", str(run)]):
        code, out, err = run_cli(command, monkeypatch, capsys)
        assert (code, out) == (2, "") and err == f"error: cannot read {str(run / cut)!r} (SafetensorError): {said}\n", (command, err)


def test_a_path_that_does_not_exist_or_an_export_is_said_as_such_not_as_neither_run_nor_adapter(lora_dir, tmp_path, monkeypatch,
                                                                                                  capsys):
    """`adapters merge runs/nope`, `--adapter-dir runs/nope` and AdapterSet().add('runs/nope') said "neither a headstart
    run (spec.json) nor a PEFT adapter", as did an export's folder: the first does not exist, the second is an export."""
    import headstart
    from conftest import assert_user_error, run_cli

    nope = tmp_path / "nope"
    (tmp_path / "in.txt").write_text("a good movie\n")
    with pytest.raises(StoreError) as caught:
        headstart.AdapterSet().add(nope)
    assert str(caught.value) == f"{str(nope)!r} does not exist; pass the folder headstart.fit(..., out=DIR) saved"
    for command in (["adapters", "merge", str(nope), "--out", str(tmp_path / "m")], ["adapters", "show", str(nope)],
                    ["predict", str(lora_dir), str(tmp_path / "in.txt"), "--adapter-dir", str(nope)]):
        assert_user_error(run_cli(command, monkeypatch, capsys), f"{str(nope)!r} does not exist; pass the --out directory of 'headstart train'")
    exported = tmp_path / "exp" / "lora-hf"
    headstart.export(lora_dir, exported, format="hf", inputs=4)
    capsys.readouterr()  # its progress
    for command in (["adapters", "merge", str(exported), "--out", str(tmp_path / "m")], ["adapters", "show", str(exported)],
                    ["predict", str(lora_dir), str(tmp_path / "in.txt"), "--adapter-dir", str(exported)]):
        assert_user_error(run_cli(command, monkeypatch, capsys), f"{str(exported)!r} is an export of a run",
                          "not a run; pass the run folder it was exported from: the --out directory of 'headstart train'")
    assert not (tmp_path / "m").exists()


def test_a_folder_of_exports_is_not_listed_silently(lora_dir, tmp_path, monkeypatch, capsys):
    """`adapters list exp/` of a folder holding exports printed "0 listed", exit 0, saying nothing of what it passed
    over: a line now counts and names the exports, and an export named alone is said to be one."""
    import shutil

    import headstart
    from conftest import assert_user_error, run_cli

    exp = tmp_path / "exp"
    headstart.export(lora_dir, exp / "lora-hf", format="hf", inputs=4)
    capsys.readouterr()  # its progress
    code, out, err = run_cli(["adapters", "list", str(exp)], monkeypatch, capsys)
    assert code == 0 and out.splitlines() == [
        "0 listed", f"not listed: 1 export(s) of runs, folders other libraries load rather than runs ({exp / 'lora-hf'}); "
        "list the run folders they were exported from (headstart train --out)"], out
    shutil.copytree(lora_dir, exp / "lora")
    code, out, _ = run_cli(["adapters", "list", str(exp)], monkeypatch, capsys)
    assert code == 0 and out.splitlines()[1:] == ["1 listed (1 headstart-peft)", f"not listed: 1 export(s) of runs, folders "
                                                  f"other libraries load rather than runs ({exp / 'lora-hf'}); list the run "
                                                  "folders they were exported from (headstart train --out)"], out
    assert_user_error(run_cli(["adapters", "list", str(exp / "lora-hf")], monkeypatch, capsys), "is an export of a run")
