"""A notebook in the style of the course's original 2019 kit, written from FACTS.md in our own words.

About 130 cells, no cell tags: markdown `★★★ Question N` cells each followed by the student's `Answer N：`
cell (some just `Answer：`, one re-headed `#### Answer 4`, the kit's placeholder for questions without
points), the kit's GPU-query cells, 2019 idioms (`from __future__`, `%load_ext autoreload`, `F.sigmoid`,
`.data.numpy()`, `.cuda()` behind `is_cuda` and once without), training cells driven by the notebook's
`epochs`, `steps`, `batch_size` and `num_validation`, the Q2 loss plot, the Jaccard examples and the
deconv2d appendix. Every code cell keeps the outputs of the student's own run on a GPU server.
"""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from .conftest import build_submission

PLACEHOLDER = "Answer：（双击此处输入答案）"
ANSWER_1 = ("Answer 1：The arrays are B×H×W×C (batch, height, width, channels). The input has one channel, so "
            "it is gray; the label has two channels, a one-hot pair: background and foreground (the discs).")
ANSWER_4 = ("#### Answer 4\n\nThe net gives a logit per pixel and channel; a sigmoid turns it into a probability and "
            "a threshold of 0.5 turns the foreground channel into the mask.")
ANSWER_5 = ("Answer：Discs whose gray level is close to the background's drown in the noise; tiny or overlapping "
            "discs are hard too, and five short epochs do not learn these rare cases.")
SHALLOW_ANSWER = "Answer：The shallow net trains faster but its receptive field is smaller."
ADD_ANSWER = "Answer：Adding keeps the channel count, so up_add has fewer weights than up."
# a 1x1 PNG: the figure the student's own run left in the notebook
KEPT_PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2216bc30000000049454e44ae426082")).decode()

NOTES = [
    "The images come from a generator, so every call gives new ones and there is no fixed dataset.",
    "`nx` and `ny` are the height and width; keep them powers of two, since each pooling halves them.",
    "`cnt` is how many discs are drawn; `sigma` is the noise level.",
    "The labels are exact: every pixel of a disc is foreground.",
    "The encoder halves the size four times; the decoder doubles it back.",
    "Each `up` block upsamples the deeper map and joins it with the encoder's map of the same level.",
    "The last layer is a 1×1 convolution with one output per class.",
    "The loss compares probabilities with the one-hot labels, pixel by pixel.",
    "SGD with momentum is enough for this small problem.",
    "The validation score is the mean Dice over freshly drawn images.",
    "On a GPU one epoch takes seconds; on a laptop CPU it takes minutes.",
    "Keep the outputs of your run in the notebook you hand in.",
]


def _code(source: str, count: int, text: str | None = None, png: bool = False):
    cell = new_code_cell(source, execution_count=count)
    if text is not None:
        cell.outputs.append(new_output("stream", name="stdout", text=text))
    if png:
        cell.outputs.append(new_output("display_data", data={"image/png": KEPT_PNG, "text/plain": "<Figure>"}))
    return cell


def _notes(first: int, n: int) -> list:
    return [new_markdown_cell(NOTES[(first + k) % len(NOTES)]) for k in range(n)]


def _training(net: str) -> str:
    return f"""curr_step = []
step_loss = []
for epoch in range(epochs):
    {net}.train()
    for step in range(steps):
        batch_x, batch_y = generator(batch_size)
        batch_x = torch.from_numpy(batch_x.transpose(0, 3, 1, 2).copy()).float()
        batch_y = torch.from_numpy(batch_y.transpose(0, 3, 1, 2).copy()).float()
        if is_cuda:
            batch_x, batch_y = batch_x.cuda(), batch_y.cuda()
        masks_probs = F.sigmoid({net}(batch_x))
        loss = criterion(masks_probs.view(-1), batch_y.view(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curr_step.append(epoch * steps + step)
        step_loss.append(loss.item())
    print('epoch {{}} loss {{:.4f}}'.format(epoch + 1, loss.item()))
    print('validation dice {{:.4f}}'.format(eval_net({net}, generator, is_cuda, num_validation)))"""


def _budget(batch: int) -> str:
    return f"epochs = 5\nsteps = 50\nbatch_size = {batch}\nnum_validation = 2"


PREDICT = """def predict(net, image, truth):
    net.eval()
    x = torch.from_numpy(image.transpose(0, 3, 1, 2).copy()).float()
    if is_cuda:
        probs = F.sigmoid(net(x.cuda())).data.cpu().numpy()
    else:
        probs = F.sigmoid(net(x)).data.numpy()
    mask = probs > 0.5
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].imshow(image[0, ..., 0], cmap='gray')
    ax[1].imshow(truth[0, ..., 1])
    ax[2].imshow(mask[0, 1])
    plt.show()
    net.train()"""

CONV = """def conv2d(input, weights):
    c_in, h, w = input.shape
    c_out, _, k, _ = weights.shape
    p = k // 2
    padded = np.pad(input, ((0, 0), (p, p), (p, p)), mode='constant')
    result = np.zeros((c_out, h, w))
    for o in range(c_out):
        for i in range(h):
            for j in range(w):
                result[o, i, j] = np.sum(padded[:, i:i + k, j:j + k] * weights[o])
    return result"""

CONV_EXAMPLE = """conv_input = np.array([
    [[1, 0, 1, 2, 1], [0, 2, 1, 0, 1], [1, 1, 0, 2, 0], [2, 2, 1, 1, 0], [2, 0, 1, 2, 0]],
    [[2, 0, 2, 1, 1], [0, 1, 0, 0, 2], [1, 0, 0, 2, 1], [1, 1, 2, 1, 0], [1, 0, 1, 1, 1]]])
conv_weights = np.array([[
    [[1, 0, 1], [-1, 1, 0], [0, -1, 0]],
    [[-1, 0, 1], [0, 0, 1], [1, 1, 1]]]])
print(conv2d(conv_input, conv_weights))"""

CONV_TORCH = """check = nn.Conv2d(2, 1, kernel_size=3, padding=1, bias=False)
check.weight.data = torch.from_numpy(conv_weights).float()
print(check(torch.from_numpy(conv_input).float().unsqueeze(0)).data.numpy())"""

FILL_ZEROS = """def fill_zeros(input):
    c, h, w = input.shape
    result = np.zeros((c, 2 * h + 1, 2 * w + 1))
    result[:, 1::2, 1::2] = input
    return result"""

DECONV = """def deconv2d(input, weights):
    # spread the input out with zeros, convolve, drop the outer ring
    return conv2d(fill_zeros(input), weights)[:, 1:-1, 1:-1]"""

DECONV_EXAMPLE = """np.random.seed(7)
deconv_input = np.random.randint(0, 3, size=(4, 3, 3))
deconv_weights = np.random.randint(-1, 3, size=(2, 4, 3, 3))
print(deconv2d(deconv_input, deconv_weights))"""

DECONV_TORCH = """tconv = nn.ConvTranspose2d(4, 2, kernel_size=3, stride=2, padding=1, bias=False)
flipped = np.rot90(deconv_weights, 2, axes=(2, 3)).swapaxes(0, 1).copy()
tconv.weight.data = torch.from_numpy(flipped).float()
print(tconv(torch.from_numpy(deconv_input).float().unsqueeze(0)).data.numpy()[0])"""

JACCARD = """from unet import JaccardCoeff

eye = torch.from_numpy(np.eye(3))
ones = torch.from_numpy(np.ones((3, 3)))
zeros = torch.from_numpy(np.zeros((3, 3)))
jac = JaccardCoeff()
print(jac.forward(eye, eye))
print(jac.forward(eye, ones))
print(jac.forward(zeros, ones))
print(jac.forward(zeros, zeros))"""


def notebook() -> nbformat.NotebookNode:
    """The whole hand-in, as the student saved it after running it on a GPU server."""
    md, n = new_markdown_cell, iter(range(1, 200))
    cells = [
        md("# Week 7 lab: semantic segmentation with UNet"),
        md("In this lab you train a UNet on synthetic images, score it, and change its structure."),
        md("Work through the cells in order; the ★★★ cells are the questions."),
        md("## 0. Environment"),
        _code("from __future__ import print_function, division\n%load_ext autoreload\n%autoreload 2\n"
              "%matplotlib inline", next(n)),
        md("Check whether a GPU is there. **If you have no GPU, the next cells raise an error: ignore it.**"),
        _code("import torch\nis_cuda = torch.cuda.is_available()\nprint(is_cuda)", next(n), "True\n"),
        _code("torch.cuda.current_device()", next(n), "0\n"),
        _code("torch.cuda.device_count()", next(n), "4\n"),
        _code("torch.cuda.get_device_name(0)", next(n), "'Tesla K80'\n"),
        md("Pick the GPU you were given (replace `id` by its number)."),
        _code("torch.cuda.set_device(id)", next(n)),
        md("## 1. The data"),
        *_notes(0, 4),
        _code("import numpy as np\nimport matplotlib.pyplot as plt\nfrom image_utils import image_gen", next(n)),
        _code("nx = 128\nny = 128\ngenerator = image_gen.GrayScaleDataProvider(nx, ny, cnt=10)", next(n)),
        _code("x_test, y_test = generator(1)\nprint(x_test.shape)\nprint(y_test.shape)", next(n),
              "(1, 128, 128, 1)\n(1, 128, 128, 2)\n"),
        _code("fig, ax = plt.subplots(1, 2, figsize=(8, 4))\nax[0].imshow(x_test[0, ..., 0], cmap='gray')\n"
              "ax[1].imshow(y_test[0, ..., 1])\nplt.show()", next(n), png=True),
        md("### ★★★ Question 1\n\nWhat is the layout of `x_test` and `y_test`? Is the input gray or colour? "
           "What do the label's two channels mean?"),
        md(ANSWER_1),
        md("## 2. UNet"),
        *_notes(4, 4),
        _code("import torch.nn as nn\nimport torch.nn.functional as F\nfrom torch import optim\n"
              "from unet import UNet, eval_net", next(n)),
        _code("unet = UNet(n_channels=1, n_classes=2)\nif is_cuda:\n    unet = unet.cuda()", next(n)),
        _code("criterion = nn.BCELoss()\n"
              "optimizer = optim.SGD(unet.parameters(), lr=0.001, momentum=0.9, weight_decay=0.0005)", next(n)),
        md("Set the training budget: epochs, steps per epoch, images per step, validation images."),
        *_notes(8, 3),
        _code(_budget(32), next(n)),
        _code(_training("unet"), next(n), "epoch 1 loss 0.3012\nvalidation dice 0.9410\n"),
        md("### ★★★ Question 2\n\nPlot the loss recorded in `curr_step` and `step_loss`."),
        _code("plt.plot(curr_step, step_loss)\nplt.xlabel('step')\nplt.ylabel('loss')\nplt.show()", next(n),
              png=True),
        md("### ★★★ Question 3\n\nComplete `JaccardCoeff` in `unet/dice_loss.py`, modelled on `DiceCoeff`."),
        *_notes(1, 3),
        _code(JACCARD, next(n), "tensor(0.5000)\n"),  # kept from a run before the fix: must not count
        md(PLACEHOLDER),
        md("### ★★★ Question 4\n\nHow do the net's outputs become a segmentation? Read `predict` first."),
        _code(PREDICT, next(n)),
        _code("image, truth = generator(1)\npredict(unet, image, truth)", next(n), png=True),
        md(ANSWER_4),
        md("### ★★★ Question 5\n\nRun the cell below a few times. Which images are predicted badly, and why?"),
        _code("image, truth = generator(1)\npredict(unet, image, truth)", next(n), png=True),
        md(ANSWER_5),
        md("## 3. Changing the network"),
        md("### ★★★ Question 6\n\nWrite `UNet_shallow` (two downsamplings) and train it."),
        *_notes(5, 4),
        _code("from unet import UNet_shallow\nunet_shallow = UNet_shallow(1, 2)\nif is_cuda:\n"
              "    unet_shallow = unet_shallow.cuda()\noptimizer = optim.SGD(unet_shallow.parameters(), lr=0.001, "
              "momentum=0.9, weight_decay=0.0005)", next(n)),
        _code(_budget(4), next(n)),
        _code(_training("unet_shallow"), next(n), "epoch 1 loss 0.3300\nvalidation dice 0.9200\n"),
        _code("image, truth = generator(1)\npredict(unet_shallow, image, truth)", next(n), png=True),
        md(SHALLOW_ANSWER),
        md("### Adding instead of concatenating\n\nComplete `up_add` and `UNet_add`, then train `UNet_add`."),
        *_notes(2, 4),
        # the student dropped the kit's `if is_cuda:` here: a GPU server runs it, and so must the grader
        _code("from unet import UNet_add\nunet_add = UNet_add(1, 2).cuda()\noptimizer = optim.SGD("
              "unet_add.parameters(), lr=0.001, momentum=0.9, weight_decay=0.0005)", next(n)),
        _code(_budget(4), next(n)),
        _code(_training("unet_add"), next(n), "epoch 1 loss 0.3100\nvalidation dice 0.9500\n"),
        _code("image, truth = generator(1)\npredict(unet_add, image, truth)", next(n), png=True),
        md(ADD_ANSWER),
        md("## Appendix: convolution and deconvolution in numpy"),
        *_notes(6, 6),
        _code(CONV, next(n)),
        _code(CONV_EXAMPLE, next(n), "[[ 2.  0.  2.  4.  0.] ...]\n"),
        _code(CONV_TORCH, next(n)),
        *_notes(3, 4),
        _code(FILL_ZEROS, next(n)),
        _code("print(fill_zeros(np.ones((1, 2, 2))))", next(n)),
        md("### ★★★ Question 7\n\nComplete `deconv2d` with `fill_zeros` and `conv2d`."),
        _code(DECONV, next(n)),
        _code(DECONV_EXAMPLE, next(n)),
        _code(DECONV_TORCH, next(n)),
        md(PLACEHOLDER),
        md("## The end\n\nHand in: `tar -zcvf week7.tar.gz week7`"),
    ]
    # the kit's long explanations: more markdown between the sections, as in the real notebook
    padded = []
    for i, cell in enumerate(cells):
        padded.append(cell)
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            padded.extend(_notes(i, 6))
    nb = nbformat.v4.new_notebook()
    nb.cells = padded
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write(path: Path, nb: nbformat.NotebookNode | None = None) -> Path:
    nbformat.write(nb if nb is not None else notebook(), path)
    return path


def submission(dest: Path, nb: nbformat.NotebookNode | None = None) -> tuple[Path, Path]:
    """A `week7` folder: our correct package with this notebook instead of ours; (folder, notebook)."""
    root = build_submission(dest)
    (root / "Assignment.ipynb").unlink()
    target = root.with_name("week7")
    root.rename(target)
    return target, write(target / "UNet_week7.ipynb", nb)


def find(nb: nbformat.NotebookNode, text: str) -> int:
    """The index of the first cell whose source contains `text`."""
    return next(i for i, c in enumerate(nb.cells) if text in c.source)
