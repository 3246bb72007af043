"""The encoder through ctypes: spec and builder, shapes, forward/backward against plain-Python references."""
import array
import math
import random
import unittest

import libcontrast as lct

from helpers import HandleTest, numpy, rand_floats


def ref_mlp(x, w, b, batch, din, dout):
    """relu(x Wᵀ + b), then L2-normalised rows, in double precision."""
    y = []
    for i in range(batch):
        row = [max(0.0, sum(x[i * din + k] * w[j * din + k] for k in range(din)) + b[j]) for j in range(dout)]
        norm = math.sqrt(sum(v * v for v in row))
        y += [v / max(norm, 1e-12) for v in row]
    return y


class TestEncoder(HandleTest):
    RUNTIME = dict(threads=2, seed=4)

    def test_builder_equals_spec(self):
        a = self.keep(lct.Encoder(self.rt, shape=(1, 8, 8)))
        a.add_conv2d(4, 3, padding=1).add_batchnorm().add_relu().add_maxpool(2).add_avgpool(2, 1) \
         .add_flatten().add_dropout(0.25).add_linear(6, bias=False).add_l2norm()
        self.assertEqual(len(a), 9)
        self.assertEqual(a.input_shape, (1, 8, 8))
        self.assertEqual(a.output_shape, (6,))
        self.assertEqual((a.input_size, a.output_size), (64, 6))
        with lct.Runtime(seed=4) as rt2:
            b = lct.Encoder(rt2, spec=a.spec)
            self.assertEqual(b.spec, a.spec)
            self.assertEqual(b.param_count, a.param_count)
            for i in range(len(a.params)):
                self.assertEqual(list(a.params.get(i)), list(b.params.get(i)))
            b.close()
        trainable, state = a.param_count
        self.assertEqual(trainable, 4 * 9 + 4 + 4 + 4 + 6 * 36)
        self.assertEqual(state, 8)
        self.assertEqual(a.params.total(), trainable + state)
        self.assertGreater(a.workspace_bytes(8), 0)

    def test_signal_and_sequence_layers(self):
        e = self.keep(lct.Encoder(self.rt, shape=(2, 20)))
        e.add_conv1d(3, 4, stride=2).add_relu().add_transpose().add_gru(5)
        self.assertEqual(e.output_shape, (9, 5))
        g = self.keep(lct.Encoder(self.rt, shape=(3, 6, 6)))
        g.add_global_avgpool()
        x = rand_floats(2 * 108, 3)
        y = g.forward(x)
        for b in range(2):
            for c in range(3):
                ref = sum(x[b * 108 + c * 36 + i] for i in range(36)) / 36
                self.assertAlmostEqual(y[b * 3 + c], ref, places=5)
        self.assertEqual(len(e.forward(rand_floats(4 * 40, 5))), 4 * 45)

    def test_forward_backward_against_reference(self):
        din, dout, batch = 5, 4, 3
        e = self.keep(lct.Encoder(self.rt, shape=(din,)))
        e.add_linear(dout).add_relu().add_l2norm()
        names = e.params.names()
        self.assertEqual(names, ["0.linear.weight", "0.linear.bias"])
        w, b = list(e.params.get(0)), list(e.params.get(1))
        x = rand_floats(batch * din, 1)
        y = e.forward(x)
        for got, want in zip(y, ref_mlp(list(x), w, b, batch, din, dout)):
            self.assertAlmostEqual(got, want, places=5)
        dy = rand_floats(batch * dout, 2)
        e.zero_grad()
        dx = e.backward(dy, dx=True)
        gw = e.params.grad(0)

        def objective(xs, ws):
            return sum(p * q for p, q in zip(ref_mlp(xs, ws, b, batch, din, dout), dy))
        h = 1e-4
        for i in (0, 7, 13):
            up, dn = list(x), list(x)
            up[i] += h
            dn[i] -= h
            self.assertAlmostEqual(dx[i], (objective(up, w) - objective(dn, w)) / (2 * h), places=3)
            up, dn = list(w), list(w)
            up[i] += h
            dn[i] -= h
            self.assertAlmostEqual(gw[i], (objective(list(x), up) - objective(list(x), dn)) / (2 * h), places=3)
        self.assertIsNone(e.backward(dy))  # accumulates again
        for g1, g2 in zip(gw, e.params.grad(0)):
            self.assertAlmostEqual(g2, 2 * g1, places=5)

    def test_modes_and_step(self):
        e = self.keep(lct.Encoder(self.rt, spec="in 4; dropout 0.5"))
        self.assertEqual(e.mode, lct._encoder.TRAIN)
        x = array.array("f", [1.0] * 8)
        y = e.forward(x)
        self.assertTrue(all(v in (0.0, 2.0) for v in y))
        self.assertEqual(e.step, 1)
        e.eval()
        self.assertEqual(list(e.forward(x)), list(x))
        e.mode = "train"
        e.step = 0
        self.assertEqual(list(e.forward(x)), list(y))

    def test_precision(self):
        e = self.keep(lct.Encoder(self.rt, spec="in 40; linear 8"))
        self.assertEqual(e.precision, lct._encoder.FP32)
        x = array.array("f", [0.01 * i - 0.2 for i in range(40)])
        y32 = list(e.forward(x))
        try:
            e.precision = "bf16"
        except lct.UnsupportedError as err:  # a CPU without AMX-BF16 tiles
            self.assertIn("AMX", err.message)
            self.assertEqual(e.precision, lct._encoder.FP32)
            return
        self.assertEqual(e.precision, lct._encoder.BF16)
        y16 = list(e.forward(x))
        self.assertNotEqual(y16, y32)
        for a, b in zip(y16, y32):
            self.assertAlmostEqual(a, b, delta=0.02 * (1 + abs(b)))
        e.precision = lct._encoder.FP32
        self.assertEqual(list(e.forward(x)), y32)
        with self.assertRaises(lct.InvalidArgumentError):
            e.precision = 5

    def test_errors(self):
        with self.assertRaises(lct.FormatError) as cm:
            lct.Encoder(self.rt, spec="in 4; bogus 3")
        self.assertIn("bogus", cm.exception.message)
        with self.assertRaises(lct.InvalidArgumentError):
            lct.Encoder(self.rt, shape=(0, 3))
        with self.assertRaises(TypeError):
            lct.Encoder(self.rt)
        e = self.keep(lct.Encoder(self.rt, shape=(4,)))
        with self.assertRaises(lct.ShapeError):
            e.add_conv2d(3, 3)
        e.add_linear(2)
        with self.assertRaises(lct.StateError):
            e.backward(array.array("f", [0.0, 0.0]))
        with self.assertRaises(lct.NumericError):
            e.forward(array.array("f", [0.0, float("inf"), 0.0, 0.0]))
        with self.assertRaises(ValueError):
            e.forward(array.array("f", [0.0] * 5))
        e.forward(array.array("f", [0.0] * 4))
        with self.assertRaises(lct.StateError):
            e.add_relu()  # sealed by the first forward
        s = self.keep(lct.Encoder(self.rt, shape=(4,)))
        self.assertGreater(s.workspace_bytes(2), 0)  # getters leave it open
        self.assertEqual(len(s), 0)
        s.add_linear(3).seal().seal()
        with self.assertRaises(lct.StateError):
            s.add_relu()
        with self.assertRaises(lct.InvalidArgumentError):
            e.mode = 7
        with self.assertRaises(lct.InvalidArgumentError):
            e.workspace_bytes(0)
        unchecked = self.keep(lct.Encoder(self.rt, shape=(2,), check_finite=False))
        y = unchecked.forward(array.array("f", [float("nan"), 1.0]))
        self.assertTrue(math.isnan(y[0]))

    def test_params_outlive_nothing(self):
        e = lct.Encoder(self.rt, shape=(3,)).add_linear(2)
        p = e.params
        e.close()
        with self.assertRaises(lct.StateError):
            len(p)

    @unittest.skipIf(numpy is None, "NumPy is not installed for this interpreter")
    def test_numpy_in_numpy_out(self):
        e = self.keep(lct.Encoder(self.rt, spec="in 1x6x6; conv2d 2 k3; flatten"))
        x = numpy.random.default_rng(1).standard_normal((3, 1, 6, 6)).astype(numpy.float32)
        y = e.forward(x)
        self.assertEqual(y.shape, (3, 32))
        self.assertEqual(y.dtype, numpy.float32)
        dx = e.backward(numpy.ones_like(y), dx=True)
        self.assertEqual(dx.shape, (3, 1, 6, 6))
        w = e.params.get(0)
        # an interior pixel meets every weight of both kernels once: dL/dx = Σ w for dL/dy = 1
        self.assertAlmostEqual(float(dx[0, 0, 2, 2]), float(numpy.asarray(w).sum()), places=4)
        with self.assertRaises(TypeError):
            e.forward(x.astype(numpy.float64))


if __name__ == "__main__":
    unittest.main()
