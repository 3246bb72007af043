"""Training through ctypes: the losses of the C library for the same seed, lifetimes, leaks, the example."""
import array
import gc
import importlib.util
import os
import random
import subprocess
import sys
import unittest

import libcontrast as lct
from helpers import rss_kib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("LCT_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
FMNIST = "/usr/share/datasets/fashion-mnist"

SIDE, N, BATCH, EPOCHS, K, SEED = 28, 64, 16, 2, 32, 7
SPEC = "in 1x28x28; conv2d 8 k3 p1; bn; relu; maxpool 2; flatten; linear 32; l2norm"


def load_example():
    """examples/python/instdisc.py as a module (its main runs only as a script)."""
    path = os.path.join(ROOT, "examples", "python", "instdisc.py")
    spec = importlib.util.spec_from_file_location("instdisc_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The example's shuffle (examples/instdisc.c's, bit for bit) and float rounding: the losses below
# match the C program's only if these do.
example = load_example()
shuffle, f32 = example.shuffle, example.f32


def python_losses(threads):
    """tests/instdisc_steps.c, step for step, through the binding."""
    pixels = SIDE * SIDE
    data = bytes((b * 131 + p * 7 + (b * p) % 13) % 256 for b in range(N) for p in range(pixels))
    with lct.Runtime(threads=threads, seed=SEED) as rt:
        enc = lct.Encoder(rt, spec=SPEC)
        bank = lct.Bank(rt, N, enc.output_size)
        loss = lct.NCE(rt, bank, k=K, temperature=f32(0.07))
        steps = N // BATCH
        opt = lct.Optimizer(rt, "sgd", lr=f32(0.03), momentum=0.9, weight_decay=5e-4, schedule="cosine",
                            total_steps=EPOCHS * steps, params=[enc])
        aug = lct.Augmenter(rt, input="u8", channels=1, height=SIDE, width=SIDE).preset("instdisc")
        out = []
        images = bytearray(BATCH * pixels)
        for epoch in range(1, EPOCHS + 1):
            order = shuffle(N, SEED, epoch)
            for s in range(steps):
                idx = order[s * BATCH:(s + 1) * BATCH]
                for b, i in enumerate(idx):
                    images[b * pixels:(b + 1) * pixels] = data[i * pixels:(i + 1) * pixels]
                x = aug.apply(images, n_views=1)
                f = enc.forward(x)
                value, df = loss.compute(f, idx)
                opt.zero_grad()
                enc.backward(df)
                opt.step()
                bank.update(f, idx, 0.5)
                out.append("%.9g" % value)
        for h in (aug, opt, loss, bank, enc):
            h.close()
    return out


class TestTrainingMatchesC(unittest.TestCase):
    @unittest.skipUnless(os.environ.get("LCT_INSTDISC_STEPS"), "LCT_INSTDISC_STEPS (the C program) is not set")
    def test_losses_equal_the_c_program(self):
        for threads in (1, 2):
            c = subprocess.run([os.environ["LCT_INSTDISC_STEPS"], str(threads)], check=True, capture_output=True,
                               text=True).stdout.split()
            self.assertEqual(len(c), EPOCHS * (N // BATCH))
            self.assertEqual(python_losses(threads), c)


class TestLifetimes(unittest.TestCase):
    def make_all(self, rt):
        enc = lct.Encoder(rt, spec="in 4; linear 3; l2norm")
        bank = lct.Bank(rt, 6, 3)
        loss = lct.NCE(rt, bank, k=2)
        opt = lct.Optimizer(rt, params=[enc])
        aug = lct.Augmenter(rt, input="f32", channels=1, height=2, width=2)
        w = lct.CheckpointWriter(rt)
        return [enc, bank, loss, opt, aug, w]

    def test_dropped_in_any_order(self):
        rng = random.Random(3)
        for trial in range(30):
            rt = lct.Runtime(seed=trial)
            hs = self.make_all(rt)
            keep_rt = rt if trial % 2 else None
            del rt  # the handles keep it alive
            objs = hs
            rng.shuffle(objs)
            while objs:
                objs.pop()
                gc.collect()
            if keep_rt is not None:
                self.assertEqual(keep_rt.memory[0], 0)
                keep_rt.close()

    def test_reference_cycles_free_borrowers_first(self):
        # The collector finalises the members of a dead cycle in any order; the runtime, the bank
        # and the encoder must still be freed after the handles that borrow them.
        freed = []
        classes = (lct.Runtime, lct.Encoder, lct.Bank, lct.Loss, lct.Optimizer, lct.Augmenter, lct.CheckpointWriter)
        saved = {cls: cls.__dict__["_free"] for cls in classes}

        def recorder(cls, free):
            return staticmethod(lambda ptr: (freed.append(cls.__name__), free(ptr)))
        for cls, free in saved.items():
            cls._free = recorder(cls, free.__func__)

        class Holder:
            pass
        try:
            for trial in range(40):
                holder = Holder()
                holder.me = holder
                rt = lct.Runtime(seed=trial)
                objs = [rt] + self.make_all(rt)
                random.Random(trial).shuffle(objs)
                holder.objs = objs
                del rt, objs, holder
                freed.clear()
                gc.collect()
                self.assertEqual(len(freed), 7, freed)
                self.assertEqual(freed[-1], "Runtime")
                self.assertLess(freed.index("Loss"), freed.index("Bank"))
                self.assertLess(freed.index("Optimizer"), freed.index("Encoder"))
        finally:
            for cls, free in saved.items():
                cls._free = free

    def test_close_order_is_enforced(self):
        rt = lct.Runtime()
        enc, bank, loss, opt, aug, w = self.make_all(rt)
        for h, blocker in ((rt, enc), (bank, loss), (enc, opt)):
            with self.assertRaises(lct.StateError) as cm:
                h.close()
            self.assertIn(type(blocker).__name__, cm.exception.message)
        for h in (opt, loss, bank, enc, aug, w, rt):
            h.close()
            self.assertTrue(h.closed)
        with self.assertRaises(lct.StateError):
            enc.forward(array.array("f", [0.0] * 4))
        opt.close()  # closing twice is harmless

    def test_no_leak_over_10000_cycles(self):
        x = array.array("f", [0.5, 0.1, -0.2, 0.3] * 2)

        def cycle(rt):
            hs = self.make_all(rt)
            f = hs[0].forward(x)
            hs[2].compute(f, [0, 5])
            hs[1].update(f, [0, 5])
            for h in (hs[3], hs[2], hs[1], hs[0], hs[4], hs[5]):
                h.close()
        with lct.Runtime() as rt:
            for _ in range(300):
                cycle(rt)
            gc.collect()
            before = rss_kib()
            for i in range(10000):
                cycle(rt)
            gc.collect()
            grown = rss_kib() - before
            self.assertEqual(rt.memory[0], 0)
        self.assertLess(grown, 2048, "RSS grew by %d KiB over 10,000 create/free cycles" % grown)


class TestExample(unittest.TestCase):
    @unittest.skipUnless(os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")),
                         "Fashion-MNIST is not installed")
    def test_instdisc_smoke(self):
        args = ["--limit", "300", "--epochs", "1", "--batch", "64", "--k", "256", "--threads", "1"]
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
        with __import__("tempfile").TemporaryDirectory() as tmp:
            ckpt = os.path.join(tmp, "instdisc.ckpt")
            py = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", "instdisc.py")] + args +
                                ["--save", ckpt], capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(py.returncode, 0, py.stderr)
            with lct.Runtime(seed=1) as rt:
                r = lct.Checkpoint(rt, path=ckpt)
                self.assertEqual(r.counter("step"), 300 // 64)
                enc = r.new_encoder("encoder")
                self.assertEqual(enc.output_size, 128)
                bank = r.new_bank("bank")
                self.assertEqual(bank.info, (300, 128, 0))
                for h in (bank, enc, r):
                    h.close()
        last = py.stdout.strip().splitlines()[-1]
        self.assertTrue(last.startswith("kNN top-1: "), last)
        acc = float(last.split()[2])
        self.assertTrue(0.0 < acc <= 1.0)
        c_prog = os.environ.get("LCT_INSTDISC_C")
        if c_prog:
            with __import__("tempfile").TemporaryDirectory() as out:
                c = subprocess.run([c_prog] + args + ["--out", out], capture_output=True, text=True, timeout=300)
            self.assertEqual(c.returncode, 0, c.stderr)
            self.assertEqual(last, c.stdout.strip().splitlines()[-1])
            py_losses = [l.split(" loss ")[1].split()[0] for l in py.stdout.splitlines() if " loss " in l]
            c_losses = [l.split(" loss ")[1].split()[0] for l in c.stdout.splitlines() if " loss " in l]
            self.assertEqual(py_losses, c_losses)


if __name__ == "__main__":
    unittest.main()
