"""One run trained by two real processes (torch.distributed, gloo on the CPU), through the CLI and torchrun."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tlcore.config import RunConfig
from tlcore.cpus import usable_cpu_count
from tlcore.data.batches import ArrayBatches
from tlcore.data.manifest import Manifest
from tlcore.runs import RunFolder
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
# Small and quick: 64 px pictures, batches of 8 shared by two processes.
RUN = ["--strategy", "fine_tune", "--image-size", "64", "--batch-size", "8", "--head-epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def env(tmp_path_factory, offline_torch_home):
    home = tmp_path_factory.mktemp("home")
    return dict(os.environ, TLSTUDIO_HOME=str(home), TORCH_HOME=str(offline_torch_home),
                TLSTUDIO_COLLECTIVE_TIMEOUT_S="20")


def start(*args, env):
    return subprocess.Popen([sys.executable, "-m", "tlcore", *map(str, args)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_folder(env) -> Path:
    """The one run in the home's runs folder."""
    (folder,) = (Path(env["TLSTUDIO_HOME"]) / "runs").iterdir()
    return folder


def rank_pids(run_dir: Path) -> dict[int, int]:
    """rank -> pid of the live worker processes of run_dir (read from /proc: their command and RANK); the
    launcher, a worker command without a rank, is -1."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            variables = dict(item.split(b"=", 1) for item in (entry / "environ").read_bytes().split(b"\0") if b"=" in item)
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if str(run_dir).encode() in command and b"worker" in command and state != "Z":
            found[int(variables.get(b"RANK", b"-1"))] = int(entry.name)
    return found


@pytest.mark.slow
def test_two_processes_under_torchrun_train_one_run_and_count_each_picture_once(shapes, env):
    """torchrun starts two CLI processes: rank 0 makes the run and tells rank 1; both train it."""
    env = dict(env, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "tlcore", "train", shapes, *RUN, "--epochs", "1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "one JSON line on stdout: rank 0's"
    output = json.loads(lines[0])
    assert output["status"] == "succeeded" and output["epochs"] == 2
    assert [path.name for path in (Path(env["TLSTUDIO_HOME"]) / "runs").iterdir()] == [output["run_id"]]

    run_dir = Path(output["run_dir"])
    assert RunFolder(run_dir).read_status()["processes"] == 2
    assert RunFolder(run_dir).load_config().processes == 2
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [event["type"] for event in events]
    # Written once each: had rank 1 written too, the run's lines would come twice.
    assert kinds.count("dataset") == 1 and kinds.count("end") == 1 and kinds.count("fit_end") == 1
    epochs = [event for event in events if event["type"] == "epoch"]
    assert [event["epoch"] for event in epochs] == [1, 2]
    validation = len(Manifest.load(run_dir / "manifest.json").split("val"))
    for event in epochs:  # each validation picture counted once: the two blocks gathered
        assert np.sum(event["confusion"]) == validation
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert len(predictions["pictures"]) == validation
    assert sorted(path.name for path in run_dir.iterdir()) == sorted(
        ["config.json", "events.jsonl", "labels.json", "manifest.json", "model_best.pt", "owner.json",
         "predictions.json", "reliability.json", "started_from.json", "status.json"])


def body_epoch_running(run_dir: Path) -> bool:
    """The run trains its body (its second epoch, after the head's warm-up): DistributedDataParallel steps."""
    return (RunFolder(run_dir).read_status().get("progress") or {}).get("epoch", 0) >= 2


@pytest.mark.slow
def test_the_runner_trains_a_run_of_two_processes_as_one_run_and_cancels_both(shapes, env, monkeypatch):
    from tlcore.runs.supervision.runner import Runner

    for name in ("TLSTUDIO_HOME", "TORCH_HOME", "TLSTUDIO_COLLECTIVE_TIMEOUT_S"):
        monkeypatch.setenv(name, env[name])
    runner = Runner(warm_worker=False, poll_s=0.2)
    config = RunConfig(data=str(shapes), strategy="fine_tune", image_size=64, batch_size=8, head_epochs=1,
                       processes=2)
    quick = runner.submit(config.replace(epochs=1))
    status = runner.wait(quick, timeout=180)
    assert status["state"] == "succeeded" and status["processes"] == 2, status
    run_dir = runner.run_dir(quick)
    validation = len(Manifest.load(run_dir / "manifest.json").split("val"))
    epochs = [event for event in RunFolder(run_dir).read_events()[0] if event["type"] == "epoch"]
    assert [event["epoch"] for event in epochs] == [1, 2]
    assert all(np.sum(event["confusion"]) == validation for event in epochs)

    endless = runner.submit(config.replace(epochs=200, early_stop_patience=0))
    run_dir = runner.run_dir(endless)
    runner.start()
    try:
        wait_for(lambda: body_epoch_running(run_dir), 120)
        ranks = rank_pids(run_dir)
        assert sorted(ranks) == [-1, 0, 1]
        assert RunFolder(run_dir).read_status()["pid"] == ranks[-1], "the status names the launcher, the runner's child"
        runner.cancel(endless)
        wait_for(lambda: RunFolder(run_dir).read_status().get("state") == "cancelled", 60)
        wait_for(lambda: rank_pids(run_dir) == {}, 30, message="both processes gone")
    finally:
        runner.stop(cancel_running=True)


@pytest.mark.slow
def test_a_killed_process_fails_the_run_with_the_reason_and_leaves_none_behind(shapes, env, tmp_path):
    env = dict(env, TLSTUDIO_HOME=str(tmp_path / "home"))
    process = start("train", shapes, *RUN, "--epochs", "200", "--early-stop", "0", "--nproc-per-node", "2", env=env)
    wait_for(lambda: (tmp_path / "home" / "runs").is_dir() and any((tmp_path / "home" / "runs").iterdir()), 60)
    run_dir = run_folder(env)
    wait_for(lambda: body_epoch_running(run_dir), 120)
    os.kill(rank_pids(run_dir)[1], signal.SIGKILL)
    killed = time.monotonic()
    process.wait(timeout=60)  # well within the collective timeout of 20 s plus the launcher's stop
    status = RunFolder(run_dir).read_status()
    assert status["state"] == "failed"
    assert "Process 1 of 2 was stopped by SIGKILL" in status["error"], status["error"]
    assert time.monotonic() - killed < 45
    assert rank_pids(run_dir) == {}
    assert process.returncode == 1


@pytest.mark.slow
def test_the_processes_end_with_their_launcher(shapes, env, tmp_path):
    """Killed outright (as the runner stops a hung worker), the launcher takes its processes with it."""
    env = dict(env, TLSTUDIO_HOME=str(tmp_path / "home"))
    process = start("train", shapes, *RUN, "--epochs", "200", "--early-stop", "0", "--nproc-per-node", "2", env=env)
    wait_for(lambda: (tmp_path / "home" / "runs").is_dir() and any((tmp_path / "home" / "runs").iterdir()), 60)
    run_dir = run_folder(env)
    wait_for(lambda: sorted(rank_pids(run_dir)) == [0, 1], 120, message="both processes started")
    process.kill()
    process.wait(timeout=10)
    wait_for(lambda: rank_pids(run_dir) == {}, 15, message="no process left behind")


@pytest.mark.parametrize("args, words", [
    (["--strategy", "feature_extraction", "--nproc-per-node", "2"], "nothing to share"),
    (["--strategy", "fine_tune", "--nproc-per-node", usable_cpu_count() + 1, "--batch-size", "128",
      "--device", "cpu"], "need a core each"),
    (["--strategy", "fine_tune", "--nproc-per-node", "2", "--batch-size", "1"], "batch size must be at least 2"),
])
def test_several_processes_refused_in_words(shapes, home, capsys, args, words):
    from tlcore.__main__ import main as cli

    assert cli(["train", str(shapes), "--quiet", *map(str, args)]) == 2
    assert words in capsys.readouterr().err
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_each_process_takes_its_share_of_every_batch_and_a_block_of_held_out_sets():
    inputs, labels = np.arange(11, dtype=np.float32)[:, None], np.arange(11)
    shares = [ArrayBatches(inputs, labels, 4, True, torch.Generator().manual_seed(3), share=(rank, 2))
              for rank in range(2)]
    one = ArrayBatches(inputs, labels, 4, True, torch.Generator().manual_seed(3))
    for whole, first, second in zip(one, *shares):  # the same global batches, split between the two
        assert sorted(whole[1].tolist()) == sorted(first[1].tolist() + second[1].tolist())
    assert len(shares[0]) == len(one) == 3  # the same steps, so the same learning-rate schedule
    blocks = [ArrayBatches(inputs, labels, 4, False, share=(rank, 2)) for rank in range(2)]
    gathered = [y for block in blocks for _, batch in block for y in batch.tolist()]
    assert gathered == list(range(11))
    assert [y for _, batch in blocks[1].in_order() for y in batch.tolist()] == list(range(11))


def test_the_train_page_offers_all_gpus_when_the_machine_has_several(home, monkeypatch):
    import ui.resources
    from apptest_support import open_app

    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    assert at.title[0].value == "Train"
    assert not any(box.key == "all_gpus" for box in at.checkbox), "one GPU or none: nothing to offer"

    monkeypatch.setattr(ui.resources, "gpu_count", lambda: 2)
    at.run()
    offer = at.checkbox(key="all_gpus")
    assert offer.label.startswith("Use all 2 GPUs on this machine") and offer.disabled  # feature extraction
    at.radio(key="strategy").set_value("fine_tune").run()
    assert not at.checkbox(key="all_gpus").disabled
    assert not at.exception


def _evaluate_as(rank: int, port: int, answers) -> None:
    """One of two processes validating five pictures in blocks of 2 and 3: one batch here, two there."""
    from torch import nn

    from tlcore.training import distributed
    from tlcore.training.loop import evaluate
    from tlcore.training.phase_inputs import PhaseData

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    world = distributed.World(rank, 2, rank)
    distributed.join(world, torch.device("cpu"))
    try:
        inputs, labels = torch.eye(3)[[0, 1, 2, 0, 1]] * 10, np.array([0, 1, 2, 0, 2])  # the last one wrong
        held_out = ArrayBatches(inputs, labels, 2, False, share=(rank, 2))
        data = PhaseData(train=held_out, val=held_out, prepare=lambda x, training: x)
        stats = evaluate(nn.Identity(), data, device=torch.device("cpu"), num_classes=3, world=world)
        answers.put((rank, stats["confusion"], stats["val_probabilities"].argmax(1).tolist()))
    finally:
        distributed.leave()


@pytest.mark.slow
def test_validation_gathers_blocks_of_unequal_batches_in_order():
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    answers = context.Queue()
    processes = [context.Process(target=_evaluate_as, args=(rank, port, answers)) for rank in range(2)]
    for process in processes:
        process.start()
    results = dict((rank, rest) for rank, *rest in (answers.get(timeout=60) for _ in processes))
    for process in processes:
        process.join(timeout=30)
    expected = [[2, 0, 0], [0, 1, 0], [0, 1, 1]]  # every picture once, the same on both processes
    assert results[0] == results[1] == [expected, [0, 1, 2, 0, 1]]


def test_more_processes_than_gpus_are_refused_before_anything_starts(monkeypatch):
    from tlcore.config import ConfigError
    from tlcore.runs.supervision.launch import check_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="2 processes need 2 GPUs; this machine has 1"):
        check_devices(RunConfig(data="x", strategy="fine_tune", processes=2))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_devices(RunConfig(data="x", strategy="fine_tune", processes=2))


def test_the_process_killed_is_named_as_the_cause_not_the_peer_that_noticed(tmp_path):
    """Both ended in one monitoring round, in the same second: the signal is the cause, whatever the ranks."""
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    from tlcore.runs.supervision.launch import first_cause

    noticed = ProcessFailure(local_rank=0, pid=100, exitcode=1, error_file=str(tmp_path / "none"))
    killed = ProcessFailure(local_rank=1, pid=101, exitcode=-9, error_file=str(tmp_path / "none"))
    killed.timestamp = noticed.timestamp
    assert first_cause({0: noticed, 1: killed}) == (1, killed)
    later = ProcessFailure(local_rank=1, pid=101, exitcode=1, error_file=str(tmp_path / "none"))
    later.timestamp = noticed.timestamp + 1
    assert first_cause({0: noticed, 1: later}) == (0, noticed)  # no signal: the first to fail
    stopped = ProcessFailure(local_rank=0, pid=100, exitcode=-15, error_file=str(tmp_path / "none"))
    stopped.timestamp = killed.timestamp  # the launcher's own SIGTERM to the survivors is no cause
    assert first_cause({0: stopped, 1: killed}) == (1, killed)
    assert first_cause({0: stopped, 1: later}) == (1, later)
