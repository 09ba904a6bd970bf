#!/usr/bin/env bash
# Builds here (no GPU needed) what tests/gpu/run.sh runs on a lent GPU
# machine, and stages it in build-gpu/carry: test_cuda and bench_cuda for
# sm_86 and sm_90, plus the one shared library they need that the GPU
# machine lacks (Google Benchmark). Neither links oneDNN, OpenCV or MPI.
# Then, in one device call:  run(command="tests/gpu/run.sh", carry=["build-gpu/carry"])
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-gpu -G Ninja -DGRAFT_WITH_CUDA=ON -DGRAFT_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-gpu -j2 --target test_cuda bench_cuda
stage=build-gpu/carry
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
cp build-gpu/tests/test_cuda build-gpu/benchmarks/bench_cuda "$stage/bin/"
for program in build-gpu/tests/test_cuda build-gpu/benchmarks/bench_cuda; do
  for library in $(ldd "$program" | awk '/libbenchmark|libgomp/ {print $3}'); do cp -L "$library" "$stage/lib/"; done
done
# cuDNN's frontend opens the CUDA runtime by name (graft itself links it statically): carry it, it is small.
cp -L /usr/local/cuda/lib64/libcudart.so.13 "$stage/lib/" 2> /dev/null || true
du -sh "$stage"
