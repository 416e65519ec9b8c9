"""Device choice, mixed precision and run slots: the GPU paths, checked on any machine.

Where this machine has no GPU, torch's CUDA queries are answered by the test (monkeypatch): what
is checked is the engine's decision, not the hardware.
"""
import pytest
import torch

from tlcore import device as devices
from tlcore.config import RunConfig
from tlcore.device import describe_device, resolve_device
from tlcore.runs.supervision.dispatch import device_slot, device_slots
from tlcore.training.loop import autocast_for


def pretend(monkeypatch, *, cuda: bool, mps: bool = False, gpus: int = 1):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
    monkeypatch.setattr(devices, "_mps_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    pretend(monkeypatch, cuda=cuda, mps=mps)
    assert resolve_device("auto").type == expected


def test_an_unusable_device_is_refused_with_the_reason(monkeypatch):
    pretend(monkeypatch, cuda=False)
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        resolve_device("cuda")
    pretend(monkeypatch, cuda=True, gpus=1)
    with pytest.raises(ValueError, match="sees only 1 GPU"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        resolve_device("tpu")


def test_mixed_precision_on_cuda_only():
    autocast, scaler = autocast_for(torch.device("cpu"))
    assert not isinstance(autocast, torch.autocast) and scaler is None  # full precision on the CPU


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns when CUDA is asked for on a machine without it
@pytest.mark.parametrize("bf16, dtype, scaled", [(True, torch.bfloat16, False), (False, torch.float16, True)])
def test_cuda_uses_bf16_where_supported_else_fp16_with_a_loss_scaler(monkeypatch, bf16, dtype, scaled):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    autocast, scaler = autocast_for(torch.device("cuda"))
    assert isinstance(autocast, torch.autocast) and autocast.fast_dtype == dtype
    assert isinstance(scaler, torch.amp.GradScaler) if scaled else scaler is None


def test_the_cpu_is_described_in_words():
    info = describe_device("cpu")
    assert info["kind"] == "cpu" and not info["amp"]
    assert info["label"].startswith("CPU · ") and info["threads"] >= 1


def test_each_device_is_one_slot(monkeypatch):
    pretend(monkeypatch, cuda=True, gpus=2)
    assert device_slot(RunConfig(data="x", device="auto")) == device_slot(RunConfig(data="x", device="cuda:0"))
    assert device_slot(RunConfig(data="x", device="cuda:1")) == "cuda:1"
    assert device_slot(RunConfig(data="x", device="cpu")) == "cpu:0"
    pretend(monkeypatch, cuda=False)
    assert device_slot(RunConfig(data="x", device="auto")) == "cpu:0"
    assert device_slot(RunConfig(data="x", device="cuda")) == "cuda"  # unusable here: its worker says why


def test_a_run_of_several_processes_holds_all_its_gpus_as_one_run(monkeypatch):
    pretend(monkeypatch, cuda=True, gpus=2)
    assert device_slots(RunConfig(data="x", strategy="fine_tune", processes=2)) == {"cuda:0", "cuda:1"}
    assert device_slots(RunConfig(data="x", strategy="fine_tune", device="cpu", processes=2)) == {"cpu:0"}
    assert device_slots(RunConfig(data="x")) == {"cuda:0"}


def test_queue_places_are_counted_per_device(tmp_path, monkeypatch):
    from tlcore import runs
    from tlcore.runs.supervision.dispatch import queue_waits

    pretend(monkeypatch, cuda=True, gpus=1)
    made = [runs.create_run(RunConfig(data="x", device=device), tmp_path).name
            for device in ("cpu", "cuda", "auto", "cpu")]
    waits = queue_waits(runs.list_runs(tmp_path))
    assert [waits[run_id][0] for run_id in made] == [1, 1, 2, 2]  # "auto" is the GPU here
