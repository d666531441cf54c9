#!/usr/bin/env bash
# The one GPU run: calibrate the `gpu` profile, grade the reference and one faulty submission on it,
# and print the figures (seconds per network, Dice, pass marks).
#
#   bash benchmarks/gpu_run.sh [SEEDS] [WORKERS]      (defaults 10 and 4; from any folder)
#
# Needs a CUDA GPU and the grader's dependencies (pip install -e . on a machine with network; torch with
# CUDA already installed). Writes the gpu entries of grader/training/thresholds.json (keep that file: it is
# the calibration; a copy goes to $OUT/thresholds.json) and the reports under $OUT/reports (OUT defaults to
# a temporary folder). Estimated on one H100/H200: 2-3 minutes of calibration, 1-2 minutes of grading.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-10}"
WORKERS="${2:-4}"
OUT="${OUT:-$(mktemp -d)}"
START=$SECONDS

python - <<'EOF'
import platform, sys
import torch
print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}, GPU available: {torch.cuda.is_available()}")
if not torch.cuda.is_available():
    sys.exit("no CUDA device: this script is for the GPU machine")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB")
import matplotlib, nbclient, nbformat, numpy  # noqa: F401,E401 - the grader's own dependencies
EOF

echo "== calibrate the gpu profile: $SEEDS seeds, $WORKERS at a time on the one GPU"
T=$SECONDS
CALIBRATED=0
python -m grader.cli calibrate --profile gpu --seeds "$SEEDS" --workers "$WORKERS" || CALIBRATED=$?
echo "calibration took $((SECONDS - T)) s (exit $CALIBRATED)"
cp grader/training/thresholds.json "$OUT/thresholds.json"

echo "== grade the reference and a UNet_shallow whose forward returns sigmoid(logits)"
FAULTY="$OUT/submissions/week-06-sigmoid-output"
mkdir -p "$OUT/submissions"
cp -r solutions/week-06 "$FAULTY"
printf '\n\n' >> "$FAULTY/unet/unet_model.py"
cat tests/fixtures/submissions/training_sigmoid_output/unet/unet_model.py.append >> "$FAULTY/unet/unet_model.py"
cp -r solutions/week-06 "$OUT/submissions/week-06-reference"
T=$SECONDS
python -m grader.cli grade "$OUT/submissions/week-06-reference" "$FAULTY" --out "$OUT/reports" \
    --profile gpu --checks 'training*,notebook*' --workers 2 --seed 20260601
echo "grading took $((SECONDS - T)) s"

python benchmarks/gpu_summary.py "$OUT/reports"
echo "== done in $((SECONDS - START)) s; reports in $OUT/reports; keep grader/training/thresholds.json"
exit "$CALIBRATED"
