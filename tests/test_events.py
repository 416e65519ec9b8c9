"""The run's events: one list, a misspelt name refused where it is sent or listened for."""
import io

import pytest

from tlcore.runs.execution.cli_progress import ProgressBar
from tlcore.runs.execution.recorder import RunRecorder
from tlcore.runs.execution.work_meter import WorkMeter
from tlcore.training.events import EVENTS, UnknownEvent, call, check_listeners, sender


class Heard:
    def __init__(self):
        self.heard = []

    def on_epoch_end(self, **fields):
        self.heard.append(("on_epoch_end", fields))

    def on_fit_end(self, **fields):
        self.heard.append(("on_fit_end", fields))


def test_an_event_reaches_every_listener_with_a_method_of_its_name():
    first, second, deaf = Heard(), Heard(), object()
    call([first, deaf, second], "on_epoch_end", epoch=3)
    call([first, deaf, second], "on_batch_end", step=1)  # nobody listens: nothing happens
    assert first.heard == second.heard == [("on_epoch_end", {"epoch": 3})]


def test_a_misspelt_event_is_refused_where_it_is_sent():
    with pytest.raises(UnknownEvent, match="on_epoch_ended.*on_epoch_end"):
        call([Heard()], "on_epoch_ended", epoch=1)


def test_a_listener_with_a_misspelt_method_is_refused_before_anything_runs():
    class Misspelt(Heard):
        def on_epochs_end(self, **fields):
            pass

    with pytest.raises(UnknownEvent, match="Misspelt listens to on_epochs_end"):
        check_listeners([Heard(), Misspelt()])
    with pytest.raises(UnknownEvent):
        sender([Misspelt()])


def test_sender_binds_the_listeners():
    listener = Heard()
    report = sender([listener])
    report("on_fit_end", outcome="succeeded")
    assert listener.heard == [("on_fit_end", {"outcome": "succeeded"})]


def test_the_studios_own_listeners_listen_only_to_events_that_are_sent(tmp_path):
    from tlcore.runs.execution.status_writer import StatusWriter
    from tlcore.runs.store.folder import RunFolder

    folder = RunFolder(tmp_path)
    listeners = [WorkMeter(), ProgressBar(stream=io.StringIO()), RunRecorder(folder, StatusWriter(folder.path))]
    assert check_listeners(listeners) == listeners
    for listener in listeners:
        methods = {name for name in dir(listener) if name.startswith("on_")}
        assert methods and methods <= set(EVENTS)
