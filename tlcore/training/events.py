"""The events of a run, in one list, and the one way they are sent.

A run reports everything through these names: the loop's own (a fit, a phase, a batch, an epoch) and
those of the steps around it (the pictures read, the feature pass, a practice before the phases).
Listeners are duck-typed objects with a method per event they care about (the run's recorder, the
work meter, the CLI's progress bar); ``call`` refuses a name that is not in the list, and
``check_listeners`` a listener whose method names no event, so a misspelt one fails at once instead
of never firing.
"""
from __future__ import annotations

EVENTS = (
    "on_run_data",  # the run's pictures are read (data: the run's named sets), before any network work
    "on_features",  # the feature pass moved: done of total pictures of one set (split) have their features
    "on_practice",  # work before the phases moved (meta-learning's episodes): stage, done, total, figures
    "on_fit_start",  # phases, total_epochs
    "on_phase_start",  # phase, index, steps_per_epoch, train_size, val_size
    "on_batch_end",  # phase, epoch, step, steps, loss
    "on_epoch_end",  # phase, epoch, total_epochs, improved, lr, and the epoch's figures
    "on_fit_end",  # result, outcome, error: always, like a finally
)


class UnknownEvent(LookupError):
    """An event name that is not in EVENTS: a bug in the code that sends or listens, never bad input."""


def call(listeners, event: str, **fields) -> None:
    """Send one event to every listener that has a method of its name."""
    if event not in EVENTS:
        raise UnknownEvent(f"'{event}' is not one of the run's events ({', '.join(EVENTS)}).")
    for listener in listeners:
        method = getattr(listener, event, None)
        if method is not None:
            method(**fields)


def check_listeners(listeners) -> list:
    """The listeners, refused if one has an on_... method that names no event; returns them as a list."""
    listeners = list(listeners)
    for listener in listeners:
        unknown = sorted(name for name in dir(listener) if name.startswith("on_") and name not in EVENTS
                         and callable(getattr(listener, name)))
        if unknown:
            raise UnknownEvent(f"{type(listener).__name__} listens to {', '.join(unknown)}, which no run sends; "
                               f"the events are {', '.join(EVENTS)}.")
    return listeners


def sender(listeners):
    """call bound to these listeners (checked): report(event, **fields)."""
    listeners = check_listeners(listeners)

    def report(event: str, **fields) -> None:
        call(listeners, event, **fields)
    return report
