#!/usr/bin/env bash
# Builds here (no GPU needed) what tests/gpu/run.sh runs on a lent GPU
# machine, and packs it into build-gpu/carry.tar.xz (the device tool's carry
# holds 64 MiB; packed, all of it fits):
#   - test_cuda, test_cuda_model, bench_cuda and bench_saehd, for sm_86 and
#     sm_90, with the shared libraries the GPU machine lacks (Google
#     Benchmark; oneDNN for the tests that check the GPU against the CPU);
#   - the application, faceswap and graft-bench, for sm_90 (the lent H100
#     and H200), linked statically against OpenCV (tests/gpu/opencv.sh
#     builds it once, ~25 minutes), dlib and OpenBLAS, which the GPU machine
#     does not have; GRAFT_GPU_APP=0 leaves it out; with only the models
#     run.sh trains (FACESWAP_VARIANTS: df 128 and the demo's), which
#     keeps its build short;
#   - 24 frames of a demo clip as PNG and their faces (extracted here), for
#     the GPU swap;
#   - PyTorch's anchor script.
# Then, in one device call:
#   run(command="tests/gpu/run.sh", carry=["build-gpu/carry.tar.xz"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=build-gpu/carry
cmake -S . -B build-gpu -G Ninja -DGRAFT_WITH_CUDA=ON -DGRAFT_BUILD_EXAMPLES=OFF > /dev/null
programs="build-gpu/tests/test_cuda build-gpu/tests/test_cuda_model build-gpu/benchmarks/bench_cuda build-gpu/benchmarks/bench_saehd"
cmake --build build-gpu -j2 --target test_cuda test_cuda_model bench_cuda bench_saehd
if [ "${GRAFT_GPU_APP:-1}" != 0 ]; then
  tests/gpu/opencv.sh
  cmake -S . -B build-app/graft -G Ninja -DGRAFT_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGRAFT_WITH_MPI=OFF \
    -DGRAFT_BUILD_TESTS=OFF -DGRAFT_INSTALL=OFF -DOpenCV_DIR="$PWD/build-app/opencv/install/lib/cmake/opencv4" \
    -DCMAKE_PROJECT_INCLUDE="$PWD/tests/gpu/app_static_deps.cmake" -DFACESWAP_VARIANTS="df:128;demo:64" > /dev/null
  cmake --build build-app/graft -j2 --target faceswap graft-bench
  programs="$programs build-app/graft/examples/faceswap/faceswap build-app/graft/benchmarks/graft-bench"
fi
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
cp $programs "$stage/bin/"
for program in $programs; do
  for library in $(ldd "$program" | awk '/libbenchmark|libgomp|libdnnl|libOpenCL/ {print $3}'); do cp -L "$library" "$stage/lib/"; done
  # Anything else must be on every GPU machine: the C and C++ runtimes, or CUDA's own libraries.
  extra=$(ldd "$program" | awk '{print $1}' | grep -v -E '^(linux-vdso|/lib64/ld-linux|lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s)\.so|libcudnn|libnccl|libcublas|libcudart|libbenchmark|libgomp|libdnnl|libOpenCL)' || true)
  if [ -n "$extra" ]; then
    echo "build.sh: $program needs libraries a GPU machine may lack:" $extra
    exit 1
  fi
done
# Frames for faceswap swap --backend cuda (the GPU machine's OpenCV has no FFmpeg to read the clips).
c++ -std=c++20 -O1 tests/gpu/frames_of.cpp -o build-gpu/frames_of $(pkg-config --cflags --libs opencv4)
build-gpu/frames_of examples/faceswap/demo/clips/lbbc2a.mpg "$stage/frames" 24
# Their faces, found here: the GPU machine has no dlib landmark model (100 MB, over the carry), so swap there takes them (--aligned).
if [ -x "$stage/bin/faceswap" ]; then
  LD_LIBRARY_PATH="$stage/lib" "$stage/bin/faceswap" extract -i "$stage/frames" -o "$stage/aligned" > /dev/null
fi
mkdir -p "$stage/anchors" && cp ../shared/anchors/torch_faceswap.py "$stage/anchors/" 2> /dev/null || echo "build.sh: no PyTorch anchor (../shared/anchors) to carry"
# cuDNN's frontend opens the CUDA runtime by name (graft itself links it statically): carry it, it is small.
cp -L /usr/local/cuda/lib64/libcudart.so.13 "$stage/lib/" 2> /dev/null || true
strip --strip-debug "$stage"/bin/* "$stage"/lib/*
du -sh "$stage"
tar -cf - -C build-gpu carry | xz -T2 -6 > build-gpu/carry.tar.xz.part
mv build-gpu/carry.tar.xz.part build-gpu/carry.tar.xz
ls -l build-gpu/carry.tar.xz
size=$(stat -c %s build-gpu/carry.tar.xz)
[ "$size" -lt $((64 * 1024 * 1024)) ] || { echo "build.sh: build-gpu/carry.tar.xz is over the carry's 64 MiB"; exit 1; }
