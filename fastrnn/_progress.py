"""A dependency-free progress bar for training epochs, written to stderr."""

import sys
import time


class ProgressBar:
    """Progress over ``total`` epochs with the running loss.

    On a terminal the bar redraws in place; elsewhere (logs, notebooks piping to files) one line per
    epoch is printed. ``verbose >= 2`` prints one line per epoch on terminals too.
    """

    def __init__(self, total, verbose=1, stream=None, width=30):
        self.total = max(int(total), 1)
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.in_place = hasattr(self.stream, "isatty") and self.stream.isatty() and verbose < 2

    def update(self, epoch, loss, extra=""):
        """Show epoch ``epoch`` (1-based) finished with training loss ``loss``; ``extra`` is appended."""
        filled = int(self.width * min(epoch, self.total) / self.total)
        bar = "=" * filled + ">" * (filled < self.width) + " " * (self.width - filled - 1)
        elapsed = time.perf_counter() - self.start
        text = f"epoch {epoch:>{len(str(self.total))}}/{self.total} [{bar}] loss {loss:.5g}{extra} {elapsed:.1f}s"
        if self.in_place:
            self.stream.write("\r" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, message=""):
        """Finish the bar (a newline on terminals) and print ``message`` if given."""
        if self.in_place:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
