#!/usr/bin/python3
"""NCE on a small data set: libcontrast against a PyTorch re-implementation of the original code.

Issue 20, item 4: on 1,500 images NCE (K = 1024) ended far below the non-parametric softmax. This
study trains the same MLP on the same images from the same initial weights, bank rows and batch
order with

  lib-first, lib-running[:M], lib-fixed:Z  libcontrast's NCE under each Z policy (M: Z momentum, default 0.99;
                                           Z: collapsed = log N + 1/T, separated = 1/T, or a number, log Z)
  torch-first                              lemniscate.pytorch's NCEAverage + NCECriterion, re-written here
                                           (Z = mean(exp(s/T)) * N from the first batch, float32 ratios, eps 1e-7)
  torch-running[:M]                        the same with libcontrast's running Z (log-space EMA)
  torch-running_noise[:M]                  ... estimated from the noise columns only (not the positive)
  lib-softmax, torch-softmax               the non-parametric softmax (lemniscate's LinearAverage + cross-entropy)

and reports the weighted kNN accuracy (k = 200, tau = 0.07, InstDisc's protocol, in NumPy so that
every run is judged by the same code) of test images against the training images, with the Z in use
at the end, the Z the bank really gives (mean over training images of sum_j exp(v_j.f/T)) and the
number of warnings libcontrast's log hook received.

Data: the first N Fashion-MNIST training images (and the first Q test images), centre-cropped to
24x24 and averaged over 3x3 blocks to 8x8 (--size 8), or over 2x2 blocks to 14x14 (--size 14),
grey levels / 255, then per-pixel z-scores. No augmentation: both sides see the same inputs. The
PyTorch model is built from the encoder's canonical spec by tests/torch_compare.py's build() and
loaded with the encoder's initial weights through tensors_of(); the bank starts from the
libcontrast bank's rows (InstDisc's uniform initialisation); SGD lr 0.03, momentum 0.9, weight decay
5e-4 on both sides; bank momentum 0.5. What differs between a library run and a PyTorch run is the
noise draw (each side's own generator) and rounding.

A benchmark, not a test: run by hand, one thread (docs/methods.md, "NCE on small data sets"):

  OMP_NUM_THREADS=1 nice /usr/bin/python3 bench/nce_small.py
  OMP_NUM_THREADS=1 nice /usr/bin/python3 bench/nce_small.py --n 6000 --epochs 20 --runs lib-first,lib-running:0
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import libcontrast as lct  # noqa: E402
from torch_compare import build, tensors_of  # noqa: E402

SPEC = "in {px}; linear 512; relu; linear 512; relu; linear 128; l2norm"
KNN_K, KNN_TAU, CLASSES = 200, 0.07, 10
ALL_RUNS = ("lib-first", "lib-running", "lib-fixed", "torch-first", "torch-running", "torch-running_noise",
            "lib-softmax", "torch-softmax")
DEFAULT_RUNS = ("lib-first", "lib-running", "lib-running:0.5", "lib-running:0", "lib-fixed:collapsed",
                "lib-fixed:separated", "lib-softmax",
                "torch-first", "torch-running", "torch-running:0", "torch-softmax")


# ---- data ---------------------------------------------------------------------------------------

def idx_read(path):
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(folder, prefix, count, size):
    """(count x size*size float32 images, labels) from the first `count` images of a split."""
    images = idx_read(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"))[:count].astype(np.float64) / 255.0
    labels = idx_read(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"))[:count].astype(np.int64)
    if size == 8:
        images = images[:, 2:26, 2:26].reshape(-1, 8, 3, 8, 3).mean(axis=(2, 4))
    elif size == 14:
        images = images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    elif size != 28:
        raise ValueError("--size must be 8, 14 or 28")
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32), labels


def knn_accuracy(train, train_labels, test, test_labels, k=KNN_K, tau=KNN_TAU):
    """InstDisc's weighted kNN: the k most similar training embeddings vote with weight exp(sim / tau)."""
    sim = test.astype(np.float64) @ train.astype(np.float64).T
    k = min(k, train.shape[0])
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    w = np.exp(np.take_along_axis(sim, top, axis=1) / tau)
    votes = np.zeros((test.shape[0], CLASSES))
    np.add.at(votes, (np.arange(test.shape[0])[:, None], train_labels[top]), w)
    return float((votes.argmax(axis=1) == test_labels).mean())


def true_log_z(feats, bank, tau):
    """log of the mean over the samples (at most 2,000) of sum_j exp(v_j.f / tau): the Z NCE's estimate targets."""
    s = feats[:2000].astype(np.float64) @ bank.astype(np.float64).T / tau
    m = s.max()
    return float(m + np.log(np.exp(s - m).sum(axis=1).mean()))


# ---- the shared starting point ---------------------------------------------------------------

class Setup:
    def __init__(self, args):
        self.args = args
        self.x, self.y = load(args.data, "train", args.n, args.size)
        self.xt, self.yt = load(args.data, "t10k", args.test, args.size)
        if args.standardize:  # per-pixel z-scores with the training images' statistics
            mu, sd = self.x.mean(axis=0), self.x.std(axis=0) + 1e-3
            self.x, self.xt = ((v - mu) / sd for v in (self.x, self.xt))
            self.x, self.xt = (np.ascontiguousarray(v, dtype=np.float32) for v in (self.x, self.xt))
        self.n = len(self.x)
        rt = lct.Runtime(threads=1, seed=args.seed)
        enc = lct.Encoder(rt, spec=SPEC.format(px=self.x.shape[1]))
        self.spec = enc.spec
        p = enc.params
        self.weights = [np.array(p.get(i), dtype=np.float32) for i in range(len(p))]
        self.dim = enc.output_size
        bank = lct.Bank(rt, self.n, self.dim)  # InstDisc's uniform rows in +-1/sqrt(D/3)
        self.bank0 = np.array(bank.get_rows(like=self.x), dtype=np.float32).reshape(self.n, self.dim)
        train0 = np.array(enc.forward(self.x), dtype=np.float32)
        self.untrained = knn_accuracy(train0, self.y, np.array(enc.forward(self.xt), dtype=np.float32), self.yt)
        if args.bank_init:  # the untrained encoder's embeddings as the first rows (examples/instdisc's default)
            self.bank0 = train0
        bank.close()
        enc.close()
        rt.close()
        steps = self.n // args.batch
        self.orders = [np.random.RandomState(args.seed * 1000 + e).permutation(self.n)[:steps * args.batch]
                       .reshape(steps, args.batch) for e in range(args.epochs)]
        self.raw = knn_accuracy(normalize(self.x), self.y, normalize(self.xt), self.yt)


def normalize(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


# ---- libcontrast ------------------------------------------------------------------------------

def run_lib(setup, objective, policy=None, fixed_log_z=None, z_momentum=0.99):
    a = setup.args
    warnings = []
    rt = lct.Runtime(threads=1, seed=a.seed, log=lambda level, msg: warnings.append(msg))
    enc = lct.Encoder(rt, spec=setup.spec)
    p = enc.params
    for i, w in enumerate(setup.weights):
        p.set(i, w)
    bank = lct.Bank(rt, setup.n, setup.dim)
    bank.set_rows(0, setup.bank0)
    if objective == "nce":
        loss = lct.NCE(rt, bank, k=a.k, z_policy=policy, temperature=a.tau)
        loss.set_param(lct._loss.Z_MOMENTUM, z_momentum)
        if policy == "fixed":
            loss.set_log_z(fixed_log_z)
    else:
        loss = lct.NonParametricSoftmax(rt, bank, temperature=a.tau)
    opt = lct.Optimizer(rt, "sgd", lr=a.lr, momentum=0.9, weight_decay=5e-4, params=[enc])
    df = np.zeros((a.batch, setup.dim), dtype=np.float32)
    f = np.zeros((a.batch, setup.dim), dtype=np.float32)
    hist = []
    first_loss = last_loss = None
    for e, order in enumerate(setup.orders):
        for idx in order:
            xb = np.ascontiguousarray(setup.x[idx])
            enc.forward(xb, out=f)
            idx64 = np.ascontiguousarray(idx, dtype=np.int64)
            if objective == "nce":
                value, _ = loss.compute(f, idx64, out=df)
                g = df
            else:
                value, g = loss.compute(f, idx64)
            opt.zero_grad()
            enc.backward(g)
            opt.step()
            bank.update(f, idx64, 0.5)
            first_loss = value if first_loss is None else first_loss
            last_loss = value
        if (e + 1) in setup.args.eval_at or e + 1 == len(setup.orders):
            hist.append(evaluate(setup, lambda x: enc.forward(x), bank.get_rows(like=setup.x).reshape(setup.n, -1),
                                 loss.log_z() if objective == "nce" else None, e + 1, last_loss))
    out = {"hist": hist, "first_loss": first_loss, "warnings": warnings}
    for h in (opt, loss, bank, enc):
        h.close()
    rt.close()
    return out


# ---- PyTorch: lemniscate.pytorch's NCE and softmax --------------------------------------------

def run_torch(setup, objective, policy=None, z_momentum=0.99):
    a = setup.args
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    layers = build(setup.spec)
    model = nn.Sequential(*[m for _, m in layers])
    with torch.no_grad():
        ts = [t for kind, m in layers for t in tensors_of(kind, m)]
        for (t, _), w in zip(ts, setup.weights):
            t.copy_(torch.from_numpy(w).reshape(t.shape))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    memory = torch.from_numpy(setup.bank0.copy())
    n, k, tau, eps = setup.n, a.k, a.tau, 1e-7
    log_z = log_z0 = None
    lag = drift = 0.0  # largest |log10(batch estimate / Z in use)| and |log10(Z / first Z)|
    x_all = torch.from_numpy(setup.x)
    hist = []
    first_loss = last_loss = None
    for e, order in enumerate(setup.orders):
        for idx in order:
            y = torch.from_numpy(idx.astype(np.int64))
            f = model(x_all[y])
            if objective == "nce":
                # NCEAverage: column 0 is the positive, K noise indices uniform with replacement (AliasMethod
                # over equal weights); exp(s / T) / Z with Z a constant for the gradient.
                draw = torch.randint(0, n, (len(y), k + 1), generator=gen)
                draw[:, 0] = y
                w = memory[draw]
                out = torch.exp(torch.bmm(w, f.unsqueeze(2)).squeeze(2) / tau)
                est = math.log((out.detach()[:, 1:] if policy == "running_noise" else out.detach()).mean().item() * n)
                if log_z is None:
                    log_z = log_z0 = est
                elif policy in ("running", "running_noise") and z_momentum == 0.0:
                    log_z = est
                elif policy in ("running", "running_noise"):
                    m = z_momentum
                    hi = max(math.log(m) + log_z, math.log1p(-m) + est)
                    log_z = hi + math.log(math.exp(math.log(m) + log_z - hi) + math.exp(math.log1p(-m) + est - hi))
                lag = max(lag, abs(est - log_z) / math.log(10))
                drift = max(drift, abs(log_z - log_z0) / math.log(10))
                out = out / math.exp(log_z)
                # NCECriterion, Pn = 1/N
                pn = 1.0 / n
                p_pos = out[:, 0]
                ln_pmt = torch.log(p_pos / (p_pos + k * pn + eps))
                ln_pon = torch.log((k * pn) / (out[:, 1:] + k * pn + eps))
                loss = -(ln_pmt.sum() + ln_pon.sum()) / len(y)
            else:
                loss = F.cross_entropy(f @ memory.t() / tau, y)  # LinearAverage + CrossEntropyLoss
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():  # the memory update of NCEFunction.backward, momentum 0.5
                pos = memory[y] * 0.5 + f.detach() * 0.5
                memory[y] = pos / pos.pow(2).sum(1, keepdim=True).pow(0.5)
            first_loss = loss.item() if first_loss is None else first_loss
            last_loss = loss.item()
        if (e + 1) in setup.args.eval_at or e + 1 == len(setup.orders):
            def embed(xx):
                with torch.no_grad():
                    return model(torch.from_numpy(xx)).numpy()
            hist.append(evaluate(setup, embed, memory.numpy(), log_z, e + 1, last_loss))
    notes = ["largest |log10(batch estimate / Z in use)| %.2f, largest |log10(Z / first Z)| %.2f" % (lag, drift)]
    return {"hist": hist, "first_loss": first_loss, "warnings": [], "notes": notes if objective == "nce" else []}


# ---- evaluation and report -----------------------------------------------------------------------

def evaluate(setup, embed, bank_rows, log_z, epoch, last_loss):
    train = np.asarray(embed(setup.x), dtype=np.float32)
    test = np.asarray(embed(setup.xt), dtype=np.float32)
    return {"epoch": epoch, "knn": knn_accuracy(train, setup.y, test, setup.yt), "loss": last_loss,
            "log10_z": None if log_z is None else log_z / math.log(10),
            "log10_z_true": true_log_z(train, np.asarray(bank_rows), setup.args.tau) / math.log(10)}


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description="NCE against the softmax on a small data set, libcontrast and PyTorch")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--n", type=int, default=1500, help="training images (bank rows)")
    ap.add_argument("--test", type=int, default=1000, help="test images for the kNN")
    ap.add_argument("--size", type=int, default=8, help="8 (3x3 means of the central 24x24), 14 or 28")
    ap.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                    help="per-pixel z-scores (mean and deviation of the training images)")
    ap.add_argument("--bank-init", action=argparse.BooleanOptionalAction, default=False,
                    help="start the bank at the untrained encoder's embeddings (else InstDisc's random rows)")
    ap.add_argument("--k", type=int, default=1024, help="NCE noise samples")
    ap.add_argument("--tau", type=float, default=0.07)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--eval-at", default="1,5,20", help="epochs at which to evaluate too (the last always)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--z-momentum", type=float, default=0.99, help="m_Z of a running run without :M (libcontrast's default)")
    ap.add_argument("--fixed-log-z", type=float, default=None,
                    help="log Z of a plain lib-fixed run; lib-fixed:collapsed is log N + 1/tau (every score 1), "
                         "lib-fixed:separated 1/tau (only the positive scores, at 1), lib-fixed:X log Z = X")
    ap.add_argument("--runs", default=",".join(DEFAULT_RUNS),
                    help="comma-separated, from %s; a running run takes :M for its Z momentum" % ", ".join(ALL_RUNS))
    args = ap.parse_args(argv)
    args.eval_at = {int(v) for v in args.eval_at.split(",") if v}
    runs = [r for r in args.runs.split(",") if r]
    for r in runs:
        if r.split(":")[0] not in ALL_RUNS or (":" in r and "running" not in r and "fixed" not in r):
            ap.error("unknown run %s (known: %s)" % (r, ", ".join(ALL_RUNS)))
    torch.set_num_threads(1)
    setup = Setup(args)
    fixed = None
    print("data: first %d train / %d test Fashion-MNIST images at %dx%d; spec %s" %
          (setup.n, len(setup.xt), args.size, args.size, setup.spec))
    print("N %d, K %d (K/N %.3f), tau %g, batch %d, %d epochs (%d steps), lr %g, seed %d; kNN raw pixels %.4f, untrained %.4f" %
          (setup.n, args.k, args.k / setup.n, args.tau, args.batch, args.epochs,
           args.epochs * len(setup.orders[0]), args.lr, args.seed, setup.raw, setup.untrained), flush=True)
    print("| run | kNN by epoch | first → last loss | log10 Z in use | log10 Z of the bank | warnings | s |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        t0 = time.monotonic()
        name, _, opt = r.partition(":")
        m = float(opt) if opt and "running" in name else args.z_momentum
        if "fixed" in name:
            fixed = {"": args.fixed_log_z, "collapsed": math.log(setup.n) + 1.0 / args.tau,
                     "separated": 1.0 / args.tau}.get(opt)
            fixed = float(opt) if fixed is None and opt else fixed
            if fixed is None:
                ap.error("lib-fixed needs :collapsed, :separated, :LOG_Z or --fixed-log-z")
        side, what = name.split("-")
        objective = "softmax" if what == "softmax" else "nce"
        policy = {"first": "first_batch", "running": "running", "fixed": "fixed"}.get(what, what)
        if side == "lib":
            res = run_lib(setup, objective, policy, fixed, m)
        else:
            res = run_torch(setup, objective, policy, m)
        last = res["hist"][-1]
        curve = " → ".join("%d: %.4f" % (h["epoch"], h["knn"]) for h in res["hist"])
        label = ("%s (m_Z %g)" % (name, m) if what == "running" else
                 "%s (log10 Z %.2f)" % (name, fixed / math.log(10)) if what == "fixed" else r)
        print("| %s | %s | %.3f → %.3f | %s | %.2f | %d | %.0f |" % (
            label, curve, res["first_loss"], last["loss"], fmt(last["log10_z"], ".2f"), last["log10_z_true"],
            len(res["warnings"]), time.monotonic() - t0), flush=True)
        for w in res["warnings"]:
            print("    log: " + w)
        for w in res.get("notes", []):
            print("    Z: " + w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
