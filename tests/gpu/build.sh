#!/usr/bin/env bash
# Builds here (no GPU needed) what tests/gpu/run.sh runs on a lent GPU
# machine, and stages it in build-gpu/carry: test_cuda, test_cuda_model,
# bench_cuda and bench_saehd for sm_86 and sm_90, the shared libraries the
# GPU machine lacks (Google Benchmark; oneDNN for test_cuda_model, which
# checks the GPU model against the CPU backend), and PyTorch's anchor script.
# Then, in one device call:  run(command="tests/gpu/run.sh", carry=["build-gpu/carry"])
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-gpu -G Ninja -DGRAFT_WITH_CUDA=ON -DGRAFT_BUILD_EXAMPLES=OFF > /dev/null
programs="build-gpu/tests/test_cuda build-gpu/tests/test_cuda_model build-gpu/benchmarks/bench_cuda build-gpu/benchmarks/bench_saehd"
cmake --build build-gpu -j2 --target test_cuda test_cuda_model bench_cuda bench_saehd
stage=build-gpu/carry
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
cp $programs "$stage/bin/"
for program in $programs; do
  for library in $(ldd "$program" | awk '/libbenchmark|libgomp|libdnnl|libOpenCL/ {print $3}'); do cp -L "$library" "$stage/lib/"; done
done
mkdir -p "$stage/anchors" && cp ../shared/anchors/torch_faceswap.py "$stage/anchors/" 2> /dev/null || echo "build.sh: no PyTorch anchor (../shared/anchors) to carry"
# cuDNN's frontend opens the CUDA runtime by name (graft itself links it statically): carry it, it is small.
cp -L /usr/local/cuda/lib64/libcudart.so.13 "$stage/lib/" 2> /dev/null || true
du -sh "$stage"
