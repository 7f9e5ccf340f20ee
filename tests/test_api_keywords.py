"""The Python API mirrors the CLI: each command's flags are keywords of its function (or a deliberate difference, listed
and said why), and the training flags of adapt / continual / multitask / compare are keywords over ``config``."""

from __future__ import annotations

import pytest
from conftest import assert_user_error, run_cli

from headstart.errors import ConfigError


@pytest.mark.parametrize("command, flags", [
    (["continual", "--stream", "text", "--arms", "naive", "--n", "8", "--seeds", "1"],
     {"lr": 1e-4, "head_lr": 1e-2, "epochs": 2, "min_steps": 3, "max_steps": 5, "image_size": 32}),
    (["multitask", "--tasks", "drug-reviews,drug-reviews-sentiment", "--weighting", "equal", "--n", "8", "--seeds", "1"],
     {"lr": 1e-4, "head_lr": 1e-2, "epochs": 2, "min_steps": 3, "max_steps": 5, "batch_size": 8}),
])
def test_continual_and_multitask_take_their_training_flags_as_keywords(command, flags, tmp_path, monkeypatch, capsys):
    """``headstart continual --max-steps 5 ...`` is ``continual(..., max_steps=5)`` (it was reachable only through
    ``config``): the same training settings, a keyword over ``config``'s field, a floor above the cap refused."""
    import headstart.outdir

    trained = []

    def captured(out, name, settings, **kwargs):
        trained.append(settings["train"])
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.outdir, "check_same_report", captured)
    monkeypatch.setattr(headstart.continual, "check_same_report", captured)
    typed = [f for k, v in flags.items() for f in (f"--{k.replace('_', '-')}", str(v))]
    assert_user_error(run_cli([*command, "--out", str(tmp_path / "cli"), "-q", *typed], monkeypatch, capsys), "captured")
    function = getattr(headstart, command[0])
    given = {"stream": "text", "arms": "naive"} if command[0] == "continual" else {
        "tasks": "drug-reviews,drug-reviews-sentiment", "weighting": "equal"}
    with pytest.raises(ConfigError, match="^captured$"):
        function(**given, n=8, seeds=1, out=tmp_path / "py", config={"max_steps": 99, "clip": 0.5}, **flags)
    cli, python = trained
    assert python == {**cli, "clip": 0.5} and python["max_steps"] == 5
    with pytest.raises(ConfigError, match=r"min_steps=9 is above max_steps=5"):
        function(**given, n=8, seeds=1, out=tmp_path / "py2", min_steps=9, max_steps=5)
