"""The optimizer through ctypes: update rules against plain-Python references, schedules, state, errors."""
import array
import math
import unittest

import libcontrast as lct
from helpers import HandleTest


class TestOptimizer(HandleTest):
    RUNTIME = dict(seed=2)

    def setUp(self):
        super().setUp()
        self.enc = self.keep(lct.Encoder(self.rt, shape=(3,)).add_linear(2))

    def grads(self):
        self.enc.zero_grad()
        self.enc.forward(array.array("f", [0.5, -1.0, 2.0]))
        self.enc.backward(array.array("f", [1.0, -0.5]))
        return [list(self.enc.params.grad(i)) for i in range(2)]

    def test_sgd_momentum_weight_decay(self):
        lr, mom, wd = 0.1, 0.9, 0.01
        opt = self.keep(lct.Optimizer(self.rt, "sgd", lr=lr, momentum=mom, weight_decay=wd, params=[self.enc]))
        w = [list(self.enc.params.get(i)) for i in range(2)]
        buf = [[0.0] * len(t) for t in w]
        for step in range(3):
            g = self.grads()
            opt.step()
            for t in range(2):
                for i in range(len(w[t])):
                    d = g[t][i] + wd * w[t][i]
                    buf[t][i] = d if step == 0 else mom * buf[t][i] + d
                    w[t][i] -= lr * buf[t][i]
                for got, want in zip(self.enc.params.get(t), w[t]):
                    self.assertAlmostEqual(got, want, places=5)
        self.assertEqual(opt.step_count, 3)
        self.assertEqual(opt.state.names()[0], "0.0.linear.weight.momentum")
        for got, want in zip(opt.state.get(0), buf[0]):
            self.assertAlmostEqual(got, want, places=5)

    def test_adam(self):
        lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
        opt = self.keep(lct.Optimizer(self.rt, "adam", lr=lr))
        opt.attach(self.enc.params)
        w = list(self.enc.params.get(0))
        m, v = [0.0] * len(w), [0.0] * len(w)
        for t in range(1, 3):
            g = self.grads()[0]
            opt.step()
            for i in range(len(w)):
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
                w[i] -= lr * (m[i] / (1 - b1 ** t)) / (math.sqrt(v[i] / (1 - b2 ** t)) + eps)
        for got, want in zip(self.enc.params.get(0), w):
            self.assertAlmostEqual(got, want, places=5)

    def test_schedules_and_params(self):
        opt = self.keep(lct.Optimizer(self.rt, "sgd", lr=0.1, schedule="cosine", total_steps=10, min_lr=0.0,
                                      params=[self.enc]))
        for s in range(4):
            self.assertAlmostEqual(opt.lr, 0.05 * (1 + math.cos(math.pi * s / 10)), places=9)
            self.grads()
            opt.step()
        opt.step_count = 0
        self.assertAlmostEqual(opt.lr, 0.1)
        opt.set_param("schedule", 1)
        opt.set_milestones([1, 3])
        opt.set_param("gamma", 0.5)
        self.assertEqual(opt.get_param("gamma"), 0.5)
        opt.step_count = 3
        self.assertAlmostEqual(opt.lr, 0.025)
        opt.set_param(lct._optimizer.LR, 1.0)
        self.assertAlmostEqual(opt.lr, 0.25)
        self.assertEqual(lct.Optimizer.param_bounds("momentum")[0], 0.0)
        step = self.keep(lct.Optimizer(self.rt, "sgd", lr=1.0, schedule="step", milestones=[2], gamma=0.1,
                                       warmup_steps=0))
        step.step_count = 2
        self.assertAlmostEqual(step.lr, 0.1)

    def test_errors(self):
        with self.assertRaises(lct.InvalidArgumentError) as cm:
            lct.Optimizer(self.rt, "sgd", lr=-1.0)
        self.assertIn("lr", cm.exception.message)
        with self.assertRaises(ValueError):
            lct.Optimizer(self.rt, "rmsprop")
        opt = self.keep(lct.Optimizer(self.rt))
        with self.assertRaises(lct.StateError):
            opt.step()  # nothing attached
        opt.attach(self.enc)
        with self.assertRaises(lct.InvalidArgumentError):
            opt.attach(self.enc)  # twice
        with self.assertRaises(lct.RangeError):
            opt.set_param("momentum", 1.5)
        with self.assertRaises(lct.InvalidArgumentError):
            opt.set_param(99, 1.0)
        with self.assertRaises(lct.InvalidArgumentError):
            opt.set_milestones([3, 2])
        with lct.Runtime() as other:
            o2 = lct.Optimizer(other)
            with self.assertRaises(lct.MismatchError):
                o2.attach(self.enc)
            o2.close()

    def test_optimizer_keeps_attached_owner_alive(self):
        opt = lct.Optimizer(self.rt, params=[self.enc])
        with self.assertRaises(lct.StateError):
            self.enc.close()  # still attached
        enc2 = lct.Encoder(self.rt, shape=(2,)).add_linear(1)
        opt2 = lct.Optimizer(self.rt, params=[enc2.params])
        del enc2  # the optimizer holds the encoder: the step still works
        opt2.step()
        opt2.close()
        opt.close()


if __name__ == "__main__":
    unittest.main()
