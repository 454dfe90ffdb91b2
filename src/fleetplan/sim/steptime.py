"""Step times of a replica, tabulated once from the performance model.

`fleetplan.perf.schedule.mixed_step` (the roofline step of decodes plus prefill chunks, the
same function the analytic sizing uses) costs tens of microseconds a call; a simulated hour runs
millions of iterations. Its formula separates into

    total = X(tokens) + max(b·Ac(c) + p·Apc(pc), b·Am(c) + p·Mp)

where X (weights, GEMM efficiency, all-reduce and overhead) depends only on the tokens of the
step, tokens = b + p, and the attention parts are linear in the sequences and piecewise linear
in the context (a sliding window adds one kink, at the window; a prompt token's attention
FLOPs per context token, Apc, differ from a decode's for MLA, which prefills as plain MHA).
`StepTable` evaluates `mixed_step` once over every token count and at the context kinks, and
rebuilds the same total from those numbers exactly (tests/sim/test_steptime.py compares both).

For `k` decode iterations of `b` sequences whose mean context starts at `c0` and grows by one
a step, the time is `k·(X(b) + b·G(c0)) + b·g·k(k-1)/2` with G = max(Ac, Am) and g its slope:
the simulator advances such runs in closed form instead of one iteration at a time.
"""

from __future__ import annotations

import math

import numpy as np

from fleetplan.perf.dp_prefill import attention_linear_s_per_token, decode_pad
from fleetplan.perf.roofline import Setup
from fleetplan.perf.schedule import mixed_step
from fleetplan.perf.step_total import decode_only_s


class StepTable:
    """Exact, fast step times of one replica configuration (seconds)."""

    __slots__ = (
        "_decode_only_s",
        "_x",
        "ac_hi",
        "ac_lo",
        "am_hi",
        "am_lo",
        "apc_hi",
        "apc_lo",
        "apm_hi",
        "apm_lo",
        "dp",
        "dp_lin",
        "g_hi",
        "g_lo",
        "mp",
        "pad",
        "window",
    )

    def __init__(self, setup: Setup, max_tokens: int) -> None:
        tokens = np.arange(max_tokens + 1, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):  # the empty step (0 tokens)
            self._x: list[float] = mixed_step(setup, tokens, 0.0).total_s.tolist()
        # weights only a step that decodes streams (roofline.Setup.mla_decode_bytes_gpu): the
        # table's X holds them, a step of prompts alone takes them off
        self._decode_only_s = float(decode_only_s(setup))
        m = setup.model
        w = float(m.sliding_window) if m.sliding_window and m.sliding_window_layers else 0.0
        probe = w if w else 4096.0
        one = mixed_step(setup, 1.0, np.array([probe, 2 * probe]))
        self.window = w if w else math.inf
        self.ac_lo = float(one.attention_compute_s[0]) / probe
        self.am_lo = float(one.attention_memory_s[0]) / probe
        diff_c = float(one.attention_compute_s[1] - one.attention_compute_s[0]) / probe
        diff_m = float(one.attention_memory_s[1] - one.attention_memory_s[0]) / probe
        self.ac_hi = diff_c if w else self.ac_lo
        self.am_hi = diff_m if w else self.am_lo
        self.mp = float(mixed_step(setup, 0.0, 0.0, 1.0, 0.0).attention_memory_s)
        prompt = mixed_step(setup, 0.0, 0.0, 1.0, np.array([probe, 2 * probe]))
        pre = prompt.attention_compute_s
        self.apc_lo = float(pre[0]) / probe
        self.apc_hi = float(pre[1] - pre[0]) / probe if w else self.apc_lo
        # a kernel that reads a prompt's context again for each block of its queries
        # (roofline.Setup.prefill_kv_reread) adds memory time per prompt token and context token
        pre_m = np.broadcast_to(prompt.attention_memory_s, 2)
        self.apm_lo = (float(pre_m[0]) - self.mp) / probe
        self.apm_hi = float(pre_m[1] - pre_m[0]) / probe if w else self.apm_lo
        self.g_lo = max(self.ac_lo, self.am_lo)
        self.g_hi = max(self.ac_hi, self.am_hi)
        # a prompt token's attention projections on one GPU, spread over the tp GPUs
        # (sim/dp_ranks.py: data-parallel attention runs them on the prompt's rank only)
        self.dp = setup.attention_dp
        self.dp_lin = attention_linear_s_per_token(setup)
        self.pad = decode_pad(setup)  # decodes padded to the largest rank's batch
        self._verify(setup)

    def _verify(self, setup: Setup) -> None:
        """Raise if `mixed_step` no longer separates as this table assumes."""
        n = self.max_tokens
        b = np.minimum([1.0, 7, 64, 256, 3, 0, 20], n)
        c = np.array([100.0, 3000, 900, 12000, 50000, 0, 4500])
        p = np.minimum([0.0, 0, 300, 2000, 1, 512, 4000], n - b)
        p[b + p == 0] = 1
        pc = np.array([0.0, 0, 150, 7000, 20000, 256, 2500])
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = mixed_step(setup, b, c, p, pc).total_s
        ours = np.array([self.step_s(*x) for x in zip(b, c, p, pc, strict=True)])
        if not np.allclose(ours, ref, rtol=1e-9, atol=0.0):
            raise RuntimeError(
                "the simulator's step-time table no longer matches perf.schedule.mixed_step "
                f"({ours.tolist()} vs {ref.tolist()}): update fleetplan/sim/steptime.py"
            )

    @property
    def max_tokens(self) -> int:
        return len(self._x) - 1

    def _lin(self, c: float, lo: float, hi: float) -> float:
        w = self.window
        return lo * c if c <= w else lo * w + hi * (c - w)

    def step_s(self, b: float, c: float, p: float = 0.0, pc: float = 0.0) -> float:
        """One step of `b` decoding sequences at mean context `c` and `p` prefill tokens at
        mean context `pc` (as `mixed_step(...).total_s`)."""
        w = self.window
        if c <= w and pc <= w:  # below a sliding window's kink (always without one)
            comp = b * c * self.ac_lo + p * pc * self.apc_lo
            mem = b * c * self.am_lo + p * (self.mp + pc * self.apm_lo)
        else:
            ac_lo, ac_hi = self.ac_lo, self.ac_hi
            comp = b * self._lin(c, ac_lo, ac_hi) + p * self._lin(pc, self.apc_lo, self.apc_hi)
            mem = b * self._lin(c, self.am_lo, self.am_hi) + p * (
                self.mp + self._lin(pc, self.apm_lo, self.apm_hi)
            )
        x = self._x[int(b + p)]
        if b <= 0 < p:
            x -= self._decode_only_s
        return x + (comp if comp > mem else mem)

    def dp_prefill_extra_s(self, pr: float, pcr: float, p: float, pc: float) -> float:
        """Seconds a prefill step of `p` prompt tokens at mean context `pc` takes beyond
        `step_s` when data-parallel attention runs each prompt's attention on its own rank
        (sim/dp_ranks.py) and the busiest rank carries `pr` of them at mean context `pcr`:
        `step_s` spreads the attention projections and the attention evenly over the `dp`
        ranks, while the step waits for the busiest, which does `dp * pr / p` times its share."""
        dp = self.dp
        if dp <= 1 or pr <= 0:
            return 0.0
        lin = (dp * pr - p) * self.dp_lin
        lo, hi = self.apc_lo, self.apc_hi
        att = dp * pr * self._lin(pcr, lo, hi) - p * self._lin(pc, lo, hi)
        return max(lin + att, 0.0)

    def decode_run(self, b: int, c0: float) -> tuple[float, float, float]:
        """(first step time, added seconds per step per step, steps before the window kink)
        of a run of pure decode steps: step j takes first + slope·j."""
        w = self.window
        x = self._x[min(-(-b // self.pad) * self.pad, self.max_tokens)]  # (dp_prefill.decode_pad)
        if c0 <= w:
            first = x + b * self.g_lo * c0
            slope = b * self.g_lo
            kink = math.floor(w - c0) + 1 if w != math.inf else 1 << 60
        else:
            first = x + b * (self.g_lo * w + self.g_hi * (c0 - w))
            slope = b * self.g_hi
            kink = 1 << 60
        return first, slope, kink


def run_time_s(first: float, slope: float, k: int) -> float:
    """Seconds of k steps whose times are first, first + slope, first + 2·slope, ..."""
    return k * first + slope * k * (k - 1) * 0.5


def steps_to_reach(first: float, slope: float, dt: float) -> int:
    """Smallest k >= 1 whose run time reaches `dt` seconds (the step in flight at dt ends)."""
    if dt <= first:
        return 1
    if slope > 0:
        a = slope * 0.5
        bb = first - a
        k = math.ceil((-bb + math.sqrt(bb * bb + 4 * a * dt)) / (2 * a))
    else:
        k = math.ceil(dt / first)
    k = max(k, 1)
    while run_time_s(first, slope, k) < dt:
        k += 1
    while k > 1 and run_time_s(first, slope, k - 1) >= dt:
        k -= 1
    return k
