"""Compare libcontrast encoders with PyTorch on the same weights and inputs.

Run by meson as: python3 torch_compare.py PATH/TO/torch_export
Exit 77 (skipped) when this interpreter has no torch. The helper writes, for
several encoders, the canonical spec, the weights, input x and output gradient
dy, and libcontrast's y, dx, parameter gradients and updated running
statistics; the same model is built in PyTorch from the spec, loaded with the
weights and run in float64, and every array must agree within 1e-4 relative.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {sys.executable} cannot import torch/numpy ({e}); install python3-torch to run this comparison")
    sys.exit(77)

TOL = 1e-4


class Transpose(nn.Module):
    def forward(self, x):
        return x.transpose(1, 2)


class GRUAll(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.gru = nn.GRU(d, h, batch_first=True)

    def forward(self, x):
        return self.gru(x)[0]


class L2(nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return F.normalize(x, dim=-1, eps=self.eps)


class GAP(nn.Module):
    def forward(self, x):
        return x.mean(dim=tuple(range(2, x.dim())))


def opts(tokens):
    o = {}
    for t in tokens:
        if "=" in t:
            k, v = t.split("=")
            o[k] = float(v)
        elif t == "nobias":
            o["nobias"] = True
        else:
            o[t[0]] = int(t[1:])
    return o


def build(spec):
    """The canonical spec (every hyper-parameter explicit) -> list of (kind, module), per-sample shape."""
    parts = [p.strip() for p in spec.split(";")]
    shape = [int(v) for v in parts[0].split()[1].split("x")]
    layers = []
    for p in parts[1:]:
        t = p.split()
        kind, rest = t[0], t[1:]
        if kind == "linear":
            n = int(rest[0])
            o = opts(rest[1:])
            m = nn.Linear(shape[-1], n, bias=not o.get("nobias", False))
            shape = shape[:-1] + [n]
        elif kind in ("conv2d", "conv1d"):
            n = int(rest[0])
            o = opts(rest[1:])
            cls = nn.Conv2d if kind == "conv2d" else nn.Conv1d
            m = cls(shape[0], n, o["k"], stride=o["s"], padding=o["p"], bias=not o.get("nobias", False))
            shape = [n] + [(d + 2 * o["p"] - o["k"]) // o["s"] + 1 for d in shape[1:]]
        elif kind == "batchnorm":
            o = opts(rest)
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            m = cls(shape[0], eps=o["eps"], momentum=o["momentum"])
        elif kind == "relu":
            m = nn.ReLU()
        elif kind in ("maxpool", "avgpool"):
            k = int(rest[0])
            s = opts(rest[1:])["s"]
            two = len(shape) == 3
            cls = {("maxpool", True): nn.MaxPool2d, ("maxpool", False): nn.MaxPool1d,
                   ("avgpool", True): nn.AvgPool2d, ("avgpool", False): nn.AvgPool1d}[(kind, two)]
            m = cls(k, s)
            shape = [shape[0]] + [(d - k) // s + 1 for d in shape[1:]]
        elif kind == "gap":
            m = GAP()
            shape = [shape[0]]
        elif kind == "flatten":
            m = nn.Flatten()
            shape = [int(np.prod(shape))]
        elif kind == "transpose":
            m = Transpose()
            shape = [shape[1], shape[0]]
        elif kind == "l2norm":
            m = L2(opts(rest)["eps"])
        elif kind == "gru":
            h = int(rest[0])
            m = GRUAll(shape[1], h)
            shape = [shape[0], h]
        else:
            raise ValueError(f"layer kind {kind} has no PyTorch mapping here")
        layers.append((kind, m))
    return layers


def tensors_of(kind, m):
    """PyTorch tensors in libcontrast's order, with whether they are trainable."""
    if kind in ("linear", "conv2d", "conv1d"):
        return [(m.weight, True)] + ([(m.bias, True)] if m.bias is not None else [])
    if kind == "batchnorm":
        return [(m.weight, True), (m.bias, True), (m.running_mean, False), (m.running_var, False)]
    if kind == "gru":
        g = m.gru
        return [(g.weight_ih_l0, True), (g.weight_hh_l0, True), (g.bias_ih_l0, True), (g.bias_hh_l0, True)]
    return []


def rel(a, b, floor=1e-6):
    """Largest difference relative to the largest reference magnitude (or floor)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    scale = max(np.abs(b).max(), floor)
    return float(np.abs(a - b).max() / scale)


def run_case(d, k):
    with open(os.path.join(d, f"case{k}.spec")) as f:
        spec, batch, mode = f.read().split("\n")[:3]
    batch, mode = int(batch), int(mode)
    arrays = {}
    raw = np.fromfile(os.path.join(d, f"case{k}.bin"), dtype=np.float32)
    off = 0
    with open(os.path.join(d, f"case{k}.txt")) as f:
        for line in f:
            name, n = line.split()
            arrays[name] = raw[off:off + int(n)]
            off += int(n)
    layers = build(spec)
    model = nn.Sequential(*[m for _, m in layers]).double()
    names = [n[:-len(":before")] for n in arrays if n.endswith(":before")]
    torch_tensors = [t for kind, m in layers for t in tensors_of(kind, m)]
    assert len(names) == len(torch_tensors), f"{len(names)} tensors vs {len(torch_tensors)}"
    with torch.no_grad():
        for name, (t, _) in zip(names, torch_tensors):
            t.copy_(torch.from_numpy(arrays[name + ":before"].astype(np.float64)).reshape(t.shape))
    model.train(mode == 1)
    shape0 = [int(v) for v in spec.split(";")[0].split()[1].split("x")]
    x = torch.from_numpy(arrays["x"].astype(np.float64)).reshape([batch] + shape0).requires_grad_(True)
    y = model(x)
    y.backward(torch.from_numpy(arrays["dy"].astype(np.float64)).reshape(y.shape))
    worst = []
    worst.append(("y", rel(arrays["y"], y.detach().numpy())))
    worst.append(("dx", rel(arrays["dx"], x.grad.numpy())))
    for name, (t, trainable) in zip(names, torch_tensors):
        if trainable:
            # A bias in front of a train-mode batch norm has an exact gradient of 0: its rounding noise
            # is measured against the scale of the same layer's weight gradient instead.
            floor = 1e-6
            if name.endswith(".bias") and name.replace(".bias", ".weight") in names:
                w = torch_tensors[names.index(name.replace(".bias", ".weight"))][0]
                floor = float(w.grad.abs().max())
            worst.append((name + ".grad", rel(arrays[name + ":grad"], t.grad.numpy(), floor)))
        else:
            worst.append((name, rel(arrays[name + ":after"], t.detach().numpy())))
    bad = [(n, e) for n, e in worst if not e <= TOL]
    top = max(worst, key=lambda p: p[1])
    print(f"case {k} ({'train' if mode else 'eval'}): {spec}\n  {len(worst)} arrays, worst {top[0]} {top[1]:.2e}")
    for n, e in bad:
        print(f"  FAIL {n}: relative error {e:.3e} > {TOL}")
    return not bad


def main():
    if len(sys.argv) != 2:
        print("usage: torch_compare.py PATH/TO/torch_export")
        return 2
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.argv[1], d], check=True)
        n = len([f for f in os.listdir(d) if f.endswith(".spec")])
        ok = all([run_case(d, k) for k in range(n)])
    print("all cases agree with PyTorch" if ok else "some cases differ from PyTorch")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
