"""A dependency-free progress bar for training epochs, written to stderr."""

import sys
import time


class ProgressBar:
    """Progress over ``total`` epochs with the running loss.

    On a terminal the bar redraws in place after every epoch. Elsewhere (logs, files) a line is
    printed about every 5 % of ``total`` and at the end, so logs stay short. ``verbose >= 2`` prints
    one line per epoch everywhere.
    """

    def __init__(self, total, verbose=1, stream=None, width=30):
        self.total = max(int(total), 1)
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.in_place = hasattr(self.stream, "isatty") and self.stream.isatty() and verbose < 2
        self.every = 1 if verbose >= 2 else max(1, self.total // 20)
        self.pending = None  # last line not yet printed (off a terminal)

    def update(self, epoch, loss, extra=""):
        """Show epoch ``epoch`` (1-based) finished with training loss ``loss``; ``extra`` is appended."""
        filled = int(self.width * min(epoch, self.total) / self.total)
        bar = "=" * filled + ">" * (filled < self.width) + " " * (self.width - filled - 1)
        elapsed = time.perf_counter() - self.start
        text = f"epoch {epoch:>{len(str(self.total))}}/{self.total} [{bar}] loss {loss:.5g}{extra} {elapsed:.1f}s"
        if self.in_place:
            self.stream.write("\r" + text)
        elif epoch == 1 or epoch % self.every == 0:
            self.stream.write(text + "\n")
            self.pending = None
        else:
            self.pending = text
        self.stream.flush()

    def close(self, message=""):
        """Finish the bar (a newline on terminals) and print ``message`` if given."""
        if self.in_place:
            self.stream.write("\n")
        elif self.pending:
            self.stream.write(self.pending + "\n")
            self.pending = None
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
