"""--precision auto: measured once per machine, the verdict cached under HEADSTART_CACHE."""

from __future__ import annotations

import json

import pytest
import torch

from headstart import precision


@pytest.mark.parametrize("speedup,verdict", [(2.0, "bf16"), (1.0, "fp32"), (0.01, "fp32"), (1.2, "bf16")])
def test_auto_measures_once_and_caches(tmp_path, monkeypatch, speedup, verdict):
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: calls.append(device) or speedup)
    cpu = torch.device("cpu")
    assert precision.resolve_precision("auto", cpu) == verdict
    assert precision.resolve_precision("auto", cpu) == verdict
    assert len(calls) == 1
    cached = json.loads((tmp_path / "precision.json").read_text())
    (entry,) = cached.values()
    assert entry == {"bf16_speedup": speedup, "verdict": verdict}
    assert next(iter(cached)).startswith("cpu|") and torch.__version__ in next(iter(cached))


def test_explicit_precision_never_measures(monkeypatch):
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: pytest.fail("measured"))
    assert precision.resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert precision.resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_corrupt_cache_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    (tmp_path / "precision.json").write_text("{not json")
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: 3.0)
    assert precision.resolve_precision("auto", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("content", ["[1, 2]", '"fp32"', "null", '{"KEY": "bf16"}', '{"KEY": {"verdict": "fp16"}}', '{"KEY": {}}'])
def test_a_cache_of_the_wrong_shape_or_verdict_is_measured_again(tmp_path, monkeypatch, content):
    """Valid JSON that is not our record (a list, a bare verdict, an unknown "fp16"): measured again, and rewritten."""
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    key = precision.cache_key(torch.device("cpu"))
    (tmp_path / "precision.json").write_text(content.replace("KEY", key.replace('"', '\\"')))
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: 0.5)
    assert precision.resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert json.loads((tmp_path / "precision.json").read_text())[key]["verdict"] == "fp32"


def test_unwritable_cache_still_answers(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("HEADSTART_CACHE", str(blocker / "sub"))  # a directory under a file cannot be made
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: 0.5)
    assert precision.resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_measurement_is_fp32_time_over_bf16_time(monkeypatch):
    assert precision.measure_bf16_speedup(torch.device("cpu")) > 0  # the real probe runs
    seconds = {torch.float32: 2.0, torch.bfloat16: 0.5}
    monkeypatch.setattr(precision, "_time_matmul", lambda dtype, device: seconds[dtype])
    assert precision.measure_bf16_speedup(torch.device("cpu")) == 4.0, "bf16 four times faster reads 4, not 0.25"


def test_a_round_a_neighbour_stalled_does_not_decide(monkeypatch):
    """One timing of each read 0.09 and 32.8 on the same shared host, and the verdict is cached for good: the probe
    times fp32 and bf16 in turn over rounds and takes the median ratio, so one or two stalled rounds do not decide."""
    times = iter([2.0, 0.5,   0.05, 0.5,   2.0, 0.5,   2.0, 0.4,   2.1, 0.5])  # round 2 stalled fp32 20x; round 4 less
    monkeypatch.setattr(precision, "_time_matmul", lambda dtype, device: next(times))
    assert precision.measure_bf16_speedup(torch.device("cpu")) == 4.0
    slow = iter([0.01, 1.0, 0.01, 1.1])  # emulated bf16: two slow rounds in a row, no more
    monkeypatch.setattr(precision, "_time_matmul", lambda dtype, device: next(slow))
    assert precision.measure_bf16_speedup(torch.device("cpu")) == pytest.approx((0.01 + 0.01 / 1.1) / 2)
    stalled = iter([0.01, 0.6,   2.0, 0.5,   2.0, 0.5,   2.1, 0.5,   2.0, 0.5])  # one stall of bf16 alone decides nothing
    monkeypatch.setattr(precision, "_time_matmul", lambda dtype, device: next(stalled))
    assert precision.measure_bf16_speedup(torch.device("cpu")) == 4.0


def test_the_verdict_is_kept_per_cpu_flags_not_only_the_model_string(tmp_path, monkeypatch):
    """"AMD EPYC" names a Zen 4 with avx512_bf16 (bf16 ~2x fp32) and an AVX2-only one (bf16 ~100x slower): a verdict
    cached on one must not be read on the other."""
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    cpu = torch.device("cpu")
    assert set(filter(None, precision.cpu_flags().split(","))) <= set(precision.BF16_FLAGS)  # the real reading
    monkeypatch.setattr(precision, "cpu_flags", lambda: "avx2,avx512f,avx512_bf16")
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: 2.1)
    assert precision.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: "avx2")
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda device: 0.01)
    assert precision.resolve_precision("auto", cpu) == "fp32"
    assert len(json.loads((tmp_path / "precision.json").read_text())) == 2


def test_device_is_chosen_by_name_and_a_missing_one_is_one_line(monkeypatch, capsys):
    """--device cpu|cuda|cuda:N|mps|auto (or $HEADSTART_DEVICE) picks the device every run uses; a device this machine
    lacks, or a name torch does not know, is refused in one line with exit 2 before anything loads."""
    import torch

    from conftest import run_cli
    from headstart.errors import ConfigError
    from headstart.precision import DEVICE_ENV, parse_device, pick_device

    assert parse_device("CPU") == torch.device("cpu")
    assert parse_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert pick_device() == torch.device("cpu")
    for bad in ("tpu", "gpu0"):
        with pytest.raises(ConfigError, match="must be auto, cpu, cuda, cuda:N or mps"):
            parse_device(bad)
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    code, out, err = run_cli(["--device", missing, "datasets"], monkeypatch, capsys)
    assert code == 2 and "--device" in err and len(err.strip().splitlines()) == 1 and not out
    monkeypatch.delenv(DEVICE_ENV)
    code, out, _ = run_cli(["--device", "cpu", "datasets"], monkeypatch, capsys)
    assert code in (0, None) and "rotten-tomatoes" in out
    import os

    assert os.environ[DEVICE_ENV] == "cpu"


def test_a_bad_device_in_the_environment_is_named_as_such(monkeypatch):
    """``--device`` is checked where it is given; a value set in the environment by hand is named as coming from there."""
    from headstart.errors import ConfigError
    from headstart.precision import DEVICE_ENV, pick_device

    monkeypatch.setenv(DEVICE_ENV, "gpu")
    with pytest.raises(ConfigError, match=r"^\$HEADSTART_DEVICE is 'gpu': the device must be auto, cpu.*use_device\('cpu'\)$"):
        pick_device()
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert pick_device().type == "cpu"


def test_use_device_names_its_python_fix_and_the_cli_its_flag(monkeypatch, capsys):
    """``headstart.use_device("gpu")`` answered ``--device must be ...; e.g. --device cpu``: a flag a Python caller
    has no way to pass."""
    import torch

    import headstart
    from conftest import assert_user_error, run_cli
    from headstart.errors import ConfigError
    from headstart.precision import DEVICE_ENV

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    with pytest.raises(ConfigError) as caught:
        headstart.use_device("gpu")
    assert str(caught.value) == "the device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'; e.g. headstart.use_device('cpu')"
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ConfigError, match=rf"^device '{missing}': .*use_device\('c(pu|uda:0)'\)") as caught:
        headstart.use_device(missing)
    assert "--device" not in str(caught.value)
    assert_user_error(run_cli(["--device", "gpu", "datasets"], monkeypatch, capsys),
                      "--device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'; e.g. --device cpu")


def test_cpu_model_and_flags_read_one_cpuinfo_field_each(tmp_path, monkeypatch):
    """cpu_model and cpu_flags share one field reader; the verdict's key reads as it did: the first 'model name' line
    as written, the BF16_FLAGS the first 'flags' line has in BF16_FLAGS' order, and without /proc/cpuinfo the
    platform's name and no flags."""
    import platform

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu amx_tile avx2 sse avx512_bf16\n"
                    "processor\t: 1\nmodel name\t: Other\nflags\t\t: avx512f\n")
    monkeypatch.setattr(precision, "CPUINFO", info)
    key = precision.cache_key(torch.device("cpu"))
    assert key == f"cpu|AMD EPYC 9654|avx2,avx512_bf16,amx_tile|torch {torch.__version__}|probe {precision.PROBE_VERSION}"
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "absent")
    assert precision.cpu_model() == (platform.processor() or platform.machine())
    assert precision.cpu_flags() == ""


_DEVICE_AT_START = __import__("os").environ.get(precision.DEVICE_ENV)  # before any test of this file ran


def test_use_device_sets_the_device_for_the_whole_process(monkeypatch):
    """Its worker processes inherit it; the next test's device must not be this one's (tests/conftest.py)."""
    import os

    import headstart

    monkeypatch.delenv(precision.DEVICE_ENV, raising=False)  # recorded by nothing: the variable was absent
    headstart.use_device("cpu")
    assert os.environ[precision.DEVICE_ENV] == "cpu"


def test_the_next_test_starts_with_the_device_the_process_had():
    """A test's --device / use_device stayed for the rest of its pytest-xdist process (on a GPU machine, every later
    test of the file ran on the CPU, and which tests did depended on how the files were shared out)."""
    import os

    assert os.environ.get(precision.DEVICE_ENV) == _DEVICE_AT_START
