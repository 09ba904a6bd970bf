#!/usr/bin/env bash
# Installs what graft needs on Debian 12 (run as root or with sudo): the
# compiler tool chain, the libraries CMake finds, and the Python packages the
# interoperability tests use (safetensors, numpy, tensorboard, onnxruntime).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# ocl-icd-opencl-dev: Debian's oneDNN is built with its OpenCL GPU runtime, and
# its CMake config (dnnl-config.cmake) requires OpenCL even for CPU-only use.
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  nlohmann-json3-dev doctest-dev libbenchmark-dev libcli11-dev \
  libdnnl-dev ocl-icd-opencl-dev libopenmpi-dev openmpi-bin \
  libopencv-dev libdlib-dev libdlib-data \
  python3 python3-pip > /dev/null
# The tests read graft's checkpoints with Python's safetensors package and its
# training metrics with tensorboard, and runs its ONNX exports with onnxruntime.
if ! python3 -c "import safetensors, numpy, tensorboard, onnxruntime" 2> /dev/null; then
  python3 -m pip install --quiet safetensors numpy tensorboard onnxruntime 2> /dev/null ||
    python3 -m pip install --quiet --break-system-packages safetensors numpy tensorboard onnxruntime
fi
# With the CUDA toolkit: cuDNN's C++ frontend (header-only) for graft's GPU convolutions.
# Optional: without it graft builds and the GPU convolutions are left out.
if [ -x /usr/local/cuda/bin/nvcc ] && ! python3 -c "import cudnn" 2> /dev/null; then
  python3 -m pip install --quiet nvidia-cudnn-frontend 2> /dev/null ||
    python3 -m pip install --quiet --break-system-packages nvidia-cudnn-frontend 2> /dev/null ||
    echo "setup-debian.sh: could not install nvidia-cudnn-frontend; graft's GPU convolutions will be left out" >&2
fi
