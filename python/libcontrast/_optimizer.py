"""Optimizer: SGD (momentum, Nesterov), Adam, AdamW and learning-rate schedules."""
import ctypes

from ._core import Handle, Params, counter_property, enum_value as _enum
from ._errors import check, check_out
from ._lib import P, c_double, c_int, c_size_t, c_uint32, c_uint64, c_void_p, declare, lib

KINDS = {"sgd": 0, "adam": 1, "adamw": 2}
SCHEDULES = {"constant": 0, "step": 1, "cosine": 2}
(LR, MOMENTUM, WEIGHT_DECAY, BETA1, BETA2, EPS, MIN_LR, GAMMA, WARMUP_STEPS, TOTAL_STEPS,
 SCHEDULE) = range(11)
PARAMS = {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "beta1": BETA1, "beta2": BETA2,
          "eps": EPS, "min_lr": MIN_LR, "gamma": GAMMA, "warmup_steps": WARMUP_STEPS,
          "total_steps": TOTAL_STEPS, "schedule": SCHEDULE}


class OptimizerOptions(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("kind", ctypes.c_int32), ("lr", c_double), ("momentum", c_double),
                ("dampening", c_double), ("nesterov", ctypes.c_int32), ("weight_decay", c_double),
                ("decay_all", ctypes.c_int32), ("beta1", c_double), ("beta2", c_double), ("eps", c_double),
                ("schedule", ctypes.c_int32), ("warmup_steps", c_uint64), ("total_steps", c_uint64),
                ("min_lr", c_double), ("gamma", c_double), ("milestones", P(c_uint64)), ("n_milestones", c_size_t)]


declare({
    "lct_optimizer_options_init": (c_int, [P(OptimizerOptions), c_uint32]),
    "lct_optimizer_new": (c_int, [P(c_void_p), c_void_p, P(OptimizerOptions)]),
    "lct_optimizer_free": (None, [c_void_p]),
    "lct_optimizer_attach": (c_int, [c_void_p, c_void_p]),
    "lct_optimizer_step": (c_int, [c_void_p]),
    "lct_optimizer_zero_grad": (c_int, [c_void_p]),
    "lct_optimizer_lr": (c_int, [c_void_p, P(c_double)]),
    "lct_optimizer_step_count": (c_int, [c_void_p, P(c_uint64)]),
    "lct_optimizer_set_step_count": (c_int, [c_void_p, c_uint64]),
    "lct_optimizer_set_param": (c_int, [c_void_p, c_int, c_double]),
    "lct_optimizer_get_param": (c_int, [c_void_p, c_int, P(c_double)]),
    "lct_optimizer_param_bounds": (c_int, [c_int, P(c_double), P(c_double)]),
    "lct_optimizer_set_milestones": (c_int, [c_void_p, P(c_uint64), c_size_t]),
    "lct_optimizer_state": (c_void_p, [c_void_p]),
    "lct_optimizer_set_comm": (c_int, [c_void_p, c_void_p]),
})


def _param(p):
    return _enum(PARAMS, p, "param")


def param_bounds(param):
    """(lower, upper) of a tunable scalar (a name such as "lr" or a number)."""
    lo, hi = c_double(), c_double()
    check(lib.lct_optimizer_param_bounds(_param(param), ctypes.byref(lo), ctypes.byref(hi)))
    return lo.value, hi.value


class Optimizer(Handle):
    """Updates the trainable tensors of attached parameter sets (encoders, losses) from their gradients.

    Optimizer(rt, "sgd", lr=0.03, momentum=0.9, weight_decay=5e-4, schedule="cosine", total_steps=...).
    Keyword arguments are the fields of lct_optimizer_options (docs/optimizer.md); `milestones` is a
    sequence of steps. attach() keeps the set's owner alive as long as the optimizer.
    """

    _free = staticmethod(lib.lct_optimizer_free)

    def __init__(self, runtime, kind="sgd", lr=None, momentum=None, dampening=None, nesterov=None,
                 weight_decay=None, decay_all=None, beta1=None, beta2=None, eps=None, schedule=None,
                 warmup_steps=None, total_steps=None, min_lr=None, gamma=None, milestones=None, params=()):
        o = OptimizerOptions()
        check(lib.lct_optimizer_options_init(ctypes.byref(o), 1))
        o.kind = _enum(KINDS, kind, "kind")
        if schedule is not None:
            o.schedule = _enum(SCHEDULES, schedule, "schedule")
        for name, value in (("lr", lr), ("momentum", momentum), ("dampening", dampening), ("nesterov", nesterov),
                            ("weight_decay", weight_decay), ("decay_all", decay_all), ("beta1", beta1),
                            ("beta2", beta2), ("eps", eps), ("warmup_steps", warmup_steps),
                            ("total_steps", total_steps), ("min_lr", min_lr), ("gamma", gamma)):
            if value is not None:
                setattr(o, name, int(value) if isinstance(value, bool) else value)
        keep = None
        if milestones is not None:
            keep = (c_uint64 * max(1, len(milestones)))(*milestones)
            o.milestones = ctypes.cast(keep, P(c_uint64))
            o.n_milestones = len(milestones)
        ptr = c_void_p()
        check(lib.lct_optimizer_new(ctypes.byref(ptr), runtime.ptr, ctypes.byref(o)))
        super().__init__(ptr.value, borrows=(runtime,))
        for p in params:
            self.attach(p)

    def attach(self, params):
        """Attach a parameter set (enc.params, loss.params) or a handle that has one."""
        if not isinstance(params, Params):
            params = params.params
        check(lib.lct_optimizer_attach(self.ptr, params._p))
        self._borrow(params._owner)
        return self

    def set_comm(self, comm):
        """Average the gradients over the ranks of `comm` before each step (None: stop)."""
        check(lib.lct_optimizer_set_comm(self.ptr, comm.ptr if comm is not None else None))
        if comm is not None:
            self._borrow(comm)
        return self

    def step(self):
        check(lib.lct_optimizer_step(self.ptr))

    def zero_grad(self):
        check(lib.lct_optimizer_zero_grad(self.ptr))

    @property
    def lr(self):
        """Learning rate the next step will use (schedule applied)."""
        return check_out(lib.lct_optimizer_lr, c_double, self.ptr)

    step_count = counter_property("lct_optimizer_step_count", "lct_optimizer_set_step_count",
                                  "Steps taken so far (the schedule's position).")

    def set_param(self, param, value):
        check(lib.lct_optimizer_set_param(self.ptr, _param(param), value))

    def get_param(self, param):
        v = c_double()
        check(lib.lct_optimizer_get_param(self.ptr, _param(param), ctypes.byref(v)))
        return v.value

    param_bounds = staticmethod(param_bounds)

    def set_milestones(self, milestones):
        arr = (c_uint64 * max(1, len(milestones)))(*milestones)
        check(lib.lct_optimizer_set_milestones(self.ptr, arr, len(milestones)))

    @property
    def state(self):
        """Momentum buffers / Adam moments as a parameter set of state tensors."""
        return Params(lib.lct_optimizer_state(self.ptr), self)
