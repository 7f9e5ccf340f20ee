"""Safety: nothing is unpickled, nothing touches the network at run time, names headstart turns into paths stay
in their directory, and the same spec and seed give the same numbers.

The malicious checkpoints are real exploits: unpickling them creates a marker file (checked once, deliberately,
on a copy). Every test asserts that headstart refuses them by name and the marker never appears.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

import headstart
from headstart.errors import ConfigError, HeadstartError, StoreError
from headstart.specs import TrainConfig
from test_sweep import tiny_backbone  # noqa: F401  (a fixture: a tiny real BERT folder)

PACKAGE = Path(__file__).resolve().parents[1] / "headstart"
FAST = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32", lr=5e-3, head_lr=3e-2, patience=0)


class _Exploit:
    """Unpickling this creates ``marker``: what a hostile ``pytorch_model.bin`` would do (run any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_exploit(path: Path, marker: Path) -> Path:
    """A pickle at ``path`` that creates ``marker`` when loaded; proven live on a copy first."""
    probe = marker.with_name(marker.name + ".probe")
    payload = pickle.dumps(_Exploit(probe), protocol=2)
    pickle.loads(payload).close()  # the exploit works: loading it runs code
    assert probe.exists()
    probe.unlink()
    path.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
    return path


cli = run_cli  # headstart ARGS in process (tests/conftest.py)


def assert_refused(result: tuple[int, str, str], *fragments: str) -> None:
    code, out, err = result
    assert code == 2 and err.startswith("error: ") and "Traceback" not in out + err, (code, out, err)
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# ---- (a) no pickles --------------------------------------------------------------------------------------


def test_pickle_backbone_is_refused_and_never_run(toy_csv, tmp_path, monkeypatch, capsys):
    from headstart.backbones.registry import _minilm_dir

    folder = tmp_path / "evil-model"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).write_bytes((_minilm_dir() / name).read_bytes())
    marker = tmp_path / "pwned"
    write_exploit(folder / "pytorch_model.bin", marker)
    for command in (["train", "--quiet", "--data", str(toy_csv), "--backbone", str(folder), "--out", str(tmp_path / "run")],
                    ["compare", "--quiet", "--data", str(toy_csv), "--backbone", str(folder), "--sizes", "8", "--seeds", "1",
                     "--out", str(tmp_path / "cmp")]):
        assert_refused(cli(command, monkeypatch, capsys), "pytorch_model.bin", "pickle")
        assert not marker.exists()


def test_pickle_adapter_is_refused_and_never_run(tmp_path, monkeypatch, capsys):
    adapter = tmp_path / "evil-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "target_modules": ["query"],
                                                              "base_model_name_or_path": "all-minilm-l6-v2"}))
    marker = tmp_path / "pwned"
    write_exploit(adapter / "adapter_model.bin", marker)
    assert_refused(cli(["adapters", "show", str(adapter)], monkeypatch, capsys), "adapter_model.bin", "pickle")
    code, out, err = cli(["adapters", "list", str(tmp_path)], monkeypatch, capsys)  # a folder's listing goes on past it
    assert code == 2 and "Traceback" not in out + err and "evil-adapter' has adapter_config.json" in err  # then says it
    assert "evil-adapter  damaged" in out and "adapter_model.bin is pickle-based and is not loaded" in out, out
    assert_refused(cli(["adapters", "merge", str(adapter), "--out", str(tmp_path / "merged")], monkeypatch, capsys), "adapter_model.bin")
    assert not marker.exists() and not (tmp_path / "merged").exists()


def test_run_whose_adapter_was_swapped_for_a_pickle_is_refused(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """A LoRA run directory (PEFT format) with its safetensors adapter replaced by a pickle: as the run to predict
    with, and as a second adapter sharing the base (``--adapter-dir``, where PEFT's own loader would look for .bin)."""
    for name in ("a", "b"):
        headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, seed=0, out=tmp_path / name, config=FAST)
    marker = tmp_path / "pwned"
    (tmp_path / "b" / "adapter_model.safetensors").unlink()
    write_exploit(tmp_path / "b" / "adapter_model.bin", marker)
    (tmp_path / "in.txt").write_text("a good movie\n")
    capsys.readouterr()  # what the fits said (a leakage warning, to a Python caller) is not predict's
    assert_refused(cli(["predict", str(tmp_path / "b"), str(tmp_path / "in.txt")], monkeypatch, capsys), "adapter_model.safetensors")
    adapters = headstart.AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(StoreError, match="adapter_model.safetensors"):  # refused by name before PEFT could fall back to the .bin
        adapters.add(tmp_path / "b")
    assert not marker.exists()


def test_second_adapter_swapped_for_a_pickle_is_refused_by_name(toy_csv, tiny_registry, tmp_path):
    for name in ("a", "b"):
        headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, seed=0, out=tmp_path / name, config=FAST)
    (tmp_path / "b" / "adapter_model.safetensors").unlink()
    write_exploit(tmp_path / "b" / "adapter_model.bin", tmp_path / "pwned")
    adapters = headstart.AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(HeadstartError, match="adapter_model.safetensors"):
        adapters.add(tmp_path / "b")


def _calls(tree: ast.AST, dotted: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == dotted]


def test_the_package_never_unpickles():
    """Source check: no pickle-family import anywhere; every ``torch.load`` (the packaged MNIST CNN's .pt) uses
    torch's weights-only unpickler, every ``np.load`` refuses pickles."""
    banned = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned, f"{where}:{node.lineno} imports {ast.unparse(node)}"
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned, f"{where}:{node.lineno} imports {ast.unparse(node)}"
        for call in _calls(tree, "torch.load"):
            kwargs = {k.arg: k.value for k in call.keywords}
            assert isinstance(kwargs.get("weights_only"), ast.Constant) and kwargs["weights_only"].value is True, \
                f"{where}:{call.lineno} torch.load without weights_only=True"
        for call in _calls(tree, "np.load") + _calls(tree, "numpy.load"):
            kwargs = {k.arg: k.value for k in call.keywords}
            assert "allow_pickle" not in kwargs or getattr(kwargs["allow_pickle"], "value", True) is False, f"{where}:{call.lineno}"
        assert not _calls(tree, "pd.read_pickle") and not _calls(tree, "pandas.read_pickle"), f"{where}: read_pickle"


# ---- (b) no network at run time --------------------------------------------------------------------------

NO_NETWORK = """
import socket, sys
def refuse(*args, **kwargs):
    with open({log!r}, "a") as f:
        f.write(repr(args[:2]) + "\\n")
    raise OSError("network disabled by tests/test_safety.py")
def guard(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse(address)
        return real(self, address)  # local (AF_UNIX) sockets stay usable
    return connect
socket.socket.connect = guard(socket.socket.connect)
socket.socket.connect_ex = guard(socket.socket.connect_ex)
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.argv = ["headstart", *sys.argv[1:]]
from headstart.cli import main
main()
"""


@pytest.mark.slow
def test_train_and_predict_never_touch_the_network(toy_csv, tmp_path):
    """The built-in backbone and PEFT, with the HF offline switches unset: any connection or DNS lookup raises
    and is logged; train -> predict must succeed with an empty log."""
    log = tmp_path / "connections.log"
    script = NO_NETWORK.format(log=str(log))
    environ = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    environ.update(HEADSTART_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    train = subprocess.run([sys.executable, "-c", script, "train", "--quiet", "--data", str(toy_csv), "--strategy", "lora", "--n", "32",
                            "--max-steps", "2", "--min-steps", "2", "--out", str(tmp_path / "run")],
                           env=environ, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    predict = subprocess.run([sys.executable, "-c", script, "predict", str(tmp_path / "run"), "-"], input="a joy to watch\n",
                             env=environ, capture_output=True, text=True, timeout=600)
    assert predict.returncode == 0, predict.stderr
    assert json.loads(predict.stdout)["label"] in ("neg", "pos")
    assert not log.exists(), log.read_text()
    # The guard is live: the same interpreter set-up refuses a real connection attempt.
    probe = subprocess.run([sys.executable, "-c", script.replace("from headstart.cli import main\nmain()",
                            "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)")],
                           env=environ, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "network disabled" in probe.stderr and log.exists()


# ---- (c) names headstart turns into paths stay in their directory ----------------------------------------


def test_feature_cache_file_is_named_by_a_hash_whatever_the_backbone_name(make_tiny, tmp_path, monkeypatch):
    from headstart.features import FeatureCache

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    backbone = make_tiny(0)
    for name in ("../../escaped", "/etc/passwd", "a/b\\c", "..", "x\x00y"):
        cache = FeatureCache(backbone, [[2, 3]], "data/../hash", identity={"name": name, "source": name})
        assert cache.path.parent == tmp_path / "cache" / "features"
        assert re.fullmatch(r"[0-9a-f]{20}\.safetensors", cache.path.name)
        cache(torch.as_tensor([0]).numpy())
    assert sorted(p.relative_to(tmp_path).parts[:2] for p in tmp_path.rglob("*") if p.is_file()) == \
        [("cache", "features")] * 5


def test_run_keys_are_hashes_not_names():
    from headstart.specs import run_key

    key = run_key({"strategy": "../../x", "backbone": "/etc", "data": {"name": "a/b"}})
    assert re.fullmatch(r"[0-9a-f]{16,64}", key)


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/abs", "a\\b", "a b", "x\x00", "é/.."])
def test_adapter_names_cannot_be_paths(name, tmp_path):
    """``AdapterSet.add(name=...)`` (``--adapter-dir NAME=DIR``) refuses a name with a separator or '..' before
    touching any file."""
    with pytest.raises(ConfigError, match="adapter name"):
        headstart.AdapterSet().add(tmp_path / "does-not-exist", name=name)


def test_hub_ids_that_climb_out_are_not_hub_ids():
    """``--backbone org/model`` goes to the HF cache; '..' parts never reach it (refused without a lookup)."""
    from headstart.backbones import load_backbone
    from headstart.errors import BackboneError

    for name in ("../model", "org/..", "./org"):
        with pytest.raises(BackboneError, match="unknown backbone|no such folder|HFValidationError"):  # huggingface_hub's repo-id check
            load_backbone(name)


# ---- determinism -----------------------------------------------------------------------------------------


def _fingerprint(result) -> tuple[dict, str]:
    state = result._loaded.model.state_dict()
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return result.val_metrics, digest.hexdigest()


@pytest.mark.parametrize("strategy", ["linear-probe", "full-finetune", "lora"])
def test_same_spec_and_seed_give_identical_metrics_and_weights(strategy, toy_csv, tiny_registry):
    from headstart.features import clear_memory

    def once(seed: int):
        clear_memory()  # features recomputed, not reused from the first run
        config = dataclasses.replace(FAST, lr=None) if strategy == "linear-probe" else FAST  # the probe has no backbone rate
        result = headstart.fit(str(toy_csv), "tiny-bert", strategy=strategy, n=32, seed=seed, config=config)
        assert result.status == "done"
        return (*_fingerprint(result), result.evaluate("test"), result.predict(["a good movie", "dull plot"]))

    first, second, other_seed = once(0), once(0), once(1)
    assert first == second  # bit for bit: val metrics, every weight, test metrics, probabilities
    assert first[1] != other_seed[1]  # and the comparison can tell runs apart


@pytest.mark.slow
def test_same_command_in_two_processes_gives_the_same_files(toy_csv, tiny_backbone, tmp_path):  # noqa: F811
    """``headstart train`` twice, in processes with different hash seeds: bit-identical tensors and the same
    metrics.json (timings aside). (The files' bytes differ only in the order of the two safetensors metadata keys,
    which the safetensors writer takes from a hash map.)"""
    from safetensors.torch import load_file

    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        environ = {**os.environ, "PYTHONHASHSEED": hash_seed, "HEADSTART_CACHE": str(tmp_path / f"cache{hash_seed}"), "OMP_NUM_THREADS": "1"}
        result = subprocess.run([sys.executable, "-m", "headstart.cli", "train", "--quiet", "--data", str(toy_csv), "--backbone",
                                 str(tiny_backbone), "--strategy", "full-finetune", "--n", "32", "--max-steps", "6", "--min-steps", "6", "--out", str(out)],
                                env=environ, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        metrics = json.loads((out / "metrics.json").read_text())
        metrics.pop("train_seconds")
        for row in metrics["history"]:
            row.pop("seconds", None)
        tensors = {k: v.numpy().tobytes() for k, v in load_file(str(out / "weights.safetensors")).items()}
        outputs.append((tensors, metrics, json.loads((out / "spec.json").read_text())["key"]))
    assert outputs[0] == outputs[1]
