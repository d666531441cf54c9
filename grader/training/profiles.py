"""Training and notebook budgets per profile, and the choice of profile and device for a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# check sub-id -> the class the student writes in unet/unet_model.py
NETWORKS = {"unet": "UNet", "unet_shallow": "UNet_shallow", "unet_add": "UNet_add"}


class ProfileError(ValueError):
    """A profile that cannot run on this machine, or that does not exist; the message says why."""


@dataclass(frozen=True)
class NetBudget:
    """How long one network trains: SGD steps, images per step, and the stage's wall-clock limit."""

    steps: int
    batch: int
    timeout_s: float


@dataclass(frozen=True)
class NotebookBudget:
    """Caps written into the notebook's training cells, and its time limits (per cell, whole notebook)."""

    epochs: int
    steps: int
    batch_size: int
    num_validation: int
    cell_timeout_s: float
    timeout_s: float
    memory_mb: int

    def caps(self) -> dict[str, int]:
        return {"epochs": self.epochs, "steps": self.steps, "batch_size": self.batch_size,
                "num_validation": self.num_validation}


@dataclass(frozen=True)
class Profile:
    """One grading budget. Everything that changes what a network learns is in `settings()`."""

    name: str
    device: str
    size: int
    nets: dict[str, NetBudget]
    notebook: NotebookBudget
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 0.0005
    cnt: int = 10
    sigma: float = 20.0
    eval_images: int = 64
    batchnorm_images: int = 32
    memory_mb: int = 3072

    def settings(self, net: str) -> dict:
        """The training settings of `net`: a calibration is valid only for exactly these."""
        budget = self.nets[net]
        return {"network": NETWORKS[net], "size": self.size, "steps": budget.steps, "batch": budget.batch,
                "optimizer": "SGD", "lr": self.lr, "momentum": self.momentum,
                "weight_decay": self.weight_decay, "cnt": self.cnt, "sigma": self.sigma,
                "eval_images": self.eval_images, "batchnorm_images": self.batchnorm_images}

    def describe(self) -> dict:
        return asdict(self)


# The lab's own settings (FACTS.md): 128 x 128, 5 epochs x 50 steps, batch 32 for UNet and 4 for the others.
GPU = Profile(
    name="gpu", device="cuda:0", size=128,
    nets={"unet": NetBudget(250, 32, 300), "unet_shallow": NetBudget(250, 4, 200),
          "unet_add": NetBudget(250, 4, 200)},
    notebook=NotebookBudget(epochs=2, steps=20, batch_size=8, num_validation=2, cell_timeout_s=120,
                            timeout_s=300, memory_mb=6144),
    memory_mb=6144,
)

# A 2-core CPU: 64 x 64, batch 8; one submission's three networks take about 4 minutes on one core, so two
# workers grade a submission about every 2 minutes (README, "The training and notebook checks").
CPU = Profile(
    name="cpu", device="cpu", size=64,
    nets={"unet": NetBudget(50, 8, 360), "unet_shallow": NetBudget(60, 8, 240),
          "unet_add": NetBudget(50, 8, 360)},
    notebook=NotebookBudget(epochs=1, steps=2, batch_size=2, num_validation=1, cell_timeout_s=120,
                            timeout_s=300, memory_mb=4096),
)

# For trying the tool, not for grading a class: 32 x 32 and 30 steps, so the README's demo batch takes minutes.
# At the lab's lr 0.001, 30 steps left the reference's Dice spread too wide (0.76-0.86) to separate it from
# an all-foreground network; lr 0.01 gets there in the same steps. It has its own calibration; the time
# limits are generous for a sixth of the cpu profile's work.
DEMO = Profile(
    name="demo", device="cpu", size=32,
    nets={"unet": NetBudget(30, 8, 240), "unet_shallow": NetBudget(30, 8, 240),
          "unet_add": NetBudget(30, 8, 240)},
    notebook=CPU.notebook,
    lr=0.01,
)

PROFILES = {p.name: p for p in (CPU, GPU, DEMO)}


def cuda_available() -> bool:
    """Whether this machine has a usable CUDA device (imports torch: call once per run)."""
    import torch

    return torch.cuda.is_available()


def resolve(name: str) -> Profile:
    """`auto` is `gpu` where CUDA is available, else `cpu`; asking for `gpu` without CUDA is an error."""
    if name == "auto":
        return GPU if cuda_available() else CPU
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r} (choose auto, {', '.join(PROFILES)})")
    profile = PROFILES[name]
    if profile.device.startswith("cuda") and not cuda_available():
        raise ProfileError(f"profile {name!r} needs a CUDA GPU and none is available here; use --profile cpu")
    return profile


def lookup(value: Profile | str) -> Profile:
    """The profile a check context names: a `Profile` as given (tests), or a name `resolve` gave; `auto`
    is resolved here."""
    if isinstance(value, Profile):
        return value
    return PROFILES[value] if value in PROFILES else resolve(value)
