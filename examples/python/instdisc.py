#!/usr/bin/env python3
"""InstDisc (Wu et al. 2018) on Fashion-MNIST through the ctypes binding: the Python twin of examples/instdisc.c.

Every training image is its own class. A memory bank keeps one L2-normalised 128-d embedding per
image; each step contrasts an augmented image's embedding with its own bank row (the positive) and
the other rows — the non-parametric softmax over all N rows (default) or NCE with K random rows —
then moves the bank rows towards the new embeddings. Labels are used only to evaluate: weighted kNN
on the test set. Same defaults, handles, calls and shuffle as the C program, so the same seed gives
the same losses and accuracy.

  instdisc.py [--epochs N] [--batch N] [--threads N] [--seed N] [--objective softmax|nce] [--k N]
              [--z first|running] [--lr X] [--momentum X] [--wd X] [--warmup N] [--tau X]
              [--bank-momentum X] [--bank-init | --no-bank-init] [--crop-min X] [--crop-max X]
              [--jitter X] [--jitter-p X] [--flip X] [--spec S] [--limit N] [--data DIR]
              [--save F] [--curve F]
"""
import argparse
import array
import gzip
import os
import struct
import sys
import time

try:
    import libcontrast as lct
except ImportError:  # run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import libcontrast as lct

PIXELS = 28 * 28
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
DEFAULT_SPEC = ("in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; conv2d 64 k3 p1; bn; relu; maxpool 2; "
                "flatten; linear 512; bn; relu; linear 128; l2norm")
KNN_K, KNN_TAU, CLASSES = 200, 0.07, 10
MASK64 = (1 << 64) - 1


def f32(x):
    """x rounded to float32, as the C program's float flags are before they reach the library."""
    return struct.unpack("f", struct.pack("f", x))[0]


# ---- IDX files ---------------------------------------------------------------------------------

def idx_read(path):
    """(dims, bytes) of an unsigned-byte IDX file, gzip-compressed or plain."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 8:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    ndim = data[3]
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    count = 1
    for d in dims:
        count *= d
    body = data[4 + 4 * ndim:]
    if count == 0 or len(body) != count:
        raise ValueError("%s: header says %d values, file holds %d" % (path, count, len(body)))
    return dims, body


def load_split(folder, prefix):
    def find(name):
        for cand in (name + ".gz", name):
            p = os.path.join(folder, cand)
            if os.path.exists(p):
                return p
        raise FileNotFoundError("%s: neither %s.gz nor %s" % (folder, name, name))
    idims, images = idx_read(find(prefix + "-images-idx3-ubyte"))
    ldims, labels = idx_read(find(prefix + "-labels-idx1-ubyte"))
    if len(idims) != 3 or idims[1:] != (28, 28) or ldims != (idims[0],) or max(labels) >= CLASSES:
        raise ValueError("%s: %s images and labels do not match" % (folder, prefix))
    return images, labels, idims[0]


# ---- the host's own randomness: the C program's xorshift shuffle, bit for bit -------------------

def shuffle(n, seed, epoch):
    s = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + 1) & MASK64
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        s ^= (s << 13) & MASK64
        s ^= s >> 7
        s ^= (s << 17) & MASK64
        j = s % (i + 1)
        order[i], order[j] = order[j], order[i]
    return array.array("q", order)


# ---- progress lines, as examples/common/progress.c prints them to a log ------------------------

def eta_text(seconds):
    if seconds < 0 or seconds > 1e9:
        return "--:--"
    s = int(seconds + 0.5)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else "%02d:%02d" % (s // 60, s % 60)


class Progress:
    def __init__(self, epochs, steps, batch):
        self.epochs, self.steps, self.batch = epochs, steps, batch
        self.started = self.last_event = time.monotonic()
        self.epoch, self.last_tenth = 0, 0
        self.rate = 0.0

    def epoch_begin(self):
        self.last_event = time.monotonic()

    def update(self, epoch, step, loss):
        now = time.monotonic()
        if epoch != self.epoch:
            self.epoch, self.started, self.last_tenth = epoch, self.last_event, 0
        self.last_event = now
        elapsed = now - self.started
        eta = -1.0 if step == 0 else (0.0 if step >= self.steps else elapsed / step * (self.steps - step))
        if eta >= 0 and step > 0:
            eta += elapsed / step * (max(self.epochs - epoch, 0) * self.steps)
        self.rate = step * self.batch / elapsed if elapsed > 0 else 0.0
        if step >= self.steps:
            self.last_tenth = 10
        else:
            tenth = int(step * 10.0 / self.steps)
            if tenth <= self.last_tenth:
                return
            self.last_tenth = tenth
        print("epoch %d/%d step %d/%d loss %.4f samples/s %.0f ETA %s" % (
            epoch, self.epochs, step, self.steps, loss, self.rate, eta_text(eta)), flush=True)


# ---- evaluation, as examples/common/eval.c ------------------------------------------------------

def embed_images(enc, to_float, images, n, batch=500):
    """Embeddings of n images in eval mode (the encoder's mode is restored)."""
    dim = enc.output_size
    out = array.array("f", bytes(4 * n * dim))
    mode = enc.mode
    enc.mode = lct._encoder.EVAL
    view = memoryview(out)
    for first in range(0, n, batch):
        b = min(batch, n - first)
        x = to_float.apply(images[first * PIXELS:(first + b) * PIXELS], n_views=1)
        enc.forward(x, out=view[first * dim:(first + b) * dim])
    enc.mode = mode
    return out


def knn_accuracy(rt, train, train_labels, test, test_labels, d):
    pred = lct.knn_classify(rt, train, train_labels, d, test, k=KNN_K, tau=f32(KNN_TAU), n_classes=CLASSES)
    return sum(1 for p, t in zip(pred, test_labels) if p == t) / len(test_labels)


def main(argv=None):
    cpus = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description="InstDisc on Fashion-MNIST")
    ap.add_argument("--epochs", type=int, default=3, help="passes over the training images")
    ap.add_argument("--batch", type=int, default=256, help="images per training step")
    ap.add_argument("--threads", type=int, default=min(max(cpus, 1), 256), help="worker threads")
    ap.add_argument("--seed", type=int, default=1, help="seed of every random stream")
    ap.add_argument("--objective", choices=("softmax", "nce"), default="softmax",
                    help="softmax (non-parametric softmax over all bank rows) or nce")
    ap.add_argument("--k", type=int, default=4096, help="noise samples per image (NCE)")
    ap.add_argument("--z", choices=("first", "running"), default="first",
                    help="NCE's Z: first (from the first batch, as the original) or running")
    ap.add_argument("--lr", type=float, default=0.03, help="SGD learning rate (cosine schedule)")
    ap.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    ap.add_argument("--wd", type=float, default=5e-4, help="SGD weight decay")
    ap.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up")
    ap.add_argument("--tau", type=float, default=0.07, help="temperature")
    ap.add_argument("--bank-momentum", type=float, default=0.5, help="memory bank momentum")
    ap.add_argument("--bank-init", action=argparse.BooleanOptionalAction, default=True,
                    help="fill the bank with the untrained encoder's embeddings (else random rows)")
    ap.add_argument("--crop-min", type=float, default=0.5, help="smallest area fraction of the random crop")
    ap.add_argument("--crop-max", type=float, default=1.0, help="largest area fraction of the random crop")
    ap.add_argument("--jitter", type=float, default=0.4, help="colour jitter strength (0: none)")
    ap.add_argument("--jitter-p", type=float, default=1.0, help="probability of the colour jitter")
    ap.add_argument("--flip", type=float, default=0.5, help="probability of a horizontal flip")
    ap.add_argument("--spec", default=DEFAULT_SPEC, help="encoder spec (docs/encoder.md)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N train and test images (0: all)")
    ap.add_argument("--data", default=DEFAULT_DIR, help="folder with the Fashion-MNIST *-idx?-ubyte(.gz) files")
    ap.add_argument("--save", default=None, help="write a checkpoint to this file after training")
    ap.add_argument("--curve", default=None, help="write the loss of every step to this file, one per line")
    args = ap.parse_args(argv)
    lr, tau, momentum = f32(args.lr), f32(args.tau), f32(args.bank_momentum)

    train_images, train_labels_u8, n = load_split(args.data, "train")
    test_images, test_labels_u8, q = load_split(args.data, "t10k")
    if args.limit > 0:
        n, q = min(args.limit, n), min(args.limit, q)
    batch = min(args.batch, n)

    # Handles: runtime, encoder, memory bank, NCE loss, optimiser, augmenter (the C program's order:
    # each handle draws its random stream from the runtime when it is created).
    rt = lct.Runtime(threads=args.threads, seed=args.seed)
    enc = lct.Encoder(rt, spec=args.spec)
    dim = enc.output_size
    bank = lct.Bank(rt, n, dim)
    if args.objective == "nce":
        loss = lct.NCE(rt, bank, k=args.k, z_policy="first_batch" if args.z == "first" else "running",
                       temperature=tau)
    else:
        loss = lct.NonParametricSoftmax(rt, bank, temperature=tau)
    steps_per_epoch = n // batch
    total = args.epochs * steps_per_epoch
    opt = lct.Optimizer(rt, "sgd", lr=lr, momentum=f32(args.momentum), weight_decay=f32(args.wd),
                        schedule="cosine", total_steps=total,
                        warmup_steps=args.warmup if args.warmup < total else 0, params=[enc])
    # The C program's train_augmenter(): crop, brightness/contrast jitter, flip (each only when enabled).
    aug = lct.Augmenter(rt, input="u8", channels=1, height=28, width=28)
    crop_min, crop_max, jitter, jitter_p, flip = (f32(v) for v in (args.crop_min, args.crop_max, args.jitter,
                                                                  args.jitter_p, args.flip))
    if crop_min > crop_max:
        ap.error("--crop-min %g is above --crop-max %g" % (crop_min, crop_max))
    if crop_min < 1.0:
        aug.add_random_resized_crop(1.0, (crop_min, crop_max))
    if jitter > 0 and jitter_p > 0:
        aug.add_color_jitter(jitter_p, jitter, jitter, 0.0, 0.0)
    if flip > 0:
        aug.add_hflip(flip)
    # Grey levels to floats in [0, 1] (v × (1/255)): an augmenter without transforms does exactly that.
    to_float = lct.Augmenter(rt, input="u8", channels=1, height=28, width=28)
    raw_norm = lct.Encoder(rt, spec="in 1x28x28; flatten; l2norm")

    train_labels = array.array("i", list(train_labels_u8[:n]))
    test_labels = array.array("i", list(test_labels_u8[:q]))

    # Baselines: raw pixels and the encoder before training, same kNN protocol.
    raw_train = embed_images(raw_norm, to_float, train_images, n)
    raw_test = embed_images(raw_norm, to_float, test_images, q)
    raw = knn_accuracy(rt, raw_train, train_labels, raw_test, test_labels, PIXELS)
    del raw_train, raw_test
    train_emb = embed_images(enc, to_float, train_images, n)
    test_emb = embed_images(enc, to_float, test_images, q)
    untrained = knn_accuracy(rt, train_emb, train_labels, test_emb, test_labels, dim)
    print("instdisc: %d train / %d test images, encoder %s" % (n, q, enc.spec))
    print("instdisc: kNN before training %.4f, raw pixels %.4f; BLIS kernels %s, %d thread(s)" %
          (untrained, raw, rt.kernel[0], rt.threads), flush=True)
    if args.bank_init:  # the untrained encoder's embeddings (eval mode) as the first bank rows
        bank.set_rows(0, train_emb)

    # Training: augment, embed, loss against the bank, backward, SGD step, bank update.
    images = bytearray(batch * PIXELS)
    x = array.array("f", bytes(4 * batch * PIXELS))
    f = array.array("f", bytes(4 * batch * dim))
    df = array.array("f", bytes(4 * batch * dim))
    curve = []
    bar = Progress(args.epochs, steps_per_epoch, batch)
    samples, seconds = 0, 0.0
    for epoch in range(1, args.epochs + 1):
        order = shuffle(n, args.seed, epoch)
        bar.epoch_begin()
        t0 = time.monotonic()
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            for b, i in enumerate(idx):
                images[b * PIXELS:(b + 1) * PIXELS] = train_images[i * PIXELS:(i + 1) * PIXELS]
            aug.apply(images, n_views=1, out=x)
            enc.forward(x, out=f)
            if args.objective == "nce":
                value, _ = loss.compute(f, idx, out=df)
            else:
                value, df = loss.compute(f, idx)
            opt.zero_grad()
            enc.backward(df)
            opt.step()
            bank.update(f, idx, momentum)
            curve.append(value)
            bar.update(epoch, s + 1, value)
        seconds += time.monotonic() - t0
        samples += steps_per_epoch * batch

    # Evaluation: embeddings of the train and test images from the trained encoder.
    train_emb = embed_images(enc, to_float, train_images, n)
    test_emb = embed_images(enc, to_float, test_images, q)
    trained = knn_accuracy(rt, train_emb, train_labels, test_emb, test_labels, dim)
    if args.curve:
        with open(args.curve, "w") as fh:
            fh.write("".join("%.9g\n" % v for v in curve))
    if args.save:
        w = lct.CheckpointWriter(rt)
        for name, h in (("encoder", enc), ("optimizer", opt), ("bank", bank), ("loss", loss), ("augmenter", aug)):
            w.add(name, h)
        w.add_runtime().add_counter("epoch", args.epochs).add_counter("step", len(curve))
        w.write(args.save)
        w.close()
        print("instdisc: wrote checkpoint %s" % args.save)
    if seconds > 0:
        print("instdisc: training %.1f samples/s over %d steps" % (samples / seconds, len(curve)))
    print("kNN top-1: %.4f (untrained: %.4f, raw pixels: %.4f)" % (trained, untrained, raw))
    for h in (raw_norm, to_float, aug, opt, loss, bank, enc):
        h.close()
    rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
