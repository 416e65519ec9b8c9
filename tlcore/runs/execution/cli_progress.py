"""A one-line progress bar on stderr for the CLI, fed by the same callbacks as the run recorder."""
import sys
import time

from tlcore.chance import guessing_words
from tlcore.runs.execution.work_meter import WorkMeter


class ProgressBar(WorkMeter):
    def __init__(self, stream=None, width: int = 28, train_images: int = 0, val_images: int = 0):
        super().__init__(train_images, val_images)
        # Looked up now: stderr may have been redirected since import. Its redraw ("\r") must reach the terminal
        # as it is, past the command line's spelling out of unseen characters (tlcore.cli.terminal).
        self.stream = stream or getattr(sys.stderr, "unescaped", sys.stderr)
        self.width = width
        self.last = ""

    def _draw(self, text: str) -> None:
        filled = int(self.width * self.fraction)
        eta = self.eta()
        eta_text = f" ETA {eta:.0f}s" if eta is not None else ""
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.fraction:4.0%} {text}{eta_text}"
        self.stream.write(line.ljust(len(self.last)))
        self.stream.flush()
        self.last = line

    def on_batch_end(self, phase, epoch, step, steps, loss):
        super().on_batch_end(phase)
        self._draw(f"epoch {epoch} ({phase.name}) step {step}/{steps} loss {loss:.3f}")

    def on_epoch_end(self, phase, epoch, total_epochs, val_acc, train_loss, **_):
        super().on_epoch_end(phase)
        self._draw(f"epoch {epoch}/{total_epochs} ({phase.name}) loss {train_loss:.3f} val acc {val_acc:.3f}")
        self.stream.write("\n")
        self.last = ""

    def on_fit_end(self, result, outcome, error):
        self.stream.write(f"{outcome} in {time.perf_counter() - self.fit_started:.1f}s\n")
        warning = guessing_note(result) if outcome == "succeeded" else None
        if warning:
            self.stream.write(f"note: {warning}\n")
        self.stream.flush()


def guessing_note(result) -> str | None:
    """Words for a kept model no better than guessing, from its answers on the validation pictures."""
    answers = result.best_probabilities  # one row per validation picture, one column per class
    if answers is None or answers.ndim != 2:
        return None
    pictures, classes = answers.shape
    return guessing_words(round(result.best_val_acc * pictures), pictures, classes)
