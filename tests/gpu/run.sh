#!/usr/bin/env bash
# On a GPU machine: unpacks what tests/gpu/build.sh packed into
# build-gpu/carry.tar.xz, runs it and ends with a short table. Most valuable
# first (a smaller budget drops the tail):
#   1. test_cuda (every kernel against the CPU backend) and test_cuda_model
#      (layers, models, the SAEHD df and liae steps, the fused loss and the
#      swap model against the CPU backend), with each test's duration;
#   2. bench_saehd: SAEHD-df-128, batch 64 per side, the whole step as one
#      CUDA graph, cuDNN's engines timed on the first step (the default, as
#      the trainer's), with the profile of one step by kind of operation;
#   3. the fused loss against the separate loss kernels, both with the
#      heuristic's engines (the same engines, a short warm-up), and liae;
#   4. the application (when build.sh built it): faceswap train with
#      previews, resumed, swapping 24 frames with the model on the GPU;
#      graft-bench's SAEHD-df-128 throughput with the data pipeline and its
#      projection to 16 GPUs (on a machine with more GPUs, measured on all
#      of them too);
#   5. PyTorch's anchor on the same card (GRAFT_GPU_TORCH=0 skips it);
#   6. the same swap on the CPU, the demo recipe's time to loss, 8 engines
#      tuned per convolution (4 by default), bench_cuda (the kernels at
#      SAEHD's sizes), bench_saehd at resolution 256 (16 per side, as the
#      anchor's) and the anchor at 256, weight gradients written in f32.
# Stages start only while time is left of GRAFT_GPU_BUDGET seconds (default
# 420: the device tool allows 600 per call and 15 minutes per session, start
# included, so a first call of 420 leaves room to rerun what failed); each
# has its own timeout. GRAFT_GPU_ONLY="name ..." runs only those stages (a
# rerun after a fix); faceswap_resume and the swaps use faceswap_train's model
# (in /tmp: there on a warm machine, else name faceswap_train too), and
# graft_bench_project graft_bench_df128's report (name both). Exit status non-zero if a test failed or a benchmark did
# not run. Results go to $OUT when set (the device tool brings that folder
# back); output is line-buffered, so a crash or a timeout keeps the lines
# before it.
set -u
cd "$(dirname "$0")/../.."
stage=${GRAFT_GPU_STAGE:-build-gpu/carry}
# build.sh packs the stage (the carry's 64 MiB hold it only packed); Python unpacks it where xz is missing.
if [ -f build-gpu/carry.tar.xz ] && [ "$stage" = build-gpu/carry ]; then
  tar -xJf build-gpu/carry.tar.xz -C build-gpu 2> /dev/null ||
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')" build-gpu/carry.tar.xz build-gpu
fi
budget=${GRAFT_GPU_BUDGET:-420}
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
for program in "$stage"/bin/*; do
  if ldd "$program" | grep "not found"; then echo "run.sh: libraries missing for $program (above); LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; fi
done
out=${OUT:-/tmp/graft-gpu}
mkdir -p "$out"
failed=""

# stage NAME TIMEOUT COMMAND...: runs it if the budget allows, output to $out/NAME.txt.
# selected NAME: whether this call runs stage NAME (every stage, or those GRAFT_GPU_ONLY names).
selected() { [ -z "${GRAFT_GPU_ONLY:-}" ] || [[ " $GRAFT_GPU_ONLY " == *" $1 "* ]]; }

stage() {
  local name=$1 limit=$2
  shift 2
  selected "$name" || return
  local left=$((budget - SECONDS))
  if [ "$left" -lt 30 ]; then
    echo "== $name: skipped (${left}s of the budget left)"
    failed="$failed $name(skipped)"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit}s)"
  # -k: a program that catches SIGTERM to save (faceswap train) and then hangs is killed 15 s later.
  local started=$SECONDS
  stdbuf -oL -eL timeout -k 15 "$limit" "$@" > "$out/$name.txt" 2>&1
  local status=$?
  echo "$name $((SECONDS - started)) s, exit $status" >> "$out/stage_seconds.txt"
  tail -n 40 "$out/$name.txt"
  [ "$status" -eq 0 ] || failed="$failed $name(exit $status)"
}

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
date -u +%Y-%m-%dT%H:%M:%SZ

stage test_cuda 120 "$stage/bin/test_cuda" --duration=true
stage test_cuda_model 240 "$stage/bin/test_cuda_model" --duration=true
stage bench_saehd 150 "$stage/bin/bench_saehd" --batch 64 --steps 50 --profile
# The fused loss's verdict: the same (heuristic) engines with and without it.
stage bench_saehd_heuristic 60 "$stage/bin/bench_saehd" --batch 64 --steps 50 --profile --heuristic
stage bench_saehd_fused_loss 60 "$stage/bin/bench_saehd" --batch 64 --steps 50 --profile --heuristic --fused-loss
stage bench_saehd_liae 60 "$stage/bin/bench_saehd" --model liae --batch 64 --steps 50 --profile --heuristic
# The application on the GPU (build.sh's static faceswap and graft-bench), on the shipped GRID face sets:
# faceswap train with previews, resumed, and swapping; graft-bench's SAEHD-df-128 trainer throughput (data
# pipeline included) and its projection to 16 GPUs.
app=0
[ -x "$stage/bin/graft-bench" ] && app=1
faces="--src examples/faceswap/demo/faces/spkA --dst examples/faceswap/demo/faces/spkC"
run_folder=/tmp/graft-faceswap-df128
swap="$stage/bin/faceswap swap -m $run_folder -i $stage/frames --aligned $stage/aligned"
if [ "$app" = 1 ]; then
  # Each output folder is cleared by the stage that makes it (a rerun of a swap keeps the trained model).
  selected faceswap_train && rm -rf "$run_folder"
  selected faceswap_swap_cuda && rm -rf /tmp/graft-swap-cuda
  selected faceswap_swap_cpu && rm -rf /tmp/graft-swap-cpu
  train="$stage/bin/faceswap train $faces --model df --resolution 128 --batch 64 --backend cuda --preview-every 100 --save-every 100 -o $run_folder"
  # Untuned engines (graft_bench_df128 measures the tuned speed): 30 s less, and the resumed run uses the same engines.
  stage faceswap_train 150 $train --steps 300 --no-tune-convolutions
  stage faceswap_resume 90 $train --steps 400 --resume --no-tune-convolutions
  # The trained model swapping 24 frames (their faces extracted by build.sh: no landmark model here) with the
  # faces drawn on the GPU; it prints the model's seconds.
  stage faceswap_swap_cuda 60 $swap -o /tmp/graft-swap-cuda --backend cuda
  mkdir -p "$out/faceswap-df128/swap"
  cp /tmp/graft-swap-cuda/frames/frame_0012.png "$out/faceswap-df128/swap/cuda_frame_0012.png" 2> /dev/null
  # The pictures and logs come back; the checkpoint (0.7 GB with AdaBelief's state) stays.
  cp -r "$run_folder/previews" "$run_folder/loss.png" "$run_folder/metrics.jsonl" "$out/faceswap-df128/" 2> /dev/null
  stage graft_bench_df128 150 "$stage/bin/graft-bench" throughput --recipe df-128 --backend cuda $faces --steps 100 --warmup 10 \
    --label "df-128 cuda" -o "$out/graft-bench-df128.json"
  stage graft_bench_project 20 "$stage/bin/graft-bench" project --report "$out/graft-bench-df128.json" --gpus 1,2,4,8,16 --interconnect p5.48xlarge
  # With more than one GPU (never run yet): every GPU, 64 per side each, NCCL between them.
  gpus=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU')
  if [ "$gpus" -ge 2 ]; then
    stage graft_bench_df128_all_gpus 180 "$stage/bin/graft-bench" throughput --recipe df-128 --backend cuda $faces --ranks "$gpus" \
      --batch $((64 * gpus)) --steps 100 --warmup 10 --label "df-128 cuda, $gpus GPUs" -o "$out/graft-bench-df128-all-gpus.json"
  fi
fi
torch=0
[ "${GRAFT_GPU_TORCH:-1}" != 0 ] && [ -f "$stage/anchors/torch_faceswap.py" ] && torch=1
[ "$torch" = 1 ] && stage torch_faceswap 240 python3 "$stage/anchors/torch_faceswap.py" --res 128 --batch 64 --variants eager_bf16_cl compile_bf16_cl
if [ "$app" = 1 ]; then
  # The same frames with the faces drawn on the CPU (mostly CPU work: late), and the demo recipe's time to loss
  # (the CPU's is in docs/benchmarks.md).
  stage faceswap_swap_cpu 90 $swap -o /tmp/graft-swap-cpu --backend cpu
  cp /tmp/graft-swap-cpu/frames/frame_0012.png "$out/faceswap-df128/swap/cpu_frame_0012.png" 2> /dev/null
  stage graft_bench_demo_ttl 120 "$stage/bin/graft-bench" time-to-loss --recipe demo-64 --backend cuda --no-tune-convolutions $faces \
    --label "demo-64 cuda" -o "$out/graft-bench-demo64-ttl.json"
fi
stage bench_saehd_8_engines 180 "$stage/bin/bench_saehd" --batch 64 --steps 50 --tuned-engines 8
stage bench_cuda 90 "$stage/bin/bench_cuda" --benchmark_min_time=0.2 --benchmark_out="$out/bench_cuda.json" --benchmark_out_format=json
stage bench_saehd_256 90 "$stage/bin/bench_saehd" --res 256 --batch 16 --steps 50
[ "$torch" = 1 ] && stage torch_faceswap_256 150 python3 "$stage/anchors/torch_faceswap.py" --res 256 --batch 16 --variants eager_bf16_cl compile_bf16_cl
stage bench_saehd_wgrad_f32 90 "$stage/bin/bench_saehd" --batch 64 --steps 50 --profile --heuristic --wgrad-f32

echo "== summary"
python3 - "$out" <<'PY' || echo "(no summary: see $out)"
import json, os, sys
out = sys.argv[1]
def lines(name):
    path = os.path.join(out, name)
    return open(path).read().splitlines() if os.path.exists(path) else []
print("| what | ms/step | img/s | MFU (vs 796 TFLOP/s) |")
print("| --- | ---: | ---: | ---: |")
for name in ("bench_saehd.txt", "bench_saehd_heuristic.txt", "bench_saehd_fused_loss.txt", "bench_saehd_liae.txt", "bench_saehd_8_engines.txt", "bench_saehd_256.txt", "bench_saehd_wgrad_f32.txt"):
    for line in lines(name):
        if line.startswith("{"):
            r = json.loads(line)
            what = (f"graft {r['benchmark']}, {r['batch_per_side']}/side, {r.get('wgrad', '?')} weight gradients"
                    + (f", tuned ({r.get('tuned_engines', 4)} engines)" if r.get("tuned") else ", heuristic engines") + (", fused loss" if r.get("fused_loss") else "") + f", warm-up {r.get('warmup_s', '?')} s")
            mfu = f"{r['mfu_vs_796']:.0%}" if r.get("mfu_vs_796") is not None else ""
            print(f"| {what} | {r['ms_per_step']:.1f} | {r['images_per_second']:.0f} | {mfu} |")
for name in ("torch_faceswap.txt", "torch_faceswap_256.txt"):
    for line in lines(name):
        if line.startswith("{") and "img_per_s" in line:
            r = json.loads(line)
            print(f"| PyTorch {r['variant']}, res {r['res']}, {r['batch']}/side | {r['step_ms']:.1f} | {r['img_per_s']:.0f} | |")
for name in ("graft-bench-df128.json", "graft-bench-df128-all-gpus.json", "graft-bench-demo64-ttl.json"):
    path = os.path.join(out, name)
    if os.path.exists(path):
        r = json.load(open(path))
        res = r["results"]
        ttl = f", time to loss {res['time_to_loss_s']:.1f} s in {res['steps']} steps" if res.get("reached") else ""
        step = f"{1e3 * res['step_s_median']:.1f}" if "step_s_median" in res else ""
        wait = f", waiting for data {res['data_wait_share']:.0%} of the time" if "data_wait_share" in res else ""
        print(f"| graft-bench {r['kind']} {r['label']}, {r['config']['batch']}/side{ttl}{wait} | {step} | {res['images_per_s']:.0f} | |")
for name in ("faceswap_swap_cuda.txt", "faceswap_swap_cpu.txt"):
    drew = [l for l in lines(name) if l.startswith("the model (")]
    if drew:
        print(f"| faceswap swap, 24 frames at 128: {drew[-1].strip()} | | | |")
for name in ("faceswap_train.txt", "faceswap_resume.txt"):
    steps = [l for l in lines(name) if l.startswith("step ")]
    waited = [l for l in lines(name) if l.startswith("waited ")]
    if steps:
        print(f"| faceswap train ({name[:-4]}): {steps[-1].strip()}{'; ' + waited[-1].strip() if waited else ''} | | | |")
times = lines("stage_seconds.txt")
if times:
    print("\n| stage | seconds, exit status |\n| --- | --- |")
    for t in times:
        name, rest = t.split(" ", 1)
        print(f"| {name} | {rest} |")
path = os.path.join(out, "bench_cuda.json")
if os.path.exists(path):
    print("\n| kernel | time (us) | GB/s | TFLOP/s |\n| --- | ---: | ---: | ---: |")
    for b in json.load(open(path))["benchmarks"]:
        if "error_message" in b:
            print(f"| {b['name']} | error: {b['error_message']} |")
            continue
        print(f"| {b['name']} | {b.get('real_time', float('nan')):.1f} | {b.get('bytes_per_second', 0) / 1e9:.1f} | {b.get('TFLOP/s', 0):.1f} |")
PY
echo "stages that failed:${failed:- none}"
[ -z "$failed" ]
