#!/usr/bin/env python3
"""PyTorch on the CPU at the shapes of graft's CPU benchmarks, for docs/benchmarks.md.

Times convolution forward, backward-data and backward-weights (aten's
convolution_backward, which is what autograd calls) at the geometries of
benchmarks/saehd_shapes.hpp, with the thread count of OMP_NUM_THREADS.
The whole-step comparison uses ../shared/anchors/torch_faceswap.py --cpu.

Usage: OMP_NUM_THREADS=2 python3 benchmarks/torch_cpu_reference.py
"""
import os
import statistics
import time

import torch

# Keep in step with benchmarks/saehd_shapes.hpp.
GEOMETRIES = [
    ("encoder.down0", (16, 3, 64, 64, 64, 5, 2, 2)),
    ("encoder.down1", (16, 64, 32, 32, 128, 5, 2, 2)),
    ("encoder.down3", (16, 256, 8, 8, 512, 5, 2, 2)),
    ("decoder.upscale0", (8, 256, 8, 8, 2048, 3, 1, 1)),
    ("decoder.res0", (8, 512, 16, 16, 512, 3, 1, 1)),
    ("decoder.upscale2", (8, 256, 32, 32, 512, 3, 1, 1)),
    ("decoder.res2", (8, 128, 64, 64, 128, 3, 1, 1)),
    ("decoder.out_conv", (8, 128, 64, 64, 3, 1, 1, 0)),
]


def median_ms(fn, min_time=0.3):
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'shape':20s} {'fwd ms':>8s} {'bwd-data ms':>12s} {'bwd-weights ms':>15s}")
    for name, (n, c, h, w, o, k, s, p) in GEOMETRIES:
        x = torch.rand(n, c, h, w)
        wt = torch.rand(o, c, k, k) * 0.01
        b = torch.rand(o)
        y = torch.nn.functional.conv2d(x, wt, b, stride=s, padding=p)
        dy = torch.rand_like(y)

        def backward(mask):
            return torch.ops.aten.convolution_backward(dy, x, wt, [o], [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)

        fwd = median_ms(lambda: torch.nn.functional.conv2d(x, wt, b, stride=s, padding=p))
        bwd_data = median_ms(lambda: backward([True, False, False]))
        bwd_weights = median_ms(lambda: backward([False, True, True]))
        print(f"{name:20s} {fwd:8.2f} {bwd_data:12.2f} {bwd_weights:15.2f}")


if __name__ == "__main__":
    main()
