"""The parent's side of the training check: held-out images, foreground Dice, and a sample picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .keys import held_out_key
from .kit import load_image_gen
from .profiles import Profile

EPS = 0.0001  # the lab's DiceCoeff eps


def held_out(profile: Profile, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`eval_images` fresh images as N x 1 x H x W float32, and their foreground masks as N x H x W bool.

    Drawn from the held-out key, which only the parent knows: the sandbox gets the images, never the masks
    nor anything they derive from.
    """
    rng = np.random.default_rng(held_out_key(seed))
    provider = load_image_gen().GrayScaleDataProvider(profile.size, profile.size, cnt=profile.cnt,
                                                      sigma=profile.sigma, rng=rng)
    images, labels = provider(profile.eval_images)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32), labels[..., 1] > 0.5


def predicted_masks(logits: np.ndarray) -> np.ndarray:
    """Foreground where sigmoid(logit) > 0.5, i.e. logit > 0; NaN counts as background."""
    return logits[:, 1] > 0


def foreground_dice(pred: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Dice of the foreground channel, one value per image."""
    inter = (pred & masks).sum(axis=(1, 2))
    return (2 * inter + EPS) / (pred.sum(axis=(1, 2)) + masks.sum(axis=(1, 2)) + EPS)


def all_foreground_dice(masks: np.ndarray) -> float:
    """What a network that marks every pixel as foreground scores: the floor any pass mark must clear."""
    return float(foreground_dice(np.ones_like(masks), masks).mean())


def render_sample(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, title: str, path: Path) -> None:
    """A small PNG: input, ground truth, prediction, side by side (no pyplot state: safe in threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 2.8))
    FigureCanvasAgg(fig)
    panels = [(image, "input", "gray"), (truth, "ground truth", "viridis"), (pred, "prediction", "viridis")]
    for ax, (picture, name, cmap) in zip(fig.subplots(1, 3), panels, strict=True):
        ax.imshow(picture, cmap=cmap, vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
