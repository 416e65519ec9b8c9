"""Helpers shared by the benchmark scripts in bench/ (imported as `common`; not a script itself).

The machine header, engine and reference runs in subprocesses that print one JSON line, the
Fashion-MNIST data, timing loops, medians and markdown tables.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
FMNIST_CLASSES = "5,6,7,8,9"  # sandal, shirt, sneaker, bag, ankle boot
if str(ROOT) not in sys.path:  # the scripts import tlcore from the checkout they live in
    sys.path.insert(0, str(ROOT))


def emit(**record) -> None:
    """One measurement as one JSON line, flushed so a tee'd log keeps up."""
    print(json.dumps(record), flush=True)


def resolve_device(choice: str = "auto") -> str:
    """The concrete device ("cpu", "cuda", ...) that "auto" means here, as the engine picks it."""
    from tlcore.device import resolve_device as resolve

    return str(resolve(choice))


def cpu_threads() -> int:
    """The intra-op thread count the engine uses; references get the same for a fair comparison."""
    from tlcore.device import usable_cpu_count

    return usable_cpu_count()


def machine_info(device: str = "cpu") -> dict:
    import torch
    import torchvision
    from tlcore.device import describe_device

    info = {"cpu": describe_device("cpu")["name"], "cores": os.cpu_count(), "usable_cores": cpu_threads(),
            "gpu": None, "device": device, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info.update(cpu_flags=cpu_flags(), torch_threads=torch.get_num_threads(), **math_backends())
    return info


WIDE_VECTOR_FLAGS = ("fma", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def cpu_flags() -> list[str]:
    """The processor's wide-vector instruction sets (Linux /proc/cpuinfo): they set the convolution peak."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [flag for flag in WIDE_VECTOR_FLAGS if flag in present]
    except OSError:
        pass
    return []


def math_backends() -> dict:
    """Which libraries torch computes with: BLAS (matmul), oneDNN (convolutions) and the vector level it uses."""
    import torch

    shown = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", shown)
    onednn = next((line.strip("- ").split(" (")[0] for line in shown.splitlines() if "MKL-DNN" in line), None)
    vector = next((line.split(":", 1)[1].strip() for line in shown.splitlines() if "CPU capability usage" in line), None)
    return {"blas": blas.group(1) if blas else "unknown", "onednn": onednn if torch.backends.mkldnn.is_available() else None,
            "cpu_capability": vector}


def print_header(title: str, device: str = "cpu", settings: dict | None = None) -> dict:
    """Print what ran where: a readable block, then the same as a JSON line."""
    info = machine_info(device)
    print(f"# {title}")
    print(f"# machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
          f"GPU: {info['gpu'] or 'none'}; device: {device}")
    print(f"# python {info['python']}, torch {info['torch']}, torchvision {info['torchvision']}")
    print(f"# cpu flags: {' '.join(info['cpu_flags']) or 'none known'}; torch threads {info['torch_threads']}, "
          f"BLAS {info['blas']}, {info['onednn'] or 'no oneDNN'}, vector code {info['cpu_capability']}")
    emit(machine=info, settings=settings)
    return info


def run_json(cmd, env=None) -> dict:
    """Run a command that prints one JSON line last; returns it with the process's own wall time."""
    cmd = [str(part) for part in cmd]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - started, 2)
    return result


def ensure_fmnist(train_per_class: int = 40, val_per_class: int = 100, seed: int = 0, path=None,
                  classes: str = FMNIST_CLASSES) -> Path:
    """Fashion-MNIST classes (default 5-9) as train/ and val/ image folders (bench/make_fmnist.py), made once."""
    which = "" if classes == FMNIST_CLASSES else "-c" + classes.replace(",", "")
    path = Path(path or Path(tempfile.gettempdir()) /
                f"tlstudio-bench-fmnist{which}-{train_per_class}-{val_per_class}-s{seed}")
    if not (path / "val").exists():
        subprocess.run([sys.executable, BENCH / "make_fmnist.py", path, "--classes", classes,
                        "--train-per-class", str(train_per_class), "--val-per-class", str(val_per_class),
                        "--seed", str(seed)], check=True)
    return path


DOODLES = "doodles"  # in place of Fashion-MNIST classes: bench/make_doodles.py's drawings


def ensure_data(train_per_class: int = 40, val_per_class: int = 100, seed: int = 0,
                classes: str = FMNIST_CLASSES) -> Path:
    """Fashion-MNIST classes as ensure_fmnist makes them, or, for "doodles", the hand-drawn-style
    drawings of bench/make_doodles.py (new kinds of things: no ImageNet class looks like them; every
    picture a different drawing, one validation set for every seed)."""
    if classes != DOODLES:
        return ensure_fmnist(train_per_class, val_per_class, seed=seed, classes=classes)
    path = Path(tempfile.gettempdir()) / f"tlstudio-bench-doodles-{train_per_class}-{val_per_class}-s{seed}"
    if not (path / "val").exists():
        subprocess.run([sys.executable, BENCH / "make_doodles.py", path, "--train-per-class", str(train_per_class),
                        "--val-per-class", str(val_per_class), "--seed", str(seed)], check=True)
    return path


def data_words(classes: str) -> str:
    """The set's name for a table's caption."""
    return "the doodles (bench/make_doodles.py)" if classes == DOODLES else f"Fashion-MNIST {classes}"


def reference_run(data, *, mode: str, epochs: int, image_size: int, backbone: str = "mobilenet_v2",
                  device: str = "cpu", lr: float | None = None) -> dict:
    """bench/reference_loop.py, the loop a user writes from a tutorial, with the engine's thread count."""
    cmd = [sys.executable, BENCH / "reference_loop.py", data, "--mode", mode, "--epochs", epochs,
           "--image-size", image_size, "--backbone", backbone, "--device", device, "--threads", cpu_threads()]
    return run_json(cmd + (["--lr", lr] if lr else []))


def engine_run(data, *, backbone: str, strategy: str, epochs: int | None, image_size: int, device: str = "auto",
               seed: int = 0, home=None, extra=()) -> dict:
    """`python -m tlcore train ... --quiet`, with the run's timings and per-phase figures added.

    Args:
        epochs: None leaves the strategy's own default.
        home: the studio home (TLSTUDIO_HOME); None uses a fresh empty one, so nothing is cached.
    """
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-home-") as fresh:
        env = dict(os.environ, TLSTUDIO_HOME=str(home or fresh))
        result = run_json([sys.executable, "-m", "tlcore", "train", data, "--backbone", backbone,
                           "--strategy", strategy, *(("--epochs", epochs) if epochs is not None else ()),
                           "--image-size", image_size,
                           "--device", device, "--seed", seed, "--quiet", *extra], env)
        run_dir = Path(result["run_dir"])
        status = json.loads((run_dir / "status.json").read_text())
        result["timings"] = status.get("timings", {})
        result["best_epoch"], result["best_phase"] = status.get("best_epoch"), status.get("best_phase")
        result["phases"] = phase_stats(run_dir)
    return result


def phase_stats(run_dir: Path) -> dict:
    """Per phase, from events.jsonl: training-set size, epochs, summed train-only seconds (epoch_s),
    and wall seconds from the phase's start to its last epoch event (training + validation)."""
    phases = {}
    for line in (Path(run_dir) / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "phase_start":
            phases[event["phase"]] = {"inputs": event["inputs"], "train_size": event["train_size"],
                                      "epochs": 0, "train_s": 0.0, "start": event["time"], "wall_s": 0.0}
        elif event.get("type") == "epoch":
            phase = phases[event["phase"]]
            phase["epochs"] += 1
            phase["train_s"] += event["epoch_s"]
            phase["wall_s"] = round(event["time"] - phase["start"], 3)
    for phase in phases.values():
        phase.pop("start")
        phase["train_s"] = round(phase["train_s"], 3)
    return phases


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def speedup(reference: float, ours: float) -> str:
    """How many times less time ours takes; "2.0x" means twice as fast."""
    return f"{reference / ours:.1f}x" if ours else "n/a"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    cells = [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def publish(name: str, text: str) -> None:
    """Print a bench's result and keep it as bench/out/<name>.md, for docs/benchmarks.md."""
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.md").write_text(text.rstrip("\n") + "\n")


def sync(device: str) -> None:
    """Wait for queued GPU work, so a timer measures the work and not its launch."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_iterations(step, *, warmup: int, iters: int, device: str = "cpu") -> list[float]:
    """Seconds of each of `iters` calls of step(), after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - started)
    return times


def matmul_peak_gflops(device: str, n: int, dtype=None, repeats: int = 10) -> float:
    """Best 2*n^3/t of a square torch.matmul: this machine's practical peak for that dtype."""
    import torch

    dtype = dtype or torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = min(time_iterations(lambda: torch.matmul(a, b), warmup=2, iters=repeats, device=device))
    return 2 * n ** 3 / best / 1e9


def conv_peak_gflops(device: str, dtype=None, batch: int = 32, repeats: int = 5) -> float:
    """Best GFLOP/s of a few dense convolutions in channels_last: the kernels a CNN spends its time in.

    On a CPU, torch.matmul goes through a BLAS (MKL) while convolutions go through oneDNN, and the two
    need not use the same instructions (MKL may choose an AVX2 path on AMD processors that have
    AVX-512), so a network can beat the matmul figure; this one is the stricter yardstick for it.
    """
    import torch

    dtype = dtype or torch.float32
    best = 0.0
    for channels, size, kernel in ((256, 28, 3), (512, 14, 3), (1024, 14, 1)):
        conv = torch.nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False).eval()
        conv = conv.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        x = torch.randn(batch, channels, size, size, device=device, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        flops = 2 * batch * size * size * channels * channels * kernel * kernel
        with torch.inference_mode():
            seconds = min(time_iterations(lambda: conv(x), warmup=2, iters=repeats, device=device))
        best = max(best, flops / seconds / 1e9)
    return best


def reference_and_engine(records: list[dict]):
    """Per (backbone, image size, epochs), in first-seen order: (key, reference records, engine records)."""
    for key in dict.fromkeys((r["backbone"], r["image_size"], r["epochs"]) for r in records):
        pick = [r for r in records if (r["backbone"], r["image_size"], r["epochs"]) == key]
        yield key, [r for r in pick if r["what"] == "reference"], [r for r in pick if r["what"] == "engine"]


def spread(values) -> str:
    """mean (min–max) of the numbers among values, over seeds; "—" when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    return f"{statistics.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})"
