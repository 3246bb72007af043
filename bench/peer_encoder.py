"""PyTorch peer of `lct-bench encoder`: the same models and step (forward, backward, SGD) on the CPU.

Prints one line: "<samples/s> <torch version> <blas info>". Run by lct-bench with the same thread
count, and with BLIS_ARCH_TYPE set so that torch's BLAS (Debian's BLIS) uses its fastest kernels.
"""
import argparse
import time

import torch
import torch.nn as nn


def model(name):
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
                             nn.Linear(1024, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
                             nn.Linear(1024, 128))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, 128))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["mlp", "cnn"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: forward under torch.autocast(\"cpu\", torch.bfloat16), PyTorch's mixed precision")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = model(a.model).train()
    # A tiny rate: the step repeats one fixed gradient, which a larger rate would blow up to Inf.
    opt = torch.optim.SGD(m.parameters(), lr=1e-5, momentum=0.9)
    shape = (a.batch, 784) if a.model == "mlp" else (a.batch, 1, 28, 28)
    x = torch.rand(shape) * 2 - 1
    dy = (torch.rand(a.batch, 128) * 2 - 1) / a.batch

    def step():
        opt.zero_grad(set_to_none=True)  # its fastest form
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            y = m(x)
        y.backward(dy.to(y.dtype))
        opt.step()

    for _ in range(3):
        step()
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= a.seconds / 3:
                break
        best = max(best, n * a.batch / dt)
    cfg = torch.__config__.show().replace("\n", " ")
    blas = "BLAS_INFO=" + (cfg.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in cfg else "?")
    mkldnn = "mkldnn=" + str(torch.backends.mkldnn.is_available())
    print(f"{best:.1f} {torch.__version__} {blas},{mkldnn}")


if __name__ == "__main__":
    main()
