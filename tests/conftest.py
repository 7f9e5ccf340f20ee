"""Shared fixtures: tiny synthetic text and image backbones, toy datasets, and an isolated HEADSTART_CACHE.

The tiny backbone implements the ``headstart.backbones.Backbone`` protocol (embedding + masked mean +
3 Linear blocks + a final LayerNorm that belongs to no block), so every strategy, the engine, the
feature cache and save/load run on it in milliseconds. Toy sentiment data is learnable from single words.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

POSITIVE = ("good", "great", "superb", "lovely", "fine")
NEGATIVE = ("bad", "awful", "poor", "dull", "weak")
NEUTRAL = ("okay", "average", "mixed", "middling", "so-so")
FILLER = ("the", "movie", "film", "plot", "actor", "scene", "it", "was", "a", "very", "and", "story")
CLASS_WORDS = (NEGATIVE, POSITIVE, NEUTRAL)
CLASS_NAMES = ("neg", "pos", "neutral")
VOCAB = ("<pad>", "<unk>") + FILLER + POSITIVE + NEGATIVE + NEUTRAL


_THREADS: list[int] = []

# `pytest -n N` (what `make test` runs): N test processes share the cores, so each process and every subprocess it
# starts (the CLI tests) takes its share of the threads; set before anything imports torch.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

try:  # property tests draw the same examples on every run: CI is not a lottery (hypothesis' database still replays failures)
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("headstart", derandomize=True)
    _hypothesis_settings.load_profile("headstart")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


@pytest.fixture(autouse=True)
def _threads(request: pytest.FixtureRequest):
    """One intra-op thread for the fast tests: on the tiny model, thread hand-offs cost more than the maths
    (40x slower with 2 threads on a busy 2-core machine). Slow tests on the real model keep torch's default."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    if not _THREADS:
        _THREADS.append(torch.get_num_threads())
    torch.set_num_threads(_THREADS[0] if request.node.get_closest_marker("slow") else 1)
    yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own feature / precision cache; the in-memory feature cache starts empty."""
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path_factory.mktemp("hs-cache")))
    features = sys.modules.get("headstart.features")
    if features is not None:
        features.clear_memory()
    yield
    features = sys.modules.get("headstart.features")
    if features is not None:
        features.clear_memory()


@pytest.fixture(autouse=True)
def _sweep_cell_loaded():
    """``sweep_cell`` keeps the datasets and backbones it loaded for the rest of the process (a sweep's next cell reuses
    them): each test starts with none, so no test reads a dataset or a stubbed backbone that an earlier one loaded."""
    sweep_cell = sys.modules.get("headstart.sweep_cell")
    if sweep_cell is not None:
        sweep_cell._LOADED.clear()
    yield
    sweep_cell = sys.modules.get("headstart.sweep_cell")
    if sweep_cell is not None:
        sweep_cell._LOADED.clear()


PROCESS_MARKS = ("HEADSTART_DEVICE", "HEADSTART_SURFACE")  # precision.DEVICE_ENV, surface.SURFACE_ENV


@pytest.fixture(autouse=True)
def _process_marks():
    """``--device`` / ``headstart.use_device`` and the CLI's surface mark are environment variables that headstart sets
    for the whole process (its worker processes inherit them), and a test that starts without one and calls them leaves
    it for the next tests of its pytest-xdist process: each test ends with the values it started with."""
    before = {name: os.environ.get(name) for name in PROCESS_MARKS}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def toy_texts(labels: np.ndarray, seed: int) -> list[str]:
    """One text per label: a couple of filler words around one or two words of the label's class."""
    rng = np.random.default_rng(seed)
    texts = []
    for y in labels:
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 7))))
        for _ in range(int(rng.integers(1, 3))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(CLASS_WORDS[int(y)])))
        texts.append(" ".join(words))
    return texts


def make_toy(n: int = 200, *, classes: int = 2, seed: int = 0, groups: bool = False, weights: tuple[float, ...] | None = None):
    """A synthetic classification Dataset of ``n`` texts over ``classes`` (<= 3) learnable classes."""
    from headstart.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    p = None if weights is None else np.asarray(weights) / np.sum(weights)
    labels = rng.choice(classes, size=n, p=p).astype(np.int64)
    return Dataset(
        name="toy",
        inputs=toy_texts(labels, seed + 1),
        targets=labels,
        task="classification",
        label_names=CLASS_NAMES[:classes],
        groups=rng.integers(0, max(2, n // 5), size=n).astype(np.int64) if groups else None,
        source={},
    )


def _tiny_class():
    import torch
    from torch import nn

    class TinyBackbone(nn.Module):
        """Embedding -> masked mean -> 3 x (Linear, tanh) -> LayerNorm: (B, 16) features.

        ``blocks()`` is [embedding, linear 1, linear 2, linear 3]; the final norm belongs to no block,
        like a transformer's final LayerNorm or pooler.
        """

        modality = "text"

        def __init__(self, seed: int = 0, *, pretrained: bool = True, dim: int = 16, max_length: int = 32) -> None:
            super().__init__()
            self.name = "tiny"
            self.dim = dim
            self.max_length = max_length
            self.pretrained = pretrained
            self.seed = seed
            self.index = {w: i for i, w in enumerate(VOCAB)}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.embed = nn.Embedding(len(VOCAB), dim, padding_idx=0)
                self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(3)])
                self.norm = nn.LayerNorm(dim)

        def blocks(self) -> list[nn.Module]:
            return [self.embed, *self.layers]

        def encode(self, inputs: list[Any]) -> list[list[int]]:
            return [[self.index.get(w, 1) for w in str(text).lower().split()][: self.max_length] or [1] for text in inputs]

        def collate(self, encoded: list[list[int]]) -> dict[str, torch.Tensor]:
            width = max(len(ids) for ids in encoded)
            ids = torch.zeros((len(encoded), width), dtype=torch.long)
            mask = torch.zeros((len(encoded), width), dtype=torch.long)
            for row, x in enumerate(encoded):
                ids[row, : len(x)] = torch.as_tensor(x)
                mask[row, : len(x)] = 1
            return {"input_ids": ids, "attention_mask": mask}

        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            mask = batch["attention_mask"].unsqueeze(-1).float()
            h = (self.embed(batch["input_ids"]) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            for layer in self.layers:
                h = torch.tanh(layer(h))
            return self.norm(h)

        def fresh(self, seed: int) -> "TinyBackbone":
            return TinyBackbone(seed + 1000, pretrained=False, dim=self.dim, max_length=self.max_length)

        def describe(self) -> dict[str, Any]:
            return {"name": self.name, "source": "tests/conftest.py", "pooling": "mean", "max_length": self.max_length,
                    "pretrained": self.pretrained, "dim": self.dim, "seed": self.seed}

    return TinyBackbone


_CLASS: list = []


def tiny_backbone(seed: int = 0, **kwargs: Any):
    """A new TinyBackbone; the same seed always gives the same ("pre-trained") weights."""
    if not _CLASS:
        _CLASS.append(_tiny_class())
    return _CLASS[0](seed, **kwargs)


_BERT: dict = {}


def tiny_bert(seed: int = 0, **kwargs: Any):
    """A real ``TextBackbone`` over a 2-layer, 32-wide random BERT with the all-MiniLM-L6-v2 tokenizer:
    what adapter strategies (PEFT, houlsby, qlora) need, in milliseconds. Same seed, same weights."""
    import copy

    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from headstart.backbones.registry import _minilm_dir
    from headstart.backbones.text import TextBackbone

    if seed not in _BERT:
        if "tokenizer" not in _BERT:
            _BERT["tokenizer"] = AutoTokenizer.from_pretrained(_minilm_dir())
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            max_position_embeddings=64)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = BertModel(config, add_pooling_layer=False).eval()
        _BERT[seed] = TextBackbone(model, _BERT["tokenizer"], name="tiny-bert", source="tests/conftest.py", max_length=32)
    return copy.deepcopy(_BERT[seed], memo={id(_BERT["tokenizer"]): _BERT["tokenizer"]})


_LLAMA: dict = {}


def tiny_llama(seed: int = 0, **kwargs: Any):
    """A real causal-LM ``TextBackbone``: a 2-layer, 32-wide random Llama (tied embeddings) with the all-MiniLM-L6-v2
    tokenizer, last-token pooling: what the prompt arms (zero-shot-prompt, icl) need. Same seed, same weights."""
    import copy

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    from headstart.backbones.registry import _minilm_dir
    from headstart.backbones.text import TextBackbone

    if seed not in _LLAMA:
        if "tokenizer" not in _LLAMA:
            _LLAMA["tokenizer"] = AutoTokenizer.from_pretrained(_minilm_dir())
        config = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
                             architectures=["LlamaForCausalLM"], pad_token_id=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaModel(config).eval()
        _LLAMA[seed] = TextBackbone(model, _LLAMA["tokenizer"], name="tiny-llama", source="tests/conftest.py", max_length=32,
                                    pooling="lasttoken")
    return copy.deepcopy(_LLAMA[seed], memo={id(_LLAMA["tokenizer"]): _LLAMA["tokenizer"]})


def tiny_cnn(seed: int = 0, *, image_size: int = 16):
    """A real ``ImageBackbone`` over a 3-block conv net with BatchNorm, (B, 8) features, in milliseconds.

    Blocks: stem (conv 3x3 stride 2, BN, ReLU), stage (conv 3x3, BN, ReLU), head (conv 1x1, BN, ReLU); then
    average pooling. RGB input normalised with mean 0.5, std 0.25. Same seed, same weights.
    """
    from collections import OrderedDict

    import torch
    from torch import nn

    from headstart.backbones.image import ImageBackbone

    def build() -> nn.Module:
        def unit(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        return nn.Sequential(OrderedDict(stem=unit(3, 8, 3, 2), stage=unit(8, 8, 3), head=unit(8, 8, 1),
                                         pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten()))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build().eval()
    return ImageBackbone(model, build, name="tiny-cnn", source="tests/conftest.py", dim=8, image_size=image_size, channels=3,
                         mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), block_paths=[["stem"], ["stage"], ["head"]],
                         adapter_targets=["stage.0", "head.0"])


def make_toy_images(n: int = 120, *, classes: int = 2, size: int = 12, seed: int = 0):
    """A synthetic image Dataset: class c is a bright vertical band in the c-th of ``classes`` columns, on noise.
    Grey uint8 (size, size) images; learnable by any small CNN."""
    from headstart.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % classes
    rng.shuffle(labels)
    width = size // classes
    images = []
    for y in labels:
        image = rng.integers(0, 80, size=(size, size)).astype(np.uint8)
        image[:, y * width : (y + 1) * width] = rng.integers(170, 256, size=(size, width))
        images.append(image)
    return Dataset(name="toy-images", inputs=images, targets=labels, task="classification",
                   label_names=tuple(f"band{c}" for c in range(classes)), source={}, modality="image")


DEBIAN_DATASETS = ("fashion-mnist", "opencv-digits")  # from apt (make image-data): a machine without apt or root lacks them


@pytest.fixture
def default_sigterm():
    """SIGTERM at its default action for the test, and whatever was there put back after: a Ray test earlier in the same
    worker process leaves Ray's own handler installed, which ``sigterm_as_interrupt`` rightly leaves alone, so a test
    that sends itself SIGTERM would meet Ray's handler, not headstart's."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


def stop_in_run(monkeypatch, run: int, how: str) -> None:
    """Ctrl-C (a KeyboardInterrupt), or a real SIGTERM to this process, as the engine starts the third step of the
    ``run``-th run it trains (1-based; a test that sends SIGTERM uses ``default_sigterm``)."""
    import headstart.engine

    real, last, runs = headstart.engine.lr_factor, [None], []

    def stop(step, *args, **kwargs):  # called once a parameter group each step (0-based): a run's step 2 counts once
        if step == 2 and last[0] != 2:
            runs.append(step)
            if len(runs) == run:
                if how == "ctrl-c":
                    raise KeyboardInterrupt
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
                os.kill(os.getpid(), signal.SIGTERM)  # the handler raises before the next line
        last[0] = step
        return real(step, *args, **kwargs)

    monkeypatch.setattr(headstart.engine, "lr_factor", stop)


@pytest.fixture(scope="session")
def builtin_dataset() -> Callable[[str], Any]:
    """Load a built-in dataset; skip only when a Debian-packaged one is not installed. Any other error fails the
    test: the pip-packaged datasets are installed with headstart, and a dropped registration is a regression."""
    from headstart.data import load_dataset
    from headstart.errors import DataError

    def load(name: str) -> Any:
        try:
            return load_dataset(name)
        except DataError as e:
            if name in DEBIAN_DATASETS and "not installed" in str(e):
                pytest.skip(f"{name} is not installed here: {e}")
            raise

    return load


@pytest.fixture(scope="session")
def make_tiny_cnn() -> Callable[..., Any]:
    return tiny_cnn


@pytest.fixture(scope="session")
def toy_images_factory() -> Callable[..., Any]:
    return make_toy_images


@pytest.fixture(scope="session")
def make_tiny() -> Callable[..., Any]:
    return tiny_backbone


@pytest.fixture(scope="session")
def make_tiny_bert() -> Callable[..., Any]:
    return tiny_bert


@pytest.fixture(scope="session")
def toy() -> Any:
    """200 two-class toy examples (learnable from single words)."""
    return make_toy(200)


@pytest.fixture(scope="session")
def toy_factory() -> Callable[..., Any]:
    return make_toy


@pytest.fixture
def tiny_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``load_backbone("tiny")`` / ``("tiny-bert")`` / ``("tiny-llama")`` / ``("tiny-cnn")`` (as run / saved / api / adapters / sweep
    call it) return a new TinyBackbone / tiny BERT / tiny CNN."""
    import headstart.backbones
    import headstart.backbones.registry as registry
    import headstart.recipe
    import headstart.saved

    real = inspect.unwrap(registry.load_backbone)  # as headstart's own modules call it: their caller names its flag

    def load(name_or_path: str = "tiny", *, max_length: int = 128, pooling: str | None = None, image_size: int | None = None,
             quantize: bool = False, download: bool = True):
        if name_or_path == "tiny":
            return tiny_backbone(0)
        if name_or_path == "tiny-bert":
            return tiny_bert(0)
        if name_or_path == "tiny-llama":
            return tiny_llama(0)
        if name_or_path == "tiny-cnn":
            return tiny_cnn(0, image_size=image_size or 16)
        return real(name_or_path, max_length=max_length, pooling=pooling, image_size=image_size, quantize=quantize, download=download)

    for module in (headstart.recipe, headstart.saved, headstart.backbones):
        monkeypatch.setattr(module, "load_backbone", load)


@pytest.fixture
def other_csv(tmp_path: Path) -> Path:
    """A second task on the tiny backbone's vocabulary (the toy data with another seed, 3 classes, 300 rows), as a CSV:
    the earlier task a term replays, or the dataset whose retention is measured."""
    import pandas as pd

    data = make_toy(300, classes=3, seed=7)
    path = tmp_path / "other.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
    return path


@pytest.fixture
def toy_csv(tmp_path: Path) -> Path:
    """The 200-example toy dataset written as a CSV (text,label): a file-backed dataset that can be reloaded."""
    import pandas as pd

    data = make_toy(200)
    path = tmp_path / "toy.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
    return path


def run_with_repeated_rows(toy_csv: Path, tmp_path: Path) -> tuple[Path, Path, list[str], list[str]]:
    """A full fine-tune of the tiny backbone on ``toy_csv`` (in ``tmp_path / "ft"``; needs ``tiny_registry``) and
    ``held.csv`` beside it: 14 of the run's training rows, 10 of its validation rows, then 76 texts it never saw.

    Returns:
        (the run's folder, held.csv, the 76 unseen texts, every row's label in held.csv's order).
    """
    import json

    import pandas as pd

    import headstart
    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.specs import TrainConfig

    run = tmp_path / "ft"
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=run,
                  config=TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32"))
    meta = json.loads((run / "spec.json").read_text())
    own = load_dataset(str(toy_csv))
    val = split_dataset(own, SplitConfig(**meta["resolved"]["data"]["split"])).val
    rows = [*meta["train_rows"][:14], *val[:10]]
    unseen = [f"qzv{i} wxk{i} jfp{i} ybn{i} mrt{i}" for i in range(76)]  # words the toy texts never use
    labels = [own.label_names[own.targets[i]] for i in rows] + [own.label_names[i % 2] for i in range(76)]
    held = tmp_path / "held.csv"
    pd.DataFrame({"text": [own.inputs[i] for i in rows] + unseen, "label": labels}).to_csv(held, index=False)
    return run, held, unseen, labels


def ctrl_c_after_optimiser_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Ctrl-C raised in AdamW's ``zero_grad`` after its ``step``-th step: the weights have taken that step, and nothing
    after the optimiser has counted it yet (the moment a loop that counted late reported a step low)."""
    import torch

    real, calls = torch.optim.AdamW.zero_grad, []

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "zero_grad", hooked)


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``headstart ARGS`` through the console entry point, in process: (exit code, stdout, stderr)."""
    from headstart.cli import main

    monkeypatch.setattr(sys, "argv", ["headstart", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def assert_produced_by(argv: list[str], kind: str, record: str, report: str, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture) -> str:
    """``headstart ARGV`` (writing ``--out cli`` in the current folder) records its command in ``cli/RECORD`` (JSON's
    ``command``) and at the end of ``cli/REPORT`` ("## Produced by"), and ``report`` of a copy of that store, which it
    cannot re-render, names the command with the copy's --out. Returns the command."""
    import shutil

    from headstart.errors import StoreError
    from headstart.report.render import render
    from headstart.surface import cli_surface, reset_surface

    code, _, err = run_cli(argv, monkeypatch, capsys)
    assert code == 0, err
    command = "headstart " + " ".join(argv)
    assert json.loads(Path("cli", record).read_text())["command"] == command
    assert Path("cli", report).read_text().endswith(f"## Produced by\n\n```\n{command}\n```\n")
    shutil.copytree("cli", "copy")
    marked = cli_surface()
    try:
        with pytest.raises(StoreError) as refused:
            render("copy")
    finally:
        reset_surface(marked)
    assert str(refused.value) == (f"'copy' is a {kind} store: its report is written by 'headstart {kind}'; to "
                                  "re-render it, run the command that wrote it again with --out copy (it trains nothing "
                                  f"already stored): {command}")
    return command


def assert_user_error(result: tuple[int, str, str], *fragments: str) -> None:
    """``run_cli``'s result is a user mistake as the project answers one: exit 2, one ``error:`` line naming each of
    ``fragments``, no traceback."""
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in out + err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def advised_keywords(text: str) -> dict:
    """Each ``name=<Python literal>`` a Python caller's advice names, read back as Python reads it (a value with a
    placeholder such as ``…`` left out); the ``config`` dicts of several merged."""
    import ast
    import re

    found: dict = {}
    at = 0
    for match in re.finditer(r"(?<![\w'])([a-z_]+)=(?=[{(\['\"\d.+-])", text):
        start = match.end()
        if match.start() < at:
            continue
        if text[start] in "{([":  # to its closing bracket
            depth = 0
            for end, char in enumerate(text[start:], start + 1):
                depth += (char in "{([") - (char in "})]")
                if depth == 0:
                    break
        elif text[start] in "'\"":
            end = text.index(text[start], start + 1) + 1
        else:
            end = start + re.match(r"[-+\d.e]+", text[start:]).end()
        try:
            value = ast.literal_eval(text[start:end])
        except (ValueError, SyntaxError):
            continue
        at, name = end, match.group(1)
        found[name] = {**found.get(name, {}), **value} if name == "config" else value
    return found



@pytest.fixture
def headstart_notes():
    """The (level, message) of every record said on the ``headstart`` logger while the test runs, where notes go
    (the CLI prints them as "note: ..."), with only this list listening: an earlier test's CLI handler is put back
    after."""
    import logging

    said: list[tuple[int, str]] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append((record.levelno, record.getMessage()))
    logger = logging.getLogger("headstart")
    kept = logger.handlers[:], logger.level
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    try:
        yield said
    finally:
        logger.handlers = kept[0]
        logger.setLevel(kept[1])


@contextlib.contextmanager
def unwritable(folder: Path):
    """``folder`` made unwritable for real: chmod a-w, or (as root, whom chmod does not stop) ``chattr +i``; skips where
    neither takes."""
    import shutil
    import subprocess

    mode = folder.stat().st_mode
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK) and shutil.which("chattr"):
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if os.access(folder, os.W_OK):
            pytest.skip("no way to make a folder unwritable here (root, and no chattr)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(mode)
