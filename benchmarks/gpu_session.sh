#!/usr/bin/env bash
# Every GPU measurement the project keeps, in one command: a lent GPU comes for minutes, one call at a time.
#
#   bash benchmarks/gpu_session.sh [OUT_DIR]        # OUT_DIR default: benchmarks/results
#
# 0. time to accuracy of the speed recipe (speednet-cifar10, three seeds), beside airbench94's 3.29 s on an A100
# 1. training throughput, seed loop vs engine (mnist-cnn, resnet seed and fast profiles)
# 2. time to accuracy (data cached, whole test split): resnet-cifar10 and resnet18-cifar10, fast profile
# 3. the resnet-cifar10 run again with torch.compile
# 4. inference latency on the GPU (eager, TorchScript, onnxruntime with the providers installed)
# 5. whole default profiles of the CIFAR-10 recipes that the CPU budgets cut short
# Each step gets what is left of GPU_BUDGET_S (default 480 s) and writes its JSON as it goes; the
# 2026-11-26 session's figures (README "On a GPU") came from the previous version of this script.
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

echo "== 0. time to accuracy: speednet-cifar10, seeds 0 1 2 [$(left) s left]"
timeout "$(cap 240)" $py benchmarks/speednet.py --device cuda --seeds 0 1 2 --runs /tmp/zoo-runs/speednet \
  --out "$out/speednet-cuda.json"

echo "== 1. training throughput, seed loop vs engine [$(left) s left]"
timeout "$(cap 150)" $py benchmarks/train_speed.py --device cuda --out "$out/train_speed-cuda.json"

echo "== 2. time to accuracy: resnet-cifar10 fast (its 35 epochs), resnet18-cifar10 fast at 10 and 16 epochs [$(left) s left]"
timeout "$(cap 120)" $py benchmarks/train_speed.py --device cuda --no-throughput --time-to-accuracy \
  --out "$out/tta-resnet-cuda.json"
timeout "$(cap 150)" $py benchmarks/train_speed.py --device cuda --no-throughput --time-to-accuracy \
  --tta-recipe resnet18-cifar10 --tta-epochs 10 16 --out "$out/tta-resnet18-cuda.json"

echo "== 3. the same resnet-cifar10 run with torch.compile (compile time counted) [$(left) s left]"
timeout "$(cap 120)" $py benchmarks/train_speed.py --device cuda --no-throughput --time-to-accuracy --compile \
  --out "$out/tta-resnet-compiled-cuda.json"

echo "== 4. inference [$(left) s left]"
timeout "$(cap 60)" $py benchmarks/inference_speed.py --device cuda --threads 16 --no-compile \
  --models mnist-cnn resnet resnet18 vgg16 --batches 1 64 --out "$out/inference-cuda.json"

echo "== 5. whole default profiles of the CIFAR-10 recipes the CPU budgets cut short [$(left) s left]"
timeout "$(cap 600)" $py benchmarks/recipes.py --device cuda --full --only resnet-cifar10 --only alexnet-cifar10 \
  --only inception-cifar10 --runs /tmp/zoo-runs --out "$out/recipes-cuda.json"
echo "== done [$(left) s left]"; ls -la "$out"
