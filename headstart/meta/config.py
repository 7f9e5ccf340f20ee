"""``MetaConfig``: every setting of a ``headstart meta-train`` run, saved with its results (no torch here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from headstart.errors import ConfigError, comma_entries
from headstart.python_checks import settings_class
from headstart.arguments import check_once, check_seed
from headstart.specs import check_image_size

DEFAULT_ARMS = ("protonet", "maml", "fomaml", "reptile")
SETTINGS = {  # --setting NAME: (base dataset, novel datasets)
    "cross-domain": ("fashion-mnist", ("mnist-5k", "opencv-digits")),  # clothes -> digits
    "fashion-split": ("fashion-mnist", ("fashion-mnist",)),  # a dataset named as base and novel splits its classes
}
INNER = ("head", "all")
TUNABLE = ("meta-lr",)  # what --tune takes
META_LR_GRID = (3e-5, 1e-4, 3e-4)  # --tune meta-lr: the default and a half-decade either side


@settings_class
@dataclass(frozen=True)
class MetaConfig:
    arms: tuple[str, ...] = DEFAULT_ARMS
    backbone: str = "mnist-cnn"
    base: str = "fashion-mnist"
    novel: tuple[str, ...] = SETTINGS["cross-domain"][1]
    ways: int = 5
    shots: tuple[int, ...] = (1, 5)
    queries: int = 15  # per class, Snell et al.'s and Finn et al.'s test episodes
    train_shots: int = 5  # one network per arm serves every test shot count (half the cost of one per count)
    episodes: int = 600  # test episodes per (novel dataset, shots): the field's convention for a 95% CI
    meta_steps: int = 300
    meta_batch: int = 4  # tasks per meta-step: Finn et al.'s mini-ImageNet 1-shot setting
    meta_lr: float = 1e-4  # Adam on θ; Snell's and Finn's 1e-3 trains from scratch, and on the pre-trained MNIST CNN it
    # moves the features off digits: ProtoNets 5-way 1-shot on opencv-digits after 60 steps 85.9% at 1e-4, 83.5% at 3e-4 (DESIGN)
    inner: str = "head"  # MAML / FOMAML inner loop: "head" (ANIL: features once per task) or "all" (the whole network)
    inner_lr: float = 0.01  # α, Finn et al.
    inner_steps: int = 5  # inner SGD steps in meta-training (Finn et al.: 5)
    test_inner_steps: int = 10  # ... and at test time (Finn et al.: 10)
    reptile_step: float = 1.0  # ε, linearly annealed to 0 (Nichol et al.)
    finetune_steps: int = 10  # the plain backbone's fine-tuning baseline: SGD steps on the support set ...
    finetune_lr: float = 0.01  # ... at this lr, the same rule as Reptile's and MAML's test-time adaptation
    probe_c: float = 1.0  # logistic regression's inverse regularisation on L2-normalised features (scikit-learn's default, Tian et al.)
    per_class: int = 600  # rows kept per class, a seeded draw: mini-ImageNet's 600
    val_episodes: int = 200  # validation episodes per shot count, on held-out rows of the base classes (0: none)
    val_per_class: int = 150  # held-out base rows per class those episodes draw from: never a meta-training row
    tune: tuple[str, ...] = ()  # ("meta-lr",): each Adam-trained arm at every rate of META_LR_GRID, the best on validation kept
    image_size: int | None = None  # None: the backbone's own
    seed: int = 0
    threads: int = 1  # torch and BLAS threads: an episode's maths is small, and hand-offs cost more (2 threads: 3-5x slower on a busy 2-core CPU)

    def __post_init__(self) -> None:
        if isinstance(self.novel, str):  # "mnist-5k,opencv-digits" as --novel writes it, not its letters
            object.__setattr__(self, "novel", tuple(comma_entries(self.novel, name="--novel", noun="dataset")))
        if isinstance(self.tune, str):  # "meta-lr" as --tune writes it
            object.__setattr__(self, "tune", tuple(comma_entries(self.tune, name="--tune", noun="setting")))
        if isinstance(self.shots, str) or (isinstance(self.shots, int) and not isinstance(self.shots, bool)):
            object.__setattr__(self, "shots", parse_ints(str(self.shots), "--shots"))  # "1,5" or 5, as --shots takes them
        if isinstance(self.shots, (int, str)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in self.shots):
            raise ConfigError(f"--shots must be whole numbers, got {self.shots!r}; e.g. shots=(1, 5)")
        if not self.arms:
            raise ConfigError(f"--arms is empty; try --arms {','.join(DEFAULT_ARMS)}")
        check_seed(self.seed)
        if self.ways < 2:
            raise ConfigError(f"--ways must be >= 2 (an episode tells classes apart), got {self.ways!r}; try --ways 5")
        check_once("--shots", self.shots, "shot count")
        if not self.shots or min(self.shots) < 1 or self.train_shots < 1:
            bad = self.train_shots if self.train_shots < 1 else (min(self.shots) if self.shots else "none")
            raise ConfigError(f"--shots must be >= 1 (each class needs a labelled example), got {bad!r}; try --shots 1,5")
        for names, low, bound in ((("queries", "episodes", "meta_batch", "per_class", "val_per_class", "threads"), 1, ">= 1"),
                                  (("meta_steps", "inner_steps", "test_inner_steps", "finetune_steps", "val_episodes"), 0, ">= 0")):
            for name in names:
                if getattr(self, name) < low:
                    flag = f"--{name.replace('_', '-')}"
                    raise ConfigError(f"{flag} must be {bound}, got {getattr(self, name)!r}; e.g. {flag} {getattr(MetaConfig, name)} "
                                      "(the default)")
        for name in ("meta_lr", "inner_lr", "finetune_lr", "probe_c"):
            if not getattr(self, name) > 0:
                flag = f"--{name.replace('_', '-')}"
                raise ConfigError(f"{flag} must be > 0, got {getattr(self, name)!r}; e.g. {flag} {getattr(MetaConfig, name):g} (the default)")
        if not 0 < self.reptile_step <= 1:
            raise ConfigError(f"--reptile-step must be in (0, 1], got {self.reptile_step!r}; try 1.0")
        if self.inner not in INNER:
            raise ConfigError(f"--inner must be one of {', '.join(INNER)}, got {self.inner!r}; try --inner head")
        if not self.novel:
            raise ConfigError("--novel is empty; try --novel mnist-5k,opencv-digits")
        for name in self.tune:
            if name not in TUNABLE:
                from headstart.errors import unknown

                raise unknown("--tune setting", name, TUNABLE)
        check_once("--tune", self.tune, "setting")
        if self.val_episodes and self.val_per_class < max(self.shots) + self.queries:
            raise ConfigError(f"--val-per-class {self.val_per_class} cannot fill a validation episode, which needs shots + "
                              f"queries = {max(self.shots) + self.queries} rows a class; try --val-per-class "
                              f"{MetaConfig.val_per_class}, or --val-episodes 0 for none")
        check_image_size(self.image_size)  # before the folder is checked: the bad value is what to name
        if self.tune and self.val_episodes == 0:
            raise ConfigError(f"--tune {','.join(self.tune)} chooses on validation episodes, and --val-episodes 0 asks for none; "
                              f"try --val-episodes {MetaConfig.val_episodes}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def setting_datasets(setting: str, *, base: str | None = None, novel: str | None = None) -> tuple[str, tuple[str, ...]]:
    """(base dataset, novel datasets) of ``--setting NAME``, with ``--base`` / ``--novel`` (comma-separated) over it.

    Raises:
        ConfigError: an unknown setting, or a novel dataset named twice.
    """
    from headstart.errors import unknown

    if setting not in SETTINGS:
        raise unknown("setting", setting, SETTINGS)
    default_base, default_novel = SETTINGS[setting]
    novel_names = tuple(comma_entries(novel, name="--novel", noun="dataset")) if novel is not None else default_novel
    check_once("--novel", novel_names, "dataset")
    return base or default_base, novel_names


def check_out_is_a_folder(out: Any) -> None:
    """Refuse ``meta_train(NAME)`` where NAME is a dataset, backbone, setting or arm, not yet a folder: ``fit`` and ``compare``
    take their data first, ``meta_train`` its output folder, and the name was taken as that folder while the default
    experiment (4 arms, 300 meta-steps each, 2,400 test episodes) ran for many minutes, saying nothing.

    Raises:
        ConfigError: naming where the name goes.
    """
    from pathlib import Path

    from headstart.backbones.registry import REGISTRY as BACKBONES
    from headstart.data.builtin import REGISTRY as DATASETS
    from headstart.meta.base import ARMS

    if not isinstance(out, str) or Path(out).exists():
        return
    name = out
    fix = next((f"{what}: e.g. meta_train('runs/meta', {how})" for names, what, how in (
        (SETTINGS, "a setting", f"setting={name!r}"), (DATASETS, "a dataset", f"MetaConfig(base={name!r})"),
        (BACKBONES, "a backbone", f"MetaConfig(backbone={name!r})"), (ARMS, "an arm", f"MetaConfig(arms=({name!r},))"))
        if name in names), None)
    if fix:
        raise ConfigError(f"meta_train's first argument is out, the folder it writes; {name!r} is {fix}")


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """``"1,5"`` -> (1, 5).

    Raises:
        ConfigError: a part that is not an integer.
    """
    try:
        return tuple(int(p) for p in comma_entries(text, name=option, noun="number"))
    except ValueError:
        raise ConfigError(f"{option} expects integers separated by commas, got {text!r}; e.g. {option} 1,5") from None
