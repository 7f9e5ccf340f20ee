"""The feature cache: a frozen backbone runs once per example, whatever the epochs; on disk across processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart import features as feats
from headstart.features import FeatureCache, clear_memory, embed_rows, length_sorted_batches
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig


def counting(monkeypatch, backbone) -> list[int]:
    """Record the batch size of every backbone forward call."""
    seen: list[int] = []
    original = type(backbone).forward
    monkeypatch.setattr(type(backbone), "forward", lambda self, batch: seen.append(len(batch["input_ids"])) or original(self, batch))
    return seen


def test_cache_computes_each_row_once_and_matches_the_backbone(toy, make_tiny, monkeypatch):
    backbone = make_tiny(0)
    encoded = backbone.encode(toy.inputs)
    seen = counting(monkeypatch, backbone)
    cache = FeatureCache(backbone, encoded, toy.hash, batch_size=16)
    first = cache(np.arange(0, 50))
    again = cache(np.arange(25, 75))
    assert sum(seen) == 75
    assert torch.allclose(first[25:], again[:25])
    direct = torch.cat([backbone({k: v for k, v in backbone.collate([encoded[i]]).items()}) for i in range(50)]).detach()
    assert torch.allclose(first, direct, atol=1e-6)  # padding in a batch does not change an example's features


def test_a_cached_rows_features_do_not_depend_on_the_rows_computed_beside_it(toy, make_tiny, monkeypatch):
    """Padding moves a bf16 forward's output (by up to ~3e-3 on MiniLM), and the cache filled each row once in a batch
    of whatever rows were missing then: a run's features, and so its result, depended on what earlier runs had asked.
    The stand-in here moves its output by 1e-3 times the batch's padded width, as bf16 rounding does, and the same rows
    must agree, to fp32's rounding of a batch of another size, whether the cache was fresh or had computed others first."""
    backbone = make_tiny(0)
    original = type(backbone).forward
    monkeypatch.setattr(type(backbone), "forward",
                        lambda self, batch: original(self, batch) + 1e-3 * batch["attention_mask"].shape[1])
    encoded = backbone.encode(toy.inputs)
    assert len({len(x) for x in encoded}) > 1, "the toy's texts need different lengths"
    rows = np.arange(0, 200, 3)
    fresh = FeatureCache(backbone, encoded, toy.hash, batch_size=16, persist=False)(rows)
    clear_memory()
    cache = FeatureCache(backbone, encoded, toy.hash, batch_size=16, persist=False)
    cache(np.arange(1, 200, 2))  # another run's rows first: some of ``rows`` among them, in other company
    assert torch.allclose(cache(rows), fresh, rtol=0, atol=1e-6)


def test_equal_length_batches_hold_one_length_each_and_every_position_once() -> None:
    lengths = [5, 3, 5, 7, 3, 3, 5, 9]
    batches = feats.equal_length_batches(lengths, 2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len({lengths[i] for i in b}) == 1 and len(b) <= 2 for b in batches)
    assert [len(b) for b in batches] == [2, 1, 2, 1, 1, 1]
    assert feats.equal_length_batches([], 4) == []


def test_cache_persists_on_disk(toy, make_tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    backbone = make_tiny(0)
    encoded = backbone.encode(toy.inputs)
    first = FeatureCache(backbone, encoded, toy.hash)(np.arange(40))
    assert list((tmp_path / "features").glob("*.safetensors"))
    clear_memory()
    seen = counting(monkeypatch, backbone)
    assert torch.equal(FeatureCache(backbone, encoded, toy.hash)(np.arange(40)), first)
    assert seen == []


def test_corrupt_cache_file_is_recomputed(toy, make_tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    backbone = make_tiny(0)
    encoded = backbone.encode(toy.inputs)
    cache = FeatureCache(backbone, encoded, toy.hash)
    expected = cache(np.arange(10))
    cache.path.write_bytes(b"garbage")
    clear_memory()
    assert torch.allclose(FeatureCache(backbone, encoded, toy.hash)(np.arange(10)), expected)


def test_key_depends_on_backbone_identity_and_data(toy, make_tiny):
    backbone = make_tiny(0)
    a = FeatureCache(backbone, backbone.encode(toy.inputs), toy.hash, persist=False).key
    b = FeatureCache(backbone, backbone.encode(toy.inputs), toy.hash, persist=False, identity={**backbone.describe(), "precision": "bf16"}).key
    c = FeatureCache(backbone, backbone.encode(toy.inputs), "otherhash", persist=False).key
    assert len({a, b, c}) == 3


@pytest.mark.parametrize("epochs", [2, 10])
def test_linear_probe_runs_the_backbone_once_per_example(toy, make_tiny, monkeypatch, epochs):
    cfg = TrainConfig(epochs=epochs, min_steps=0, batch_size=8, precision="fp32")
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=32, train=cfg), data=toy, pretrained=make_tiny(0))
    seen = counting(monkeypatch, s.pretrained)
    report = train(s)
    assert report.steps == epochs * 4
    assert sum(seen) == len(s.train_rows) + len(s.splits.val)


def test_embed_rows_restores_training_mode(make_tiny):
    backbone = make_tiny(0)
    backbone.train()
    embed_rows(backbone, backbone.encode(["good", "bad film"]), np.arange(2), batch_size=4)
    assert backbone.training


@pytest.mark.parametrize("n,batch", [(0, 4), (1, 4), (10, 3), (100, 32)])
def test_length_sorted_batches_cover_once(n, batch):
    lengths = list(np.random.default_rng(n).integers(1, 30, size=n))
    batches = length_sorted_batches(lengths, batch)
    flat = np.concatenate(batches) if batches else np.array([], dtype=int)
    assert sorted(flat.tolist()) == list(range(n))
    assert all(len(b) <= batch for b in batches)
    ordered = [lengths[i] for i in flat]
    assert ordered == sorted(ordered)


def test_memory_is_shared_between_instances(toy, make_tiny, monkeypatch):
    backbone = make_tiny(0)
    encoded = backbone.encode(toy.inputs)
    FeatureCache(backbone, encoded, toy.hash, persist=False)(np.arange(20))
    seen = counting(monkeypatch, backbone)
    FeatureCache(backbone, encoded, toy.hash, persist=False)(np.arange(20))
    assert seen == [] and feats._MEMORY


@pytest.mark.slow
def test_real_linear_probe_runs_minilm_once_per_example(monkeypatch, tmp_path):
    """Multi-epoch probe on rotten-tomatoes: MiniLM sees train + val once each, however many epochs."""
    from headstart.backbones import load_backbone
    from headstart.data import load_dataset

    data, backbone = load_dataset("rotten-tomatoes"), load_backbone()
    seen = counting(monkeypatch, backbone)
    counts = {}
    for epochs in (3, 12):
        monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / f"cache-{epochs}"))  # nothing on disk yet
        clear_memory()
        seen.clear()
        cfg = TrainConfig(epochs=epochs, min_steps=0, batch_size=8, precision="fp32", eval_batch_size=64, patience=0)
        s = setup(RunSpec(strategy="linear-probe", n=32, train=cfg), data=data, pretrained=backbone)
        report = train(s)
        assert report.steps == epochs * 4
        counts[epochs] = sum(seen)
        assert counts[epochs] == len(s.train_rows) + len(s.splits.val)
    assert counts[3] == counts[12]


@pytest.mark.parametrize("fault", ["cache is a file", "disk full"])
def test_an_unusable_cache_is_skipped_with_one_warning_and_no_temp_file(fault, toy, make_tiny, monkeypatch, tmp_path, caplog):
    """HEADSTART_CACHE on a file, or a full disk mid-write: a one-line warning, the features from memory, no temp file
    (it used to raise NotADirectoryError / SafetensorError out of train)."""
    import errno
    import os

    clear_memory()
    feats._WARNED.clear()
    cache_root = tmp_path / "cache"
    if fault == "cache is a file":
        cache_root.write_text("not a directory")
    else:
        def full(fd):  # the temp file is written; flushing it to disk finds no space
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(os, "fsync", full)
    monkeypatch.setenv("HEADSTART_CACHE", str(cache_root))
    backbone = make_tiny(0)
    encoded = backbone.encode(toy.inputs)
    with caplog.at_level("WARNING", logger="headstart"):
        first = FeatureCache(backbone, encoded, toy.hash)(np.arange(20))
        again = FeatureCache(backbone, encoded, toy.hash)(np.arange(30))
    assert torch.equal(again[:20], first)
    warnings = [r.getMessage() for r in caplog.records if "unusable" in r.getMessage()]
    assert len(warnings) == 1 and "going on without it" in warnings[0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_images_are_not_grouped_by_their_channel_count():
    """Batches sort by padded length: a text row's tokens; every image is 0, so a folder's grey and colour photos keep
    the order they were given in (a shuffled test split stays shuffled for tent)."""
    import torch

    from headstart.features import length_sorted_batches, padded_length

    assert [padded_length(x) for x in ([5, 6, 7], [1], "abcd")] == [3, 1, 4]
    images = [torch.zeros(c, 8, 8, dtype=torch.uint8) for c in (3, 1, 3, 1, 1, 3)]
    assert [b.tolist() for b in length_sorted_batches([padded_length(x) for x in images], 2)] == [[0, 1], [2, 3], [4, 5]]


def test_a_probe_says_it_caches_features_before_its_first_step(toy, make_tiny):
    """A probe's first run embeds every train and validation row before its first step (minutes on a real backbone);
    its bar said nothing of it (a compare's first cell: "ETA ?"). It says so, rows counted, and not once they are cached."""
    cfg = TrainConfig(epochs=1, min_steps=0, batch_size=8, precision="fp32")
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=32, train=cfg), data=toy, pretrained=make_tiny(0))
    seen = []
    train(s, progress=lambda done, total, info: seen.append((done, total, info)))
    caching = [info["setup"] for done, total, info in seen if "setup" in info]
    rows = len(s.train_rows) + len(s.splits.val)
    assert caching[0] == f"caching the backbone's features, 0/{rows} rows, time left unknown until its first batch", caching
    assert caching[-1].startswith(f"caching the backbone's features, {rows}/{rows} rows"), caching
    assert seen.index(next(x for x in seen if "setup" not in x[2])) == len(caching), "said before the first step"
    seen.clear()
    train(s, progress=lambda done, total, info: seen.append((done, total, info)))
    assert not any("setup" in info for _, _, info in seen), "cached already: nothing to say"


def test_each_arm_counts_its_features_at_their_cost_whichever_arm_computed_them(toy, make_tiny, monkeypatch):
    """The first frozen-feature arm of a compare computes the backbone's features, the next reads them: linear-probe
    listed first took 8 s at n = 16 and 0.14 s listed second, and the recommendation read those seconds. Each arm now
    counts the features it reads at what computing them cost (``feature_seconds``, kept per row, on disk too), and
    only its own work beside them: listed second, or run after a cache file was written, it counts the same."""
    import time

    backbone = make_tiny(0)
    original = type(backbone).forward
    monkeypatch.setattr(type(backbone), "forward", lambda self, batch: time.sleep(0.01) or original(self, batch))
    cfg = TrainConfig(max_steps=3, precision="fp32")

    def run(strategy: str):
        return train(setup(RunSpec(data="toy", backbone="tiny", strategy=strategy, n=32, train=cfg), data=toy,
                           pretrained=backbone))

    first, second = run("linear-probe"), run("embed-logreg")
    assert first.features_computed > 0.01 and second.features_computed == 0.0, "the second arm read them from the cache"
    assert second.feature_seconds == pytest.approx(first.feature_seconds) and first.feature_seconds > 0.01
    assert second.seconds >= second.feature_seconds and first.seconds >= first.feature_seconds
    clear_memory()  # another process: the cache file holds each row's cost
    again = run("embed-logreg")
    assert again.features_computed == 0.0 and again.feature_seconds == pytest.approx(first.feature_seconds)


def test_the_learning_rate_trials_count_no_features_the_run_counts_them_once(toy, make_tiny, monkeypatch):
    """linear-probe under --tune lr (a compare's default): its first trial computes the features, so its
    ``tune_seconds`` held them besides the run's own count of them, and only when it was the first arm to run."""
    import time

    from headstart.recipe import _train_tuned

    backbone = make_tiny(0)
    original, real_clock, skipped = type(backbone).forward, time.perf_counter, [0.0]

    def forward(self, batch):  # 100 s a batch on the clock the runs read: the trials' own steps never come near
        skipped[0] += 100.0    # (a real sleep of 0.3 s was outgrown by the trials' steps on a loaded machine)
        return original(self, batch)

    monkeypatch.setattr(time, "perf_counter", lambda: real_clock() + skipped[0])
    monkeypatch.setattr(type(backbone), "forward", forward)
    spec = RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=32, tune="lr",
                   train=TrainConfig(max_steps=2, precision="fp32"))
    _, report, trials, tune_seconds = _train_tuned(spec, toy, backbone, None)
    assert trials and report.feature_seconds > 100.0, "every batch takes 100 s"
    assert tune_seconds < report.feature_seconds / 2, "the trials' time is their steps', not the features'"
