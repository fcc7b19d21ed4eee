"""Run progress on stderr: a live bar on a terminal; one plain line per finished trial otherwise (CI logs,
`nohup`, a file), where a bar's carriage returns would make one unreadable line."""

import sys
import time


class PlainProgress:
    """The subset of tqdm's interface the runner uses, printing `name: k/N trials done (elapsed)` lines."""

    def __init__(self, total, initial=0, desc="", file=None):
        self.total, self.n, self.desc = total, initial, desc
        self.file = file or sys.stderr
        self.started = time.perf_counter()

    def update(self, n=1):
        self.n += n
        elapsed = time.perf_counter() - self.started
        print(f"{self.desc}: {self.n}/{self.total} trials done ({elapsed:.0f} s)", file=self.file, flush=True)

    def set_postfix_str(self, text, refresh=True):
        """Per-step detail is for a live bar only."""

    def close(self):
        pass


def progress_bar(total, initial, quiet, desc):
    """A tqdm bar on a terminal, PlainProgress when stderr is not one, a silent bar with `quiet`."""
    from tqdm import tqdm

    if quiet or sys.stderr.isatty():
        return tqdm(total=total, initial=initial, disable=quiet, unit="trial", desc=desc, file=sys.stderr,
                    dynamic_ncols=True)
    return PlainProgress(total, initial, desc)
