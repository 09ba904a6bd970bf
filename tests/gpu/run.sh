#!/usr/bin/env bash
# On a GPU machine: runs the CUDA backend's tests and benchmarks that
# tests/gpu/build.sh staged in build-gpu/carry, the SAEHD-df-128 step
# benchmark and PyTorch's anchor on the same card (GRAFT_GPU_TORCH=0 skips
# the anchor), and ends with a short table. Exit status non-zero if a test
# failed. Results go to $OUT when set (the device tool brings that folder back).
set -u
cd "$(dirname "$0")/../.."
stage=${GRAFT_GPU_STAGE:-build-gpu/carry}
# The CUDA libraries graft links (cuBLASLt, cuDNN, NCCL) and the runtime
# cuDNN's frontend opens: wherever this machine has them (the toolkit, or the
# nvidia-* wheels of a Python environment).
library_path="$PWD/$stage/lib"
shopt -s nullglob
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
  /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/lib/python3/dist-packages/nvidia/*/lib; do
  library_path="$library_path:$dir"
done
shopt -u nullglob
export LD_LIBRARY_PATH="$library_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$stage/bin/test_cuda" | grep "not found"; then echo "run.sh: libraries missing (above); LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; fi
out=${OUT:-/tmp/graft-gpu}
mkdir -p "$out"

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
date -u +%Y-%m-%dT%H:%M:%SZ

echo "== tests (CUDA against the CPU backend)"
timeout 240 "$stage/bin/test_cuda" 2>&1 | tee "$out/test_cuda.txt"
tests=${PIPESTATUS[0]}
timeout 240 "$stage/bin/test_cuda_model" 2>&1 | tee "$out/test_cuda_model.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || tests=1

echo "== SAEHD-df-128, batch 64 per side: the whole step as one CUDA graph, and plainly"
timeout 120 "$stage/bin/bench_saehd" --batch 64 --steps 50 --profile | tee "$out/bench_saehd.jsonl"
saehd=${PIPESTATUS[0]}
timeout 120 "$stage/bin/bench_saehd" --batch 64 --steps 20 --plain | tee -a "$out/bench_saehd.jsonl"
[ "${PIPESTATUS[0]}" -eq 0 ] || saehd=1
if [ "${GRAFT_GPU_TORCH:-1}" != 0 ] && [ -f "$stage/anchors/torch_faceswap.py" ]; then
  echo "== PyTorch anchor, same card"
  timeout 300 python3 "$stage/anchors/torch_faceswap.py" --res 128 --batch 64 --variants eager_bf16_cl compile_bf16_cl 2>&1 \
    | tee "$out/torch_faceswap.txt" | grep -v "^\s*$" | tail -8
fi

echo "== benchmarks"
timeout 180 "$stage/bin/bench_cuda" --benchmark_min_time=0.2 --benchmark_out="$out/bench_cuda.json" --benchmark_out_format=json
bench=$?

echo "== summary"
printf '| %-32s | %12s | %10s | %10s |\n' benchmark "time (us)" "GB/s" "TFLOP/s"
python3 - "$out/bench_cuda.json" <<'PY' || echo "(no summary: see $out/bench_cuda.json)"
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if "error_message" in b:
        print(f"| {b['name']:<32} | error: {b['error_message']}")
        continue
    print(f"| {b['name']:<32} | {b.get('real_time', float('nan')):12.1f} | {b.get('bytes_per_second', 0) / 1e9:10.1f} | {b.get('TFLOP/s', 0):10.1f} |")
PY
echo "tests: $([ "$tests" -eq 0 ] && echo passed || echo FAILED), benchmarks: $([ "$bench" -eq 0 ] && echo ran || echo FAILED), saehd: $([ "$saehd" -eq 0 ] && echo ran || echo FAILED)"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$saehd" -eq 0 ]
