"""Augmenter: seeded image and signal pipelines producing several views per sample."""
import ctypes

from . import _buffers
from ._core import Handle, counter_property
from ._errors import check
from ._lib import P, c_double, c_int, c_size_t, c_uint32, c_uint64, c_void_p, declare, lib

IMAGE_U8, IMAGE_F32, SIGNAL_F32 = 0, 1, 2
_INPUTS = {"u8": IMAGE_U8, "image_u8": IMAGE_U8, "f32": IMAGE_F32, "image_f32": IMAGE_F32,
           "signal": SIGNAL_F32, "signal_f32": SIGNAL_F32}
PRESETS = {"instdisc": 1, "invaspread": 2, "cmc": 3, "cpc": 4}


class AugmenterOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("input", ctypes.c_int32), ("channels", c_uint32), ("height", c_uint32),
                ("width", c_uint32), ("out_height", c_uint32), ("out_width", c_uint32)]


declare({
    "lct_augmenter_options_init": (c_int, [P(AugmenterOptions), c_uint32]),
    "lct_augmenter_new": (c_int, [P(c_void_p), c_void_p, P(AugmenterOptions)]),
    "lct_augmenter_free": (None, [c_void_p]),
    "lct_augmenter_sizes": (c_int, [c_void_p, P(c_size_t), P(c_size_t)]),
    "lct_augmenter_op_count": (c_int, [c_void_p]),
    "lct_augmenter_clear": (c_int, [c_void_p]),
    "lct_augmenter_preset": (c_int, [c_void_p, c_int]),
    "lct_augmenter_add_random_resized_crop": (c_int, [c_void_p, c_double, c_double, c_double, c_double, c_double]),
    "lct_augmenter_add_hflip": (c_int, [c_void_p, c_double]),
    "lct_augmenter_add_color_jitter": (c_int, [c_void_p, c_double, c_double, c_double, c_double, c_double]),
    "lct_augmenter_add_grayscale": (c_int, [c_void_p, c_double]),
    "lct_augmenter_add_gaussian_blur": (c_int, [c_void_p, c_double, c_double, c_double]),
    "lct_augmenter_add_gaussian_noise": (c_int, [c_void_p, c_double, c_double]),
    "lct_augmenter_add_normalize": (c_int, [c_void_p, c_void_p, c_void_p, c_size_t]),
    "lct_augmenter_add_window_crop": (c_int, [c_void_p, c_double]),
    "lct_augmenter_add_gain": (c_int, [c_void_p, c_double, c_double, c_double]),
    "lct_augmenter_add_time_mask": (c_int, [c_void_p, c_double, c_uint32]),
    "lct_augmenter_add_time_shift": (c_int, [c_void_p, c_double, c_uint32]),
    "lct_augmenter_apply": (c_int, [c_void_p, c_void_p, c_size_t, c_size_t, c_void_p]),
    "lct_augmenter_get_counter": (c_int, [c_void_p, P(c_uint64)]),
    "lct_augmenter_set_counter": (c_int, [c_void_p, c_uint64]),
})


class Augmenter(Handle):
    """A pipeline of transforms; apply() returns n_views augmented views of every sample.

    input: "u8" (uint8 C×H×W images), "f32" (float32 images in [0,1]) or "signal" (float32 C×T;
    pass height=1 and the length as width). out_height/out_width 0 keep the input size.
    The builder methods return the augmenter, so calls chain. See docs/augment.md.
    """

    _free = staticmethod(lib.lct_augmenter_free)

    def __init__(self, runtime, input="u8", channels=3, height=32, width=32, out_height=0, out_width=0):
        opts = AugmenterOptions()
        check(lib.lct_augmenter_options_init(ctypes.byref(opts), 1))
        opts.input = _INPUTS[input] if isinstance(input, str) else int(input)
        opts.channels, opts.height, opts.width = channels, height, width
        opts.out_height, opts.out_width = out_height, out_width
        ptr = ctypes.c_void_p()
        check(lib.lct_augmenter_new(ctypes.byref(ptr), runtime.ptr, ctypes.byref(opts)))
        super().__init__(ptr.value, borrows=(runtime,))
        self.input = opts.input
        self.channels = channels
        self.out_shape = ((channels, out_width or width) if self.input == SIGNAL_F32
                          else (channels, out_height or height, out_width or width))

    @property
    def sizes(self):
        """(elements of one input sample, floats of one output view)."""
        a, b = c_size_t(), c_size_t()
        check(lib.lct_augmenter_sizes(self.ptr, ctypes.byref(a), ctypes.byref(b)))
        return a.value, b.value

    def __len__(self):
        return check(lib.lct_augmenter_op_count(self.ptr))

    counter = counter_property("lct_augmenter_get_counter", "lct_augmenter_set_counter",
                               "Number of the next apply() call; save and restore it with checkpoints.")

    def clear(self):
        check(lib.lct_augmenter_clear(self.ptr))
        return self

    def preset(self, name):
        """Replace the pipeline by "instdisc", "invaspread", "cmc" (images) or "cpc" (signals)."""
        check(lib.lct_augmenter_preset(self.ptr, PRESETS[name.lower()] if isinstance(name, str) else int(name)))
        return self

    def add_random_resized_crop(self, p=1.0, scale=(0.2, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
        check(lib.lct_augmenter_add_random_resized_crop(self.ptr, p, scale[0], scale[1], ratio[0], ratio[1]))
        return self

    def add_hflip(self, p=0.5):
        check(lib.lct_augmenter_add_hflip(self.ptr, p))
        return self

    def add_color_jitter(self, p=1.0, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4):
        check(lib.lct_augmenter_add_color_jitter(self.ptr, p, brightness, contrast, saturation, hue))
        return self

    def add_grayscale(self, p=0.2):
        check(lib.lct_augmenter_add_grayscale(self.ptr, p))
        return self

    def add_gaussian_blur(self, p=0.5, sigma=(0.1, 2.0)):
        check(lib.lct_augmenter_add_gaussian_blur(self.ptr, p, sigma[0], sigma[1]))
        return self

    def add_gaussian_noise(self, p=1.0, std=0.01):
        check(lib.lct_augmenter_add_gaussian_noise(self.ptr, p, std))
        return self

    def add_normalize(self, mean, std):
        if len(mean) != len(std):
            raise ValueError("mean has %d values and std %d" % (len(mean), len(std)))
        m = (ctypes.c_float * len(mean))(*mean)
        s = (ctypes.c_float * len(std))(*std)
        check(lib.lct_augmenter_add_normalize(self.ptr, m, s, len(mean)))
        return self

    def add_window_crop(self, p=1.0):
        check(lib.lct_augmenter_add_window_crop(self.ptr, p))
        return self

    def add_gain(self, p=1.0, db=(-6.0, 6.0)):
        check(lib.lct_augmenter_add_gain(self.ptr, p, db[0], db[1]))
        return self

    def add_time_mask(self, p, max_width):
        check(lib.lct_augmenter_add_time_mask(self.ptr, p, max_width))
        return self

    def add_time_shift(self, p, max_shift):
        check(lib.lct_augmenter_add_time_shift(self.ptr, p, max_shift))
        return self

    def apply(self, samples, n_views=2, out=None):
        """Augment a batch; the batch size is the buffer's length over one sample's.

        samples: uint8 buffer for "u8" augmenters, float32 otherwise, holding whole samples.
        Returns batch × n_views × output-shape floats, sample-major (NumPy of shape
        (batch, n_views, *out_shape) when `samples` is a NumPy array, else array.array('f')).
        """
        in_count, out_count = self.sizes
        if self.input == IMAGE_U8:
            nbytes = memoryview(samples).nbytes
            if nbytes == 0 or nbytes % in_count:
                raise ValueError("samples hold %d bytes, not a whole number of %d-byte images" % (nbytes, in_count))
            batch = nbytes // in_count
            src = _buffers.bytes_u8(samples, "samples", batch * in_count)
        else:
            nbytes = memoryview(samples).nbytes
            if nbytes == 0 or nbytes % (4 * in_count):
                raise ValueError("samples hold %d bytes, not a whole number of %d-float samples" %
                                 (nbytes, in_count))
            batch = nbytes // (4 * in_count)
            src = _buffers.floats(samples, "samples", batch * in_count)
        total = batch * n_views * out_count
        if out is None:
            out = _buffers.new_floats(total, like=samples, shape=(batch, n_views) + self.out_shape)
        dst = _buffers.floats(out, "out", total, writable=True)
        check(lib.lct_augmenter_apply(self.ptr, src.address, batch, n_views, dst.address))
        return out
