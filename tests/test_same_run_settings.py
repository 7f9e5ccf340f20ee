"""Tests of headstart/same_run.py: a refusal to replace another run names each differing setting as its flag takes it,
with the value in the folder and the one asked."""

from __future__ import annotations

import json

import pytest

from headstart.same_run import other_run
from headstart.specs import RunSpec, TrainConfig
from headstart.surface import SURFACE_ENV


@pytest.mark.parametrize("surface", ["cli", "python"])
def test_each_setting_that_differs_is_named_as_the_user_gives_it(tmp_path, monkeypatch, surface):
    monkeypatch.setenv(SURFACE_ENV, surface)
    held = RunSpec(data="x", strategy="lora", terms={"l2sp": {"weight": 0.01}}, options={"rank": 4})
    (tmp_path / "spec.json").write_text(json.dumps({"spec": held.to_dict()}, default=list))

    def differ(mine: RunSpec) -> str:
        return other_run(tmp_path, mine).split("settings that differ: ", 1)[1]

    weighed = differ(RunSpec(data="x", strategy="lora", terms={"l2sp": {"weight": 0.1}}, options={"rank": 8}))
    untermed = differ(RunSpec(data="x", strategy="lora", options={"rank": 4}, tune="lr"))
    head = differ(RunSpec(data="x", strategy="lora", terms={"l2sp": {"weight": 0.01}}, options={"rank": 4},
                          train=TrainConfig(head_lr=0.5)))
    if surface == "cli":  # there is no --l2sp flag, nor --option rank 4: the flags as they are written
        assert weighed == "--option rank=4 there, rank=8 asked; --terms l2sp[weight=0.01] there, l2sp[weight=0.1] asked"
        assert untermed == "--terms l2sp[weight=0.01] there, none asked; --tune none there, lr asked"
        assert head == "--head-lr default there, 0.5 asked"
    else:
        assert weighed == "options.rank 4 there, 8 asked; terms.l2sp l2sp[weight=0.01] there, l2sp[weight=0.1] asked"
        assert head == "train.head_lr default there, 0.5 asked"
