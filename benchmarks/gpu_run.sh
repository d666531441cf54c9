#!/usr/bin/env bash
# The one GPU run: check the kit's eval_net on CUDA, calibrate the `gpu` profile, grade the reference and
# one faulty submission on it, and print the figures (seconds per network, Dice, pass marks).
#
#   bash benchmarks/gpu_run.sh [SEEDS] [WORKERS]      (defaults 8 and 4; from any folder)
#
# Environment: PYTHON (default python3), CHECKS (default 'training*,notebook*'; use 'training*' where
# nbclient is not installed), OUT (where thresholds.json and the summary are copied; default: a temporary
# folder). Needs a CUDA GPU and the grader's dependencies; runs from the checkout, no install needed.
# Writes the gpu entries of grader/training/thresholds.json: keep that file, it is the calibration.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-8}"
WORKERS="${2:-4}"
PY="${PYTHON:-python3}"
CHECKS="${CHECKS:-training*,notebook*}"
OUT="${OUT:-$(mktemp -d)}"
WORK="$(mktemp -d)"
START=$SECONDS
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PY" - <<'PYEOF'
import platform, sys
import torch
print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}, GPU available: {torch.cuda.is_available()}")
if not torch.cuda.is_available():
    sys.exit("no CUDA device: this script is for the GPU machine")
p = torch.cuda.get_device_properties(0)
print(f"cuda:0 {p.name}, {p.total_memory / 2**30:.0f} GiB")

# The kit's eval_net on the GPU, as the notebook calls it: a float in [0, 1], train mode restored.
sys.path.insert(0, "solutions/week-06")
from image_utils.image_gen import GrayScaleDataProvider
from unet import UNet, eval_net
net = UNet(1, 2).cuda().train()
dice = eval_net(net, GrayScaleDataProvider(128, 128, cnt=10, sigma=20, seed=0), gpu=True, num_validation=2)
assert 0.0 <= dice <= 1.0 and net.training, (dice, net.training)
print(f"kit eval_net on cuda: untrained UNet Dice {dice:.4f}, train mode restored")
PYEOF

echo "== calibrate the gpu profile: $SEEDS seeds, $WORKERS at a time on the one GPU"
T=$SECONDS
CALIBRATED=0
"$PY" -m grader.cli calibrate --profile gpu --seeds "$SEEDS" --workers "$WORKERS" || CALIBRATED=$?
echo "calibration took $((SECONDS - T)) s (exit $CALIBRATED)"
cp grader/training/thresholds.json "$OUT/thresholds.json"

echo "== grade the reference and a UNet_shallow whose forward returns sigmoid(logits): $CHECKS"
FAULTY="$WORK/submissions/week-06-sigmoid-output"
mkdir -p "$WORK/submissions"
cp -r solutions/week-06 "$FAULTY"
printf '\n\n' >> "$FAULTY/unet/unet_model.py"
cat tests/fixtures/submissions/training_sigmoid_output/unet/unet_model.py.append >> "$FAULTY/unet/unet_model.py"
cp -r solutions/week-06 "$WORK/submissions/week-06-reference"
T=$SECONDS
"$PY" -m grader.cli grade "$WORK/submissions/week-06-reference" "$FAULTY" --out "$WORK/reports" \
    --profile gpu --checks "$CHECKS" --workers 2 --seed 20260601
echo "grading took $((SECONDS - T)) s"

"$PY" benchmarks/gpu_summary.py "$WORK/reports" | tee "$OUT/gpu_summary.txt"
echo "== done in $((SECONDS - START)) s; reports in $WORK/reports; keep grader/training/thresholds.json"
exit "$CALIBRATED"
