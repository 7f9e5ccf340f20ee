"""headstart export --format onnx: model.onnx run by onnxruntime with the saved tokenizer gives the run's probabilities
at batch sizes and sequence lengths other than the traced ones; without the onnx extra, an existing --out or an export
beyond the tolerance, it is refused in one line and nothing is left behind."""

from __future__ import annotations

import json
import sys

import pytest

from headstart.errors import ConfigError
from headstart.specs import TrainConfig

CFG = TrainConfig(max_steps=12, min_steps=12, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2)
# Lengths from 3 to about 30 tokens: padded batches whose longest row differs from the traced one.
TEXTS = ["good", "bad awful the plot", "it was a film", "good great movie " * 8, "awful", "great acting, dull plot " * 3,
         "fine", "the best film of the year, good great good"]


def onnx_probabilities(folder, texts: list[str], *, batch_size: int):
    """Softmax of model.onnx's logits, as a user runs it (the model card's snippet), ``batch_size`` texts at a time."""
    import numpy as np
    import onnxruntime
    from transformers import AutoTokenizer

    config = json.loads((folder / "config.json").read_text())
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    logits = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=config["max_length"],
                          return_tensors="np")
        logits.append(session.run(["logits"], {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})[0])
    logits = np.concatenate(logits)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True), [config["id2label"][str(i)] for i in range(logits.shape[1])]


@pytest.mark.parametrize("strategy", ["full-finetune", "lora"])
def test_an_onnx_export_gives_the_runs_probabilities_at_any_batch_shape(strategy, toy_csv, tiny_registry, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    import headstart
    from headstart.export import export

    headstart.fit(str(toy_csv), "tiny-bert", strategy=strategy, n=32, config=CFG, out=tmp_path / "run")
    report = export(tmp_path / "run", tmp_path / "onnx", format="onnx")
    assert report.max_abs_diff <= 1e-4 and report.tolerance == 1e-4 and report.inputs > 0
    ours = headstart.predict(tmp_path / "run", TEXTS)
    for batch_size in (len(TEXTS), 3, 1):  # one padded batch, ragged batches (the last one of 2), no padding at all
        theirs, names = onnx_probabilities(tmp_path / "onnx", TEXTS, batch_size=batch_size)
        for row, p in zip(ours, theirs):
            assert max(abs(row["probabilities"][n] - float(q)) for n, q in zip(names, p)) < 1e-4, batch_size
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"] and [o.name for o in graph.output] == ["logits"]
    for i in graph.input:  # both axes named, not fixed to the traced batch of 2
        assert [d.dim_param for d in i.type.tensor_type.shape.dim] == ["batch", "sequence"]
    config = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert config["task"] == "classification" and config["max_length"] == 32 and len(config["id2label"]) == 2
    card = (tmp_path / "onnx" / "README.md").read_text()
    assert f"# {strategy} on" in card and "onnxruntime.InferenceSession" in card and "max_length=32" in card
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "the temp folder is gone"


def test_without_the_onnx_extra_export_says_which_extra_in_one_line(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    import headstart
    from conftest import run_cli

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "run")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "onnx")],
                             monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--format onnx needs the onnx extra: pip install 'headstart[onnx]'" in err and "Traceback" not in err
    assert not (tmp_path / "onnx").exists()
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--inputs", "5", "--out", str(tmp_path / "hf")], monkeypatch, capsys)
    assert code == 0 and "on 5 validation inputs" in out, err  # --inputs reaches the check, as export(inputs=) does


def test_an_onnx_export_onto_an_existing_folder_or_beyond_the_tolerance_is_refused(toy_csv, tiny_registry, tmp_path,
                                                                                    monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    import headstart
    from conftest import run_cli
    from headstart.export import export

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, config=CFG, out=tmp_path / "run")
    capsys.readouterr()  # what the fit said (its leakage warning, to a Python caller) is not export's
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("mine")
    code, out, err = run_cli(["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "taken")],
                             monkeypatch, capsys)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1, err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]
    from headstart import export_onnx

    monkeypatch.setattr(export_onnx, "check_onnx", lambda *args, **kwargs: 0.5)  # an export whose outputs moved
    with pytest.raises(ConfigError, match="differ from the run's by 0.5"):
        export(tmp_path / "run", tmp_path / "strict", format="onnx")
    assert not (tmp_path / "strict").exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_a_minilm_lora_run_exports_to_onnx_within_1e_4(tmp_path):
    """Real data, the real encoder: LoRA on all-MiniLM-L6-v2, 64 rotten-tomatoes reviews, exported to ONNX and checked
    on its 64 validation reviews all at once, in batches of 7 and one by one."""
    pytest.importorskip("onnxruntime")
    import headstart
    from headstart.export import export

    # fp32: headstart predict runs a bf16 run under bf16 autocast, whose outputs move by ~5e-4 with the batch it is in;
    # the export (fp32) is checked against the run's fp32 outputs, and so is predict here.
    headstart.fit("rotten-tomatoes", "all-minilm-l6-v2", strategy="lora", n=64, out=tmp_path / "run",
                  config=TrainConfig(max_steps=20, min_steps=20, precision="fp32"))
    report = export(tmp_path / "run", tmp_path / "onnx", format="onnx")
    assert report.max_abs_diff <= 1e-4 and report.inputs == 64
    config = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert config["id2label"] == {"0": "rotten", "1": "fresh"} and config["max_length"] == 128
    texts = ["a gorgeous, moving film", "tedious and far too long", "not bad at all, if a little slow " * 6]
    theirs, names = onnx_probabilities(tmp_path / "onnx", texts, batch_size=2)
    for row, p in zip(headstart.predict(tmp_path / "run", texts), theirs):
        assert max(abs(row["probabilities"][n] - float(q)) for n, q in zip(names, p)) < 1e-4
