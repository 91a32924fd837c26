"""Benchmark one synchronous aSTDP step: neurosim against idiomatic PyTorch on the CPU.

What it measures, on the aSTDP paper's MNIST layout (784 input + 10 output = 794 visible neurons,
512 hidden; visible <-> hidden both ways, hidden all-to-all without self-loops, no visible-visible
edges: 1,074,688 synapses), float32, two state copies (small beta 0.25 / eps 0.5, large beta 0.4 /
eps 0.4), sigmoid4 rates, fake targets on the hidden neurons (k 50, t_c 0.25, mu 0.9), alpha 1e-4
and the weight change averaged over the batch:

(a) PyTorch baseline: the code a user would write, a dense (N, N) weight tensor with a 0/1 mask
    for the missing synapses, in-place ops under ``torch.inference_mode()``, both copies stacked
    into one (2B, N) matmul. Steps per second, median of ``--repeats`` after ``--warmup`` steps.
(b) Matmul rate of this machine: float32 NumPy and PyTorch matmuls at the shapes of the useful work
    (the three weight blocks in the forward products of both copies and in the weight update), in
    GFLOP/s. The useful work of one step is 2 * (2 copies + 1 update) * B * 1,074,688 FLOPs; the
    "fraction of matmul rate" is useful FLOPs per step * steps/s / the matmul rate (the faster
    library per shape).
(c) neurosim: the package's ``SyncSimulator`` (skip with ``--skip-neurosim``), timed through
    ``sim.run(steps)`` after one warm-up call (which also compiles), taking turns with (a).

It prints the thread settings, the BLAS libraries (threadpoolctl) and one table with the ratio
neurosim / PyTorch against the targets (B = 1: >= 8, B = 128: >= 1.75), PASS or FAIL per target.

Run from the repository root (the default run takes about a minute on a 2-core machine):

    python tools/bench_sync.py
    python tools/bench_sync.py --skip-neurosim --batch-sizes 1,32,128 --threads 2

PyTorch is needed for the baseline (``pip install torch``); without it the script exits with
status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

# The papers' MNIST layout. Neuron order (assumed to match neurosim's `recurrent`): input, output,
# hidden.
N_INPUT = 784
N_OUTPUT = 10
N_HIDDEN = 512
N_VISIBLE = N_INPUT + N_OUTPUT
N_NEURONS = N_VISIBLE + N_HIDDEN
N_SYNAPSES = 2 * N_VISIBLE * N_HIDDEN + N_HIDDEN * (N_HIDDEN - 1)
N_COPIES = 2
STEPS_PER_SAMPLE = 160

# The working tree's package is benchmarked, installed or not (`python tools/bench_sync.py`).
REPO_ROOT = Path(__file__).resolve().parents[1]

# Minimum speed-up of neurosim over the PyTorch baseline, per batch size.
TARGET_RATIOS: dict[int, float] = {1: 8.0, 128: 1.75}


@dataclass(frozen=True)
class ASTDPConfig:
    """The aSTDP parameters of the paper's MNIST run."""

    alpha: float = 1e-4
    beta_small: float = 0.25
    beta_large: float = 0.4
    eps_small: float = 0.5
    eps_large: float = 0.4
    k: float = 50.0
    t_c: float = 0.25
    mu: float = 0.9


@dataclass
class Result:
    """The measurements at one batch size (None where not measured)."""

    batch: int
    torch_steps: float
    numpy_matmul: MatmulTimes
    torch_matmul: MatmulTimes
    neurosim_steps: float | None = None

    @property
    def matmul_gflops(self) -> float:
        """The machine's matmul rate at these shapes: the faster library per shape."""
        return self.numpy_matmul.best(self.torch_matmul).gflops()

    @property
    def useful_flops(self) -> float:
        """Useful FLOPs per step: two forward products and one update product per synapse."""
        return 2.0 * (N_COPIES + 1) * self.batch * N_SYNAPSES

    def fraction(self, steps_per_s: float) -> float:
        return self.useful_flops * steps_per_s / (self.matmul_gflops * 1e9)

    @property
    def ratio(self) -> float | None:
        if self.neurosim_steps is None:
            return None
        return self.neurosim_steps / self.torch_steps


# ----------------------------------------------------------------------------- shared set-up


def connectivity_mask() -> np.ndarray:
    """0/1 float32 mask (N, N); mask[j, i] = 1 where the synapse j -> i exists."""
    mask = np.zeros((N_NEURONS, N_NEURONS), dtype=np.float32)
    vis, hid = slice(0, N_VISIBLE), slice(N_VISIBLE, N_NEURONS)
    mask[vis, hid] = 1.0
    mask[hid, vis] = 1.0
    mask[hid, hid] = 1.0
    np.fill_diagonal(mask, 0.0)
    assert int(mask.sum()) == N_SYNAPSES
    return mask


def visible_targets(batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random 0/1 targets on the visible neurons; clamp 1 there and 0 on hidden neurons."""
    rng = np.random.default_rng(seed)
    target = np.zeros((batch, N_NEURONS), dtype=np.float32)
    target[:, :N_VISIBLE] = rng.integers(0, 2, size=(batch, N_VISIBLE))
    clamp = np.zeros((batch, N_NEURONS), dtype=np.float32)
    clamp[:, :N_VISIBLE] = 1.0
    return target, clamp


def time_steps(
    runs: list[Callable[[int], object]], steps: int, repeats: int, warmup: int
) -> list[float]:
    """Median steps/s of each runner's `repeats` calls run(steps), after a warm-up call.

    The runners take turns, so that a slow spell of a shared machine hits all of them alike.
    """
    for run in runs:
        run(max(warmup, 1))
    rates: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, measured in zip(runs, rates, strict=True):
            start = time.perf_counter()
            run(steps)
            measured.append(steps / (time.perf_counter() - start))
    return [statistics.median(measured) for measured in rates]


# ----------------------------------------------------------------------------- (a) PyTorch


class TorchASTDP:
    """Idiomatic PyTorch aSTDP with a dense masked weight matrix.

    The state of both copies is one (2, B, N) tensor (copy 0: small beta, copy 1: large beta), so
    the network drive of both copies is a single (2B, N) @ (N, N) product.
    """

    def __init__(self, batch: int, cfg: ASTDPConfig, seed: int = 0) -> None:
        import torch

        self.batch = batch
        self.cfg = cfg
        self.gen = torch.Generator().manual_seed(seed)
        self.mask = torch.from_numpy(connectivity_mask())
        bound = (6.0 / (N_VISIBLE + N_HIDDEN)) ** 0.5  # Xavier-uniform, asymmetric
        self.W = (torch.rand(N_NEURONS, N_NEURONS, generator=self.gen) * 2 - 1) * bound * self.mask
        self.b = torch.zeros(N_NEURONS)
        self.s = torch.zeros(N_COPIES, batch, N_NEURONS)
        self.beta = torch.tensor([cfg.beta_small, cfg.beta_large]).view(N_COPIES, 1, 1)
        self.eps = torch.tensor([cfg.eps_small, cfg.eps_large]).view(N_COPIES, 1, 1)
        target, clamp = visible_targets(batch)
        self.target = torch.from_numpy(target)  # hidden columns are rewritten by the fake targets
        self.clamp = torch.from_numpy(clamp)  # the copies' beta is multiplied by this
        self.dz = torch.zeros(batch, N_NEURONS)
        self.dz_mean = torch.zeros(batch, N_HIDDEN)

    def step(self) -> None:
        import torch

        cfg, B, hid = self.cfg, self.batch, slice(N_VISIBLE, N_NEURONS)

        # 1. fake targets for the hidden neurons from the previous dz
        dz_hid = self.dz[:, hid]
        abs_dz = dz_hid.abs()
        self.dz_mean.mul_(cfg.mu).add_(abs_dz, alpha=1.0 - cfg.mu)
        u = torch.rand(B, N_HIDDEN, generator=self.gen)
        active = u.mul_(cfg.k).mul_(self.dz_mean) < abs_dz
        self.target[:, hid] = torch.sign(dz_hid).mul_(cfg.t_c)
        self.clamp[:, hid] = active

        # 2. both copies integrate from the current W and b
        rate = torch.sigmoid(4.0 * self.s)
        drive = (rate.view(N_COPIES * B, N_NEURONS) @ self.W).view_as(self.s).add_(self.b)
        force = rate.mul_(1.0 - rate).mul_(4.0).mul_(drive).sub_(self.s)
        force.add_(self.beta * self.clamp * (self.target - self.s))
        self.s.add_(force.mul_(self.eps))

        # 3. dz from the new states
        rate = torch.sigmoid(4.0 * self.s)
        torch.sub(rate[1], rate[0], out=self.dz)

        # 4. weight and bias change, batch mean, existing synapses only
        update = (rate[0].T @ self.dz).mul_(self.mask)
        self.W.add_(update, alpha=cfg.alpha / B)
        self.b.add_(self.dz.mean(dim=0), alpha=cfg.alpha)


def torch_runner(batch: int) -> Callable[[int], None]:
    """run(n): n steps of the PyTorch baseline."""
    import torch

    model = TorchASTDP(batch, ASTDPConfig())

    def run(n: int) -> None:
        with torch.inference_mode():
            for _ in range(n):
                model.step()

    return run


# ----------------------------------------------------------------------------- (b) matmul rate


def matmul_shapes(batch: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of the products of one step, per weight block: forward for both copies, update."""
    rows = N_COPIES * batch
    forward = [(rows, N_VISIBLE, N_HIDDEN), (rows, N_HIDDEN, N_HIDDEN), (rows, N_HIDDEN, N_VISIBLE)]
    update = [
        (N_VISIBLE, batch, N_HIDDEN),
        (N_HIDDEN, batch, N_HIDDEN),
        (N_HIDDEN, batch, N_VISIBLE),
    ]
    return forward + update


def time_call(call: Callable[[], object], repeats: int, min_time: float = 0.05) -> float:
    """Median seconds per call over `repeats` rounds of at least `min_time` seconds each."""
    call()
    n = 1
    while True:  # calibrate the calls per round
        start = time.perf_counter()
        for _ in range(n):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
        n *= 2
    per_call = [elapsed / n]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(n):
            call()
        per_call.append((time.perf_counter() - start) / n)
    return statistics.median(per_call)


@dataclass(frozen=True)
class MatmulTimes:
    """Seconds per call of each product in `matmul_shapes(batch)` (first three: forward)."""

    batch: int
    seconds: tuple[float, ...]

    def gflops(self, part: slice = slice(None)) -> float:
        """GFLOP/s over a part of the shapes: total FLOPs / total time."""
        flops = sum(2.0 * m * k * n for m, k, n in matmul_shapes(self.batch)[part])
        return flops / sum(self.seconds[part]) / 1e9

    def best(self, other: MatmulTimes) -> MatmulTimes:
        """The faster library per shape."""
        return MatmulTimes(self.batch, tuple(map(min, self.seconds, other.seconds)))


FORWARD, UPDATE = slice(0, 3), slice(3, 6)


def numpy_matmul_times(batch: int, repeats: int) -> MatmulTimes:
    """Float32 `np.matmul(a, b, out=out)` at the shapes of one step."""
    rng = np.random.default_rng(0)
    seconds = []
    for m, k, n in matmul_shapes(batch):
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        seconds.append(time_call(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats))
    return MatmulTimes(batch, tuple(seconds))


def torch_matmul_times(batch: int, repeats: int) -> MatmulTimes:
    """Float32 `torch.mm(a, b, out=out)` at the shapes of one step."""
    import torch

    gen = torch.Generator().manual_seed(0)
    seconds = []
    with torch.inference_mode():
        for m, k, n in matmul_shapes(batch):
            a = torch.rand(m, k, generator=gen)
            b = torch.rand(k, n, generator=gen)
            out = torch.empty(m, n)
            seconds.append(time_call(lambda a=a, b=b, out=out: torch.mm(a, b, out=out), repeats))
    return MatmulTimes(batch, tuple(seconds))


# ----------------------------------------------------------------------------- (c) neurosim


def neurosim_runner(batch: int, threads: int) -> Callable[[int], object]:
    """run(n): n steps of neurosim's synchronous backend."""
    if sys.path[0] != str(REPO_ROOT):
        sys.path.insert(0, str(REPO_ROOT))
    from neurosim.backends.sync import SyncSimulator
    from neurosim.model.network import compile_graph
    from neurosim.model.parameters import FakeTargetParameters, ModelParameters
    from neurosim.model.topology import recurrent

    cfg = ASTDPConfig()
    params = ModelParameters(
        rule="astdp",
        alpha=cfg.alpha,
        beta_small=cfg.beta_small,
        beta_large=cfg.beta_large,
        eps_small=cfg.eps_small,
        eps_large=cfg.eps_large,
        fake_target=FakeTargetParameters(enabled=True, k=cfg.k, magnitude=cfg.t_c, mu=cfg.mu),
        dtype="float32",
    )
    network = compile_graph(recurrent(N_INPUT, N_OUTPUT, N_HIDDEN), params, seed=0)
    sim = SyncSimulator(network, params, batch_size=batch, seed=0, threads=threads)
    target, clamp = visible_targets(batch)
    sim.set_input(target, clamp)
    return sim.run


# ----------------------------------------------------------------------------- report


def print_environment(threads: int) -> None:
    import torch

    print(f"threads: {threads} (torch.set_num_threads, threadpoolctl.threadpool_limits)")
    print(
        f"numpy {np.__version__}, torch {torch.__version__} (intra-op threads: "
        f"{torch.get_num_threads()})"
    )
    print("threadpoolctl.threadpool_info():")
    for lib in threadpool_info():
        print(
            f"  {lib.get('user_api')}/{lib.get('internal_api')} {lib.get('version')}"
            f" threads={lib.get('num_threads')} arch={lib.get('architecture', '-')}"
            f" layer={lib.get('threading_layer', '-')} {lib.get('filepath')}"
        )
    print(
        f"model: {N_VISIBLE} visible + {N_HIDDEN} hidden neurons, {N_SYNAPSES:,} synapses, "
        f"{N_COPIES} copies, float32"
    )
    print()


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[Result]) -> None:
    header = (
        f"{'B':>5} {'neurosim st/s':>14} {'samples/s@160':>14} {'torch st/s':>11} {'ratio':>7}"
        f" {'matmul GF/s':>12} {'ns frac':>8} {'torch frac':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ns = r.neurosim_steps
        samples = None if ns is None else ns * r.batch / STEPS_PER_SAMPLE
        ns_frac = None if ns is None else r.fraction(ns)
        print(
            f"{r.batch:>5} {fmt(ns, '.1f'):>14} {fmt(samples, '.2f'):>14}"
            f" {r.torch_steps:>11.1f} {fmt(r.ratio, '.2f'):>7} {r.matmul_gflops:>12.1f}"
            f" {fmt(ns_frac, '.3f'):>8} {r.fraction(r.torch_steps):>10.3f}"
        )
    print(
        "ratio = neurosim / PyTorch steps/s; matmul GF/s = float32 matmul at the step's shapes,\n"
        "the faster of NumPy and PyTorch per shape; frac = useful FLOPs/step * steps/s / matmul\n"
        f"rate, useful FLOPs/step = 2 * (copies + 1) * B * {N_SYNAPSES:,}"
    )
    print()
    print(
        "matmul GFLOP/s by library (forward: 2B x {794, 512} @ ..., update: {794, 512} x B @ ...):"
    )
    for r in results:
        parts = []
        for name, times in (("numpy", r.numpy_matmul), ("torch", r.torch_matmul)):
            parts.append(
                f"{name} forward {times.gflops(FORWARD):6.1f} update {times.gflops(UPDATE):6.1f}"
                f" all {times.gflops():6.1f}"
            )
        print(f"  B={r.batch:<4} " + " | ".join(parts))
    print()
    by_batch = {r.batch: r for r in results}
    for batch, minimum in TARGET_RATIOS.items():
        result = by_batch.get(batch)
        ratio = None if result is None else result.ratio
        if ratio is None:
            verdict = "n/a (not measured)"
        else:
            verdict = f"{ratio:.2f} -> {'PASS' if ratio >= minimum else 'FAIL'}"
        print(f"target B={batch}: ratio >= {minimum}: {verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per timed repeat")
    parser.add_argument(
        "--batch-sizes", default="1,128", help="comma-separated batch sizes (default: 1,128)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median is shown)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up steps")
    parser.add_argument("--skip-neurosim", action="store_true", help="time only the baselines")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("torch") is None:
        print(
            "PyTorch is not installed: `pip install torch` is needed for the baseline.",
            file=sys.stderr,
        )
        return 2
    import torch

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        print_environment(args.threads)
        results = []
        for batch in args.batch_sizes:
            print(f"B={batch}: matmul rates", end="", flush=True)
            numpy_times = numpy_matmul_times(batch, args.repeats)
            torch_times = torch_matmul_times(batch, args.repeats)
            print(", PyTorch and neurosim steps, in turns", end="", flush=True)
            runners = [torch_runner(batch)]
            if not args.skip_neurosim:
                runners.append(neurosim_runner(batch, args.threads))
            rates = time_steps(runners, args.steps, args.repeats, args.warmup)
            result = Result(batch, rates[0], numpy_times, torch_times)
            if not args.skip_neurosim:
                result.neurosim_steps = rates[1]
            print(" done")
            results.append(result)
        print()
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
