#!/usr/bin/env bash
# Every GPU measurement the project keeps, in one command: a lent GPU comes for minutes, one call at a time.
#
#   bash benchmarks/gpu_session.sh [OUT_DIR]        # OUT_DIR default: benchmarks/results
#
# 1. training throughput, seed loop vs engine (mnist-cnn, resnet seed and fast profiles)
# 2. resnet-cifar10 --profile fast end to end (time to accuracy), then the epoch budget that the
#    measured speed fits into 60 s
# 3. inference latency on the GPU (eager, TorchScript, onnxruntime with the providers installed)
# 4. vgg16-cifar10's whole default profile (the row the CPU budget cannot settle)
# Each step gets what is left of GPU_BUDGET_S (default 480 s) and writes its JSON as it goes.
# Data: $ZOO_DATA_DIR, or a carried .gpu/ folder (cifar10/cifar10-jpg.tar.gz, MNIST/raw/*.gz).
set -u
out=${1:-benchmarks/results}
mkdir -p "$out"
deadline=$(( $(date +%s) + ${GPU_BUDGET_S:-480} ))
left() { local l=$(( deadline - $(date +%s) )); (( l > 0 )) && echo "$l" || echo 1; }
cap() { local l; l=$(left); (( l < $1 )) && echo "$l" || echo "$1"; }
py=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export ZOO_CACHE_DIR=${ZOO_CACHE_DIR:-/tmp/zoo-cache}
if [[ -d .gpu && -z "${ZOO_DATA_DIR:-}" ]]; then
  export ZOO_DATA_DIR=/tmp/zoo-data
  mkdir -p $ZOO_DATA_DIR/cifar10 $ZOO_DATA_DIR/MNIST/raw
  cp .gpu/cifar10/*.tar.gz $ZOO_DATA_DIR/cifar10/
  for f in .gpu/MNIST/raw/*.gz; do gunzip -c "$f" > $ZOO_DATA_DIR/MNIST/raw/$(basename "$f" .gz); done
fi
echo "== machine"; nvidia-smi -L; $py -c "import torch, onnxruntime as o; print('torch', torch.__version__, torch.cuda.get_device_name(0), 'ort', o.__version__, o.get_available_providers())"

echo "== 1-2. training throughput and time to accuracy (profile's epochs) [$(left) s left]"
timeout "$(cap 240)" $py benchmarks/train_speed.py --device cuda --time-to-accuracy --out "$out/train_speed-cuda.json"

echo "== 2b. the epoch budget that fits 60 s [$(left) s left]"
epochs=$($py - "$out/train_speed-cuda.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1])).get("time_to_accuracy", [])
if runs:
    r = runs[0]
    fit = max(4, min(40, int(r["epochs"] * 57 / r["wall_s"])))
    print(fit if fit != r["epochs"] else "")
PY
)
if [[ -n "$epochs" ]]; then
  timeout "$(cap 120)" $py benchmarks/train_speed.py --device cuda --no-throughput --time-to-accuracy \
    --tta-epochs "$epochs" --out "$out/train_speed-cuda-tta.json"
fi

echo "== 3. inference [$(left) s left]"
timeout "$(cap 90)" $py benchmarks/inference_speed.py --device cuda --threads 16 --no-compile \
  --models mnist-cnn resnet inception vgg16 alexnet --batches 1 64 --out "$out/inference-cuda.json"

echo "== 4. vgg16-cifar10, whole default profile [$(left) s left]"
timeout "$(cap 600)" $py benchmarks/recipes.py --device cuda --full --only vgg16-cifar10 \
  --runs /tmp/zoo-runs --out "$out/recipes-cuda.json"
echo "== done [$(left) s left]"; ls -la "$out"
