"""The reference solution's `unet` and `image_utils` packages reproduce the lab's facts (FACTS.md).

The packages are imported under unique module names (`kit_solution_unet`, ...) and removed from
sys.modules afterwards, so other tests are free to import their own `unet`.
The helpers `load_kit_package`, `cells_tagged` and `exec_cells` are shared with the other kit tests.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "week-06"

# FACTS.md: the Jaccard cell prints these for (eye, eye), (eye, ones), (zeros, ones), (zeros, zeros),
# each to the precision shown (half a unit in the last printed place).
JACCARD_PRINTED = [(1.0000, 5e-5), (0.3333, 5e-5), (1.1111e-05, 5e-10), (1.0, 5e-5)]
PARAMS_UNET = 13_394_242
PARAMS_UNET_ADD = 11_809_090
PARAMS_UNET_SHALLOW_64_128_128 = 851_266
EPS = 0.0001


def load_kit_package(root: Path, package: str, alias: str) -> ModuleType:
    """Import `root/package` as the module `alias` (its own relative imports follow the alias)."""
    init = root / package / "__init__.py"
    spec = importlib.util.spec_from_file_location(alias, init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        forget_modules(alias)
        raise
    return module


def forget_modules(*aliases: str) -> None:
    for name in list(sys.modules):
        if any(name == alias or name.startswith(alias + ".") for alias in aliases):
            del sys.modules[name]


def cells_tagged(notebook: Path, tag: str) -> list[str]:
    """The sources of the cells carrying `tag`, in notebook order."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = ["".join(c["source"]) for c in cells if tag in c.get("metadata", {}).get("tags", [])]
    assert found, f"no cell tagged {tag!r} in {notebook}"
    return found


def exec_cells(notebook: Path, *tags: str, namespace: dict | None = None) -> dict:
    """Run the tagged cells' code in one namespace (numpy, torch and nn preloaded) and return it."""
    ns = {"np": np, "torch": torch, "nn": torch.nn} if namespace is None else namespace
    for tag in tags:
        for source in cells_tagged(notebook, tag):
            exec(compile(source, f"<{notebook.name}:{tag}>", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def kit():
    """The solution's `unet` and `image_utils`, imported under private names."""
    aliases = ("kit_solution_unet", "kit_solution_image_utils")
    try:
        yield SimpleNamespace(
            unet=load_kit_package(SOLUTION, "unet", aliases[0]),
            image_utils=load_kit_package(SOLUTION, "image_utils", aliases[1]),
        )
    finally:
        forget_modules(*aliases)


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def masks(rng: np.random.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy((rng.random(shape) < 0.4).astype(np.float64))


# --- Q3: Jaccard and Dice --------------------------------------------------------------------------


def test_jaccard_prints_the_labs_four_values(kit):
    eye, ones, zeros = (torch.tensor(a) for a in (np.eye(3), np.ones((3, 3)), np.zeros((3, 3))))
    jaccard = kit.unet.JaccardCoeff
    pairs = [(eye, eye), (eye, ones), (zeros, ones), (zeros, zeros)]
    got = [jaccard().forward(a, b).item() for a, b in pairs]
    for value, (printed, tolerance) in zip(got, JACCARD_PRINTED, strict=True):
        assert abs(value - printed) <= tolerance, (got, JACCARD_PRINTED)


def test_jaccard_follows_the_formula_on_random_masks(kit):
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = masks(rng, (7, 9)), masks(rng, (7, 9))
        inter = float(np.sum(a.numpy() * b.numpy()))
        union = float(a.numpy().sum() + b.numpy().sum()) - inter
        expected = (inter + EPS) / (union + EPS)
        assert kit.unet.JaccardCoeff().forward(a, b).item() == pytest.approx(expected, rel=1e-12)


def test_dice_and_its_batch_mean_follow_the_formula(kit):
    rng = np.random.default_rng(1)
    batch, target = masks(rng, (4, 2, 6, 6)), masks(rng, (4, 2, 6, 6))
    per_item = []
    for a, b in zip(batch.numpy(), target.numpy(), strict=True):
        inter = float(np.sum(a * b))
        per_item.append((2 * inter + EPS) / (a.sum() + b.sum() + EPS))
    assert kit.unet.DiceCoeff().forward(batch[0], target[0]).item() == pytest.approx(per_item[0], rel=1e-12)
    assert kit.unet.dice_coeff(batch, target).item() == pytest.approx(np.mean(per_item), rel=1e-12)


def test_metrics_raise_no_warning_when_built_called_or_forwarded(kit):
    a = torch.ones(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in (kit.unet.DiceCoeff, kit.unet.JaccardCoeff):
            metric().forward(a, a)
            metric()(a, a)


# --- the networks ----------------------------------------------------------------------------------


def test_parameter_counts_match_the_lab(kit):
    assert n_params(kit.unet.UNet(1, 2)) == PARAMS_UNET
    assert n_params(kit.unet.UNet_add(1, 2)) == PARAMS_UNET_ADD
    assert n_params(kit.unet.UNet_shallow(1, 2)) == PARAMS_UNET_SHALLOW_64_128_128


@pytest.mark.parametrize("name", ["UNet", "UNet_shallow", "UNet_add"])
@pytest.mark.parametrize("size", [(32, 32), (40, 24)])
def test_networks_return_logits_the_size_of_the_input(kit, name, size):
    net = getattr(kit.unet, name)(3, 2).eval()
    last_conv = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    seen = []
    last_conv.register_forward_hook(lambda module, args, output: seen.append(output))
    with torch.no_grad():
        out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 2, *size)
    # logits: the final 1x1 conv's output comes back untouched, with no sigmoid after it
    assert last_conv.kernel_size == (1, 1)
    torch.testing.assert_close(out, seen[-1])


def test_unet_shallow_downsamples_exactly_twice(kit):
    pools = [m for m in kit.unet.UNet_shallow(1, 2).modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2


def test_up_add_adds_the_upsampled_map_to_the_skip(kit):
    torch.manual_seed(0)
    block = kit.unet.up_add(6, 4).eval()
    assert block.conv.conv[0].in_channels == 6
    x1, x2 = torch.rand(1, 6, 5, 5), torch.rand(1, 6, 10, 10)
    upsampled = F.interpolate(x1, scale_factor=2, mode="bilinear", align_corners=True)
    with torch.no_grad():
        torch.testing.assert_close(block(x1, x2), block.conv(x2 + upsampled))


def test_up_concatenates_skip_first(kit):
    torch.manual_seed(0)
    block = kit.unet.up(8, 4).eval()
    x1, x2 = torch.rand(1, 4, 3, 3), torch.rand(1, 4, 7, 7)
    upsampled = F.pad(F.interpolate(x1, scale_factor=2, mode="bilinear", align_corners=True), [0, 1, 0, 1])
    with torch.no_grad():
        torch.testing.assert_close(block(x1, x2), block.conv(torch.cat([x2, upsampled], dim=1)))


# --- eval_net --------------------------------------------------------------------------------------


MASK_RNG = np.random.default_rng(2)


class Oracle(torch.nn.Module):
    """Logits that threshold to the mask hidden in the image (foreground wherever the image is 1)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(50.0))
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled(), x.dtype, tuple(x.shape)))
        fg = self.scale * (x - 0.5)
        return torch.cat([-fg, fg], dim=1)


def mask_images(n):
    """A generator whose image IS its foreground mask, in the lab's NHWC layout."""
    fg = (MASK_RNG.random((n, 8, 8, 1)) < 0.5).astype(np.float64)
    return fg, np.concatenate([1 - fg, fg], axis=-1)


def test_eval_net_scores_a_perfect_net_one_and_restores_train_mode(kit):
    net = Oracle().train()
    calls = []

    def generator(n):
        calls.append(n)
        return mask_images(n)

    score = kit.unet.eval_net(net, generator, gpu=False, num_validation=3)
    assert score == pytest.approx(1.0, abs=1e-6)
    assert calls == [1, 1, 1]
    assert net.training
    assert net.seen == [(False, False, torch.float32, (1, 1, 8, 8))] * 3


def test_eval_net_keeps_eval_mode_and_scores_an_inverted_net_near_zero(kit):
    net = Oracle().eval()
    with torch.no_grad():
        net.scale.fill_(-50.0)
    assert kit.unet.eval_net(net, mask_images, num_validation=2) < 1e-3
    assert not net.training


# --- the data generator ----------------------------------------------------------------------------


def test_generator_gives_the_labs_shapes_and_ranges(kit):
    x, y = kit.image_utils.image_gen.GrayScaleDataProvider(128, 128, cnt=10, sigma=20, seed=0)(2)
    assert x.shape == (2, 128, 128, 1) and y.shape == (2, 128, 128, 2)
    assert np.issubdtype(x.dtype, np.floating) and np.issubdtype(y.dtype, np.floating)
    for image in x:  # each image is stretched onto [0, 1] by itself
        assert image.min() == 0.0 and image.max() == pytest.approx(1.0)
    assert set(np.unique(y)) == {0.0, 1.0}
    assert np.all(y.sum(axis=-1) == 1)
    assert 0.0 < y[..., 1].mean() < 1.0


def test_label_channel_one_marks_the_discs(kit):
    x, y = kit.image_utils.GrayScaleDataProvider(64, 64, cnt=4, sigma=0, seed=3)(3)
    for image, label in zip(x[..., 0], y, strict=True):
        background = image[label[..., 1] == 0]
        # without noise the background is flat and the label's foreground is exactly what differs from it
        assert np.ptp(background) == 0
        assert np.all(label[..., 0] == 1 - label[..., 1])
        assert np.any(image[label[..., 1] == 1] != background[0])


def test_generator_defaults_scale_with_the_image(kit):
    provider = kit.image_utils.GrayScaleDataProvider(128, 128)
    assert (provider.border, provider.r_min, provider.r_max) == (25, 6, 38)


def test_discs_stay_inside_the_border(kit):
    provider = kit.image_utils.GrayScaleDataProvider(128, 128, cnt=1, sigma=0, seed=5)
    _, y = provider(20)
    for label in y[..., 1]:
        rows, cols = np.nonzero(label)
        # the centre lies in [25, 103), so the disc's centre row and column do too
        assert 25 <= (rows.min() + rows.max()) / 2 < 103
        assert 25 <= (cols.min() + cols.max()) / 2 < 103


def test_rgb_provider_and_rectangular_images(kit):
    x, y = kit.image_utils.RgbDataProvider(64, 32, seed=0)(3)
    assert x.shape == (3, 64, 32, 3) and y.shape == (3, 64, 32, 2)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.all(y.sum(axis=-1) == 1)


def test_same_seed_gives_identical_batches(kit):
    gen = kit.image_utils.image_gen
    a, b = gen.GrayScaleDataProvider(32, 32, seed=11), gen.GrayScaleDataProvider(32, 32, seed=11)
    for n in (1, 4):
        (xa, ya), (xb, yb) = a(n), b(n)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    c = gen.GrayScaleDataProvider(32, 32, rng=np.random.default_rng(11))
    d = gen.GrayScaleDataProvider(32, 32, seed=11)
    np.testing.assert_array_equal(c(2)[0], d(2)[0])
    other = gen.GrayScaleDataProvider(32, 32, seed=12)(2)[0]
    assert not np.array_equal(other, gen.GrayScaleDataProvider(32, 32, seed=11)(2)[0])


def test_seed_and_rng_together_are_refused(kit):
    with pytest.raises(ValueError):
        kit.image_utils.GrayScaleDataProvider(32, 32, seed=1, rng=np.random.default_rng(1))
