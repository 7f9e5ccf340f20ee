"""What a sweep is: every arm at every size with every seed (and on every backbone), as plain data.

``SweepSpec.cells()`` is the product as a visible loop; ``headstart.sweep`` runs it.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

from headstart.backbones import DEFAULT as DEFAULT_BACKBONE
from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError, closest, comma_entries
from headstart.python_checks import python_checked, python_named
from headstart.surface import spoken
from headstart.arguments import as_config, check_once, parse_n
from headstart.specs import RunSpec, TrainConfig, tune_setting

DEFAULT_STRATEGIES = ("scratch", "linear-probe", "full-finetune")
DEFAULT_SIZES: tuple[int | None, ...] = (8, 16, 32, 64, 128, 256, None)


@python_checked
@dataclass(frozen=True)
class SweepSpec:
    """The product to run: every strategy at every size with every seed (0 .. seeds-1).

    Its checks name the CLI's flags to the CLI and its fields to a Python caller (``python_checks.python_checked``).

    Attributes:
        sizes: labelled-set sizes; None means the whole pool ("all"); 0 runs the label-free arms (zero-shot).
        options: per-strategy options, e.g. ``{"partial-freeze": {"freeze": 3}}``.
        train_by_strategy: per-strategy TrainConfig overrides, e.g. ``{"full-finetune": {"min_steps": 30}}``.
        split: the dataset's pool / validation / test split, shared by every cell.
        tune: "lr" (the default) chooses every cell's learning rate on validation (``headstart.tuning``); None
            trains each strategy at its default rate.
        grids: per-strategy values for ``tune`` to search instead of the strategy's grid, e.g.
            ``{"full-finetune": (2e-5, 5e-5, 1e-4)}`` (``--grid full-finetune=2e-5,5e-5,1e-4``).
        retain: classification datasets on which every run's forgetting is measured (``headstart.retention``).
        eval_data: datasets with the task's labels on whose test split every run is also scored, out of domain
            (``headstart.ood``).
        tta: test-time adaptations (``headstart.tta``) each out-of-domain score is also taken after.
        tta_arms: the arms (as written in ``arms``, or strategies) whose cells take ``tta``; empty (the default): every
            arm. adapt gives its source-only arm: its method table has the test-time methods there only.
        backbones: several backbones to cross with everything else (``--backbones a,b``): each is its own experiment
            in the report (``analysis.arms.experiments``), with its own curves; ``backbone`` becomes the first.
        arms: what to compare instead of ``strategies``, each ``strategy[options]+term[options]``
            (``arm_text.parse_arm``): ``("lora[rank=4]", "lora[rank=16]", "full-finetune+l2sp[weight=0.01]")``;
            ``strategies`` becomes their strategies. ``options`` and ``train_by_strategy`` still apply per strategy,
            under what an arm sets itself.
        cap_over_floors: ``train.max_steps`` caps every floor above it, ``train``'s and ``train_by_strategy``'s too, as
            it caps a strategy's own floor (the report says "capped at N by max_steps"): the CLI's ``--max-steps`` over
            a ``--config``'s floors, where the CLI has named the floors it cuts. False: such a floor is refused, as a
            caller setting both asks for two budgets at once.
    """

    data: str = "rotten-tomatoes"
    backbone: str = DEFAULT_BACKBONE
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    sizes: tuple[int | None, ...] = DEFAULT_SIZES
    seeds: int = 5
    train: TrainConfig = field(default_factory=TrainConfig)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_by_strategy: dict[str, dict[str, Any]] = field(default_factory=dict)  # TrainConfig fields per strategy
    text_column: str | None = None
    label_column: str | None = None
    task: str | None = None
    pooling: str | None = None
    split: SplitConfig = field(default_factory=SplitConfig)
    tune: str | None = "lr"
    grids: dict[str, tuple[float, ...]] = field(default_factory=dict)
    arms: tuple[str, ...] = ()
    retain: tuple[str, ...] = ()
    backbones: tuple[str, ...] = ()
    group_column: str | None = None
    split_column: str | None = None
    test_data: str | None = None  # every run's test split (--test-data)
    eval_data: tuple[str, ...] = ()
    tta: tuple[str, ...] = ()
    tta_arms: tuple[str, ...] = ()
    cap_over_floors: bool = False

    def __post_init__(self) -> None:
        from headstart.arm_text import parse_arm, split_arms
        from headstart.arguments import parse_grid
        from headstart.specs import check_eval_data, check_tta, pooling_modes

        from headstart.data.own_split import check_test_data

        check_test_data(self.test_data, self.split_column)
        if self.pooling is not None:  # before the data or any backbone loads
            pooling_modes(self.pooling)
        object.__setattr__(self, "eval_data", check_eval_data(self.eval_data))
        object.__setattr__(self, "tta", check_tta(self.tta, self.eval_data))
        from headstart.strategies import get_strategy
        from headstart.tuning import grid_for

        if self.arms:
            object.__setattr__(self, "arms", split_arms(self.arms))
            parsed = [parse_arm(a) for a in self.arms]
            check_once("--arms", self.arms, "arm")
            object.__setattr__(self, "strategies", tuple(dict.fromkeys(p[0] for p in parsed)))

        if self.backbones:
            backbones = parse_list(self.backbones, name="--backbones", noun="backbone") if isinstance(self.backbones, str) else tuple(self.backbones)
            if not backbones or not all(isinstance(b, str) and b.strip() for b in backbones):
                raise ConfigError(f"--backbones must name backbones, e.g. {_listed('backbones', ('all-minilm-l6-v2', 'ENCODER_FOLDER'))}; "
                                  f"got {self.backbones!r}")
            check_once("--backbones", backbones, "backbone")
            object.__setattr__(self, "backbones", backbones)
            object.__setattr__(self, "backbone", backbones[0])
        if self.tta_arms:
            object.__setattr__(self, "tta_arms", tuple(self.tta_arms))
            if not self.tta:
                raise ConfigError(f"tta_arms names arms to adapt at test time ({', '.join(self.tta_arms)}), but tta is "
                                  "empty; give tta=('tent',) or drop tta_arms")
            names = self.arms or self.strategies
            for arm in self.tta_arms:
                if arm not in names:
                    raise ConfigError(f"tta_arms names {arm!r}, which is not an arm of this sweep ({', '.join(names)})"
                                      f"{closest(arm, names)}")
        if not self.strategies:
            raise ConfigError(f"--strategies is empty; e.g. {_listed('strategies', DEFAULT_STRATEGIES)}")
        for name, given in self.train_by_strategy.items():  # each a table of TrainConfig's fields, named when one is not
            as_config(given, TrainConfig, name=f"train_by_strategy[{name!r}]")
        for name in self.strategies:
            get_strategy(name)
        if not self.arms:  # arms of one strategy (lora[rank=4], lora[rank=16]) share it
            check_once("--strategies", self.strategies, "strategy")
        object.__setattr__(self, "tune", tune_setting(self.tune))
        if self.grids and self.tune is None:
            raise ConfigError(spoken("--grid lists the learning rates --tune searches, but tuning is off (--no-tune); drop one",
                                     "grids lists the learning rates tune searches, but tuning is off (tune=None); drop one"))
        for name in self.grids:  # before the values: a misspelt name is the first thing to fix
            if name not in self.strategies:
                guess = closest(name, self.strategies)  # a misspelt strategy: its fix, else any of them
                raise ConfigError(f"{_grid(name)}: {name!r} is not in --strategies ({', '.join(self.strategies)})"
                                  + (guess or f"; name one of them, e.g. {_grid_example(self.strategies[0])}"))
            strategy = get_strategy(name)
            if not any(grid_for(strategy, m) for m in ("text", "image")):
                raise ConfigError(f"{name} has no learning rate to tune ({strategy.untuned_why}); drop "
                                  + spoken(f"--grid {name}=...", f"grids[{name!r}]"))
        object.__setattr__(self, "grids", {name: parse_grid(grid, name=_grid(name), example=_grid_example(name))
                                           for name, grid in self.grids.items()})
        for table in (self.options, self.train_by_strategy, self.grids):
            for name in table:
                if name not in self.strategies:
                    raise ConfigError(f"settings given for {name!r}, which is not in --strategies ({', '.join(self.strategies)})"
                                      f"{closest(name, self.strategies)}")
        if not self.cap_over_floors:
            self.train.check_as_given()
        for overrides in self.train_by_strategy.values():
            merged = dataclasses.replace(self.train, **overrides)  # validates names and values now, not mid-sweep
            if not self.cap_over_floors or "max_steps" in overrides:  # a strategy's own cap is no command line's
                merged.check_as_given()
        if not self.sizes:
            raise ConfigError(f"--sizes is empty; e.g. {_listed('sizes', (8, 16, 32, 64, None))}")
        free = [name for name in self.strategies if not get_strategy(name).needs_labels]
        if free and 0 not in self.sizes:
            raise ConfigError(f"{', '.join(free)} reads no labelled examples and runs at size 0 only, which --sizes lacks; "
                              f"add it, e.g. {_listed('sizes', (0, *self.sizes))}")
        if 0 in self.sizes and not free:
            raise ConfigError("size 0 in --sizes runs only strategies that need no labels (zero-shot), and none is in "
                              "--strategies; add zero-shot or drop 0")
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 1:
            raise ConfigError(f"--seeds must be a positive integer, got {self.seeds!r}; try --seeds 5")

    def arm_specs(self) -> list[tuple[str, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]]:
        """Each arm as ``(strategy, options, train overrides, terms)``: ``arms`` read, or one default arm a strategy."""
        from headstart.arm_text import parse_arm

        if not self.arms:
            return [(strategy, {}, {}, {}) for strategy in self.strategies]
        return [parse_arm(a) for a in self.arms]

    def tta_of(self, arm: str) -> tuple[str, ...]:
        """The test-time adaptations ``arm``'s cells take (``tta_arms``)."""
        return self.tta if not self.tta_arms or arm in self.tta_arms else ()

    def cells(self) -> list[RunSpec]:
        """Every run of the sweep, seed-major so that the first seed completes whole curves first. Size 0 holds the
        arms that need no labels (zero-shot) and only them: strategies that train on labels skip it, and a label-free
        arm would give the same result at every other size."""
        from headstart.strategies import get_strategy

        arms = list(zip(self.arms or self.strategies, self.arm_specs()))
        runs = []
        for seed in range(self.seeds):
            for n in self.sizes:
                for backbone, (arm, (strategy, options, train, terms)) in itertools.product(self.backbones or (self.backbone,), arms):
                    if get_strategy(strategy).needs_labels == (n == 0):
                        continue
                    runs.append(RunSpec(data=self.data, backbone=backbone, strategy=strategy, n=n, seed=seed,
                                        options={**self.options.get(strategy, {}), **options},
                                        train=dataclasses.replace(self.train, **{**self.train_by_strategy.get(strategy, {}), **train}),
                                        text_column=self.text_column, label_column=self.label_column, task=self.task,
                                        group_column=self.group_column, split_column=self.split_column,
                                        test_data=self.test_data,
                                        pooling=self.pooling, split=self.split, tune=self.tune,
                                        grid=self.grids.get(strategy), terms=terms, retain=tuple(self.retain),
                                        eval_data=self.eval_data, tta=self.tta_of(arm)))
        return runs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _listed(field: str, values: tuple[Any, ...]) -> str:
    """A list the user gives, as the CLI's flag (``--sizes 8,16,all``) or as SweepSpec's tuple (``sizes=(8, 16, None)``)."""
    return spoken(f"--{field} " + ",".join("all" if v is None else str(v) for v in values), f"{field}={tuple(values)!r}")


def _grid(name: str) -> str:
    """One strategy's tuning grid, named as the user gave it: ``--grid lora=`` on the CLI, ``grids['lora']`` in Python."""
    return spoken(f"--grid {name}=", f"grids[{name!r}]")


def _grid_example(name: str) -> str:
    return spoken(f"--grid {name}=2e-5,5e-5,1e-4", f"grids={{{name!r}: (2e-5, 5e-5, 1e-4)}}")


@python_named
def parse_sizes(sizes: str | int | list[int | str | None] | tuple[int | str | None, ...], *,
                name: str = "--sizes") -> tuple[int | None, ...]:
    """"8,16,all", one size (8) or a list of them ([8, 16, "all"], None for "all"; a range or a 1-D numpy array of
    integers too) -> (8, 16, None), sorted, "all" last.

    Raises:
        ConfigError: a malformed or repeated entry, or neither text, a number nor a list, naming it and ``name``, where
            the sizes came from (``--sizes``, ``sizes in sweep.toml``); called from Python, ``--sizes`` reads ``sizes``
            (``python_checks.python_named``).
    """
    if isinstance(sizes, range) or (type(sizes).__module__ == "numpy" and getattr(sizes, "ndim", None) == 1):
        sizes = list(sizes)  # range(16, 65, 16), np.array([16, 32]): a list of sizes
    if isinstance(sizes, (list, tuple)):  # the Python API's list
        text = ",".join("all" if v is None else str(v) for v in sizes)
    elif isinstance(sizes, (str, int)) and not isinstance(sizes, bool):
        text = str(sizes)
    else:  # only a Python caller gets here: the CLI's and a TOML's sizes are text
        raise ConfigError(f"{name} must be text like '8,16,all' or a list of sizes, got {sizes!r:.60}; e.g. sizes=[16, 64, 'all']")
    parts = comma_entries(text, name=name, noun="size", flag="--sizes")
    if not parts:
        raise ConfigError(f"{name} must list sizes like 8,16,32,all; got {text!r}")
    parsed = []
    for part in parts:
        try:
            parsed.append(parse_n(part))
        except ConfigError:
            raise ConfigError(f"{name} entry {part!r} is not a non-negative integer or 'all'; e.g. --sizes 0,8,16,32,all") from None
    check_once(name, parsed, "size")
    return tuple(sorted(parsed, key=lambda n: float("inf") if n is None else n))


def parse_list(text: str, *, name: str, noun: str = "name", flag: str | None = None) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``; an empty entry is a ConfigError naming ``name`` (``comma_entries``)."""
    return tuple(comma_entries(text, name=name, noun=noun, flag=flag))
