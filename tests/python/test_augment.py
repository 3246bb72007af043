"""The augmenter through ctypes: shapes, layout, determinism, errors, lifetimes."""
import array
import unittest

import libcontrast as lct

from helpers import HandleTest, numpy


def ramp_images(batch, c, h, w):
    return bytes((b * 7 + i) % 256 for b in range(batch) for i in range(c * h * w))


class TestAugmenter(HandleTest):
    RUNTIME = dict(threads=2, seed=3)

    def aug(self, **kw):
        return self.keep(lct.Augmenter(self.rt, **kw))

    def test_identity_layout_is_sample_major(self):
        a = self.aug(input="u8", channels=1, height=4, width=5)
        self.assertEqual(a.sizes, (20, 20))
        x = ramp_images(3, 1, 4, 5)
        y = a.apply(x, n_views=2)
        self.assertIsInstance(y, array.array)
        self.assertEqual(len(y), 3 * 2 * 20)
        for b in range(3):
            for v in range(2):
                for i in range(20):
                    self.assertAlmostEqual(y[(b * 2 + v) * 20 + i], x[b * 20 + i] / 255.0, places=6)

    def test_preset_chain_and_counter(self):
        a = self.aug(input="u8", channels=3, height=32, width=32, out_height=28, out_width=28)
        a.preset("instdisc").add_normalize([0.5] * 3, [0.25] * 3)
        self.assertEqual(len(a), 5)
        x = ramp_images(4, 3, 32, 32)
        y1 = a.apply(x)
        self.assertEqual(a.counter, 1)
        y2 = a.apply(x)
        self.assertNotEqual(list(y1), list(y2))
        a.counter = 0
        self.assertEqual(list(a.apply(x)), list(y1))
        lo, hi = min(y1), max(y1)
        self.assertGreaterEqual(lo, (0 - 0.5) / 0.25 - 1e-5)
        self.assertLessEqual(hi, (1 - 0.5) / 0.25 + 1e-5)

    def test_signals(self):
        a = self.aug(input="signal", channels=2, height=1, width=100, out_width=40)
        a.preset("cpc").add_gain(1.0, (0.0, 0.0)).add_time_shift(0.0, 3)
        x = array.array("f", range(2 * 100 * 2))
        y = a.apply(x, n_views=1)
        self.assertEqual(len(y), 2 * 1 * 2 * 40)
        start = int(y[0])
        self.assertEqual(list(y[:40]), [float(start + t) for t in range(40)])

    def test_image_transforms_against_formulas(self):
        a = self.aug(input="u8", channels=3, height=4, width=4)
        a.add_grayscale(1.0)
        x = ramp_images(2, 3, 4, 4)
        y = a.apply(x, n_views=1)
        for b in range(2):
            for i in range(16):
                r, g, bl = (x[b * 48 + c * 16 + i] / 255.0 for c in range(3))
                for c in range(3):
                    self.assertAlmostEqual(y[b * 48 + c * 16 + i], 0.299 * r + 0.587 * g + 0.114 * bl, places=5)
        a.clear()
        self.assertEqual(len(a), 0)
        a.add_color_jitter(1.0, 0.5, 0.0, 0.0, 0.0)  # brightness only: every pixel times one factor
        y = a.apply(x, n_views=1)
        ratios = [y[i] / (x[i] / 255.0) for i in range(48) if x[i] > 0 and y[i] < 1.0]
        self.assertTrue(0.5 <= ratios[0] <= 1.5)
        for r in ratios:
            self.assertAlmostEqual(r, ratios[0], places=4)
        a.clear().add_gaussian_blur(1.0, (0.5, 1.5))
        flat = bytes([100]) * 48
        for v in a.apply(flat, n_views=2):
            self.assertAlmostEqual(v, 100 / 255.0, places=5)  # a normalised kernel keeps a constant image

    def test_signal_crop_and_mask(self):
        a = self.aug(input="signal", channels=1, height=1, width=50, out_width=20)
        a.add_window_crop(1.0).add_time_mask(1.0, 5)
        x = array.array("f", [float(t + 1) for t in range(50)])
        for _ in range(5):
            y = a.apply(x, n_views=1)
            zeros = [i for i, v in enumerate(y) if v == 0.0]
            self.assertLessEqual(len(zeros), 5)
            if zeros:
                self.assertEqual(zeros, list(range(zeros[0], zeros[0] + len(zeros))))
            first = next(t for t in range(20) if y[t] != 0.0)
            start = int(y[first]) - 1 - first  # the window's offset in x
            self.assertTrue(0 <= start <= 30)
            for t in range(20):
                if t not in zeros:
                    self.assertEqual(y[t], x[start + t])
        with self.assertRaises(lct.RangeError):
            self.aug(input="signal", channels=1, height=1, width=50, out_width=20).add_window_crop(1.0) \
                .add_time_mask(1.0, 21)

    def test_errors(self):
        with self.assertRaises(lct.InvalidArgumentError) as cm:
            lct.Augmenter(self.rt, input="u8", channels=2)
        self.assertIn("channels is 2", cm.exception.message)
        a = self.aug(input="f32", channels=1, height=8, width=8)
        with self.assertRaises(lct.RangeError) as cm:
            a.add_hflip(1.5)
        self.assertIn("p is 1.5", cm.exception.message)
        with self.assertRaises(lct.InvalidArgumentError):
            a.add_gain(1.0)
        with self.assertRaises(lct.InvalidArgumentError):
            a.preset("cpc")
        a.add_hflip(0.5)
        with self.assertRaises(lct.StateError):
            a.add_random_resized_crop()
        with self.assertRaises(lct.NumericError):
            a.apply(array.array("f", [float("nan")] * 64))
        with self.assertRaises(ValueError):
            a.apply(array.array("f", [0.5] * 63))
        with self.assertRaises(lct.ShapeError):
            a.add_normalize([0.5, 0.5], [1.0, 1.0])

    def test_runtime_outlives_augmenter(self):
        a = self.aug()
        with self.assertRaises(lct.StateError):
            self.rt.close()
        a.close()
        self.assertEqual(self.rt.memory[0], 0)

    @unittest.skipIf(numpy is None, "NumPy is not installed for this interpreter")
    def test_numpy_shapes_and_threads(self):
        x = numpy.random.default_rng(0).integers(0, 256, size=(16, 3, 40, 40), dtype=numpy.uint8)
        outs = []
        for threads in (1, 2):
            with lct.Runtime(threads=threads, seed=11) as rt:
                with lct.Augmenter(rt, input="u8", channels=3, height=40, width=40, out_height=32,
                                   out_width=32) as a:
                    a.preset("invaspread")
                    outs.append(a.apply(x, n_views=2))
        self.assertEqual(outs[0].shape, (16, 2, 3, 32, 32))
        self.assertEqual(outs[0].dtype, numpy.float32)
        numpy.testing.assert_array_equal(outs[0], outs[1])
        self.assertTrue(((outs[0] >= 0) & (outs[0] <= 1)).all())


if __name__ == "__main__":
    unittest.main()
