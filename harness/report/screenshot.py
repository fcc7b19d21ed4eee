"""Open a report in headless Chromium (Playwright driving the system browser) and take screenshots.

Used by the browser test and to regenerate the README images:

    python -m harness.report.screenshot reports/noniid_small/index.html --out docs/

writes docs/report_top.png (the top of the page) and docs/report_figure.png (the key figure). No browser is
downloaded: Playwright drives an installed Chromium (Debian: `apt-get install chromium`), found on PATH or
given by --browser / the HARNESS_CHROMIUM environment variable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.run.out_guard import PNG_SIGNATURE, SCREENSHOT_TAG
from harness.runtime import atomic

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]
INSTALL_HINT = ("install one: `apt-get install -y chromium` (Debian/Ubuntu) and "
                "`pip install playwright` (never `playwright install`: it downloads its own browser), "
                "or set HARNESS_CHROMIUM to a Chromium/Chrome executable")
KEY_FIGURE = "#fig-modes"
TOP, FIGURE = "report_top.png", "report_figure.png"  # the files screenshot_report writes into its folder


def find_browser(explicit: str | None = None) -> str | None:
    """Path of a Chromium-family executable, or None."""
    for candidate in [explicit, os.environ.get("HARNESS_CHROMIUM")]:
        if candidate:
            return candidate if Path(candidate).is_file() else shutil.which(candidate)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch(playwright: Any, browser: str | None = None) -> Any:
    """Launch the system Chromium through Playwright; UsageError with install steps when there is none."""
    executable = find_browser(browser)
    if executable is None:
        raise UsageError(f"no Chromium browser found; {INSTALL_HINT}")
    return playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS, headless=True)


def sync_playwright() -> Any:
    """Playwright's `sync_playwright()` context manager; UsageError with install steps when it is missing."""
    try:
        from playwright.sync_api import sync_playwright as _sync_playwright
    except ImportError:
        raise UsageError(f"the playwright package is not installed; {INSTALL_HINT}") from None
    return _sync_playwright()


def tag_png(png: bytes) -> bytes:
    """`png` with a tEXt chunk 'Software: minibatch-harness' right after its IHDR chunk: the mark by which a later
    `report --screenshot` knows the file is its own to replace (harness.run.out_guard.is_screenshot)."""
    if not png.startswith(PNG_SIGNATURE) or SCREENSHOT_TAG in png[:4096]:
        return png
    (ihdr_length,) = struct.unpack(">I", png[8:12])
    end = 8 + 12 + ihdr_length  # signature, then IHDR: length, type, data, CRC
    chunk = struct.pack(">I", len(SCREENSHOT_TAG) - 4) + SCREENSHOT_TAG + struct.pack(">I", zlib.crc32(SCREENSHOT_TAG))
    return png[:end] + chunk + png[end:]


def screenshot_report(html: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, browser: str | None = None,
                      width: int = 1280, height: int = 900) -> list[Path]:
    """Save `report_top.png` (viewport at the top) and `report_figure.png` (the key figure) into out_dir."""
    html_path = Path(html).resolve()
    if not html_path.is_file():
        raise UsageError(f"{html_path}: no such report file")
    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as p:
        chromium = launch(p, browser)
        try:
            page = chromium.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.goto(html_path.as_uri(), wait_until="load")
            top = out_path / TOP
            atomic.write_bytes(top, tag_png(page.screenshot(full_page=False)))
            written.append(top)
            figure = page.query_selector(KEY_FIGURE) or page.query_selector("figure")
            if figure is not None:
                path = out_path / FIGURE
                atomic.write_bytes(path, tag_png(figure.screenshot()))
                written.append(path)
        finally:
            chromium.close()
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: screenshot the report named in `argv`; 0, or 2 with one error line."""
    parser = argparse.ArgumentParser(prog="python -m harness.report.screenshot",
                                     description=__doc__.split("\n")[0])  # type: ignore[union-attr]
    parser.add_argument("html", help="the report file (a run directory's index.html)")
    parser.add_argument("--out", default="docs", help="directory for report_top.png and report_figure.png")
    parser.add_argument("--browser", default=None, help="Chromium executable (default: found on PATH)")
    args = parser.parse_args(argv)
    try:
        for path in screenshot_report(args.html, args.out, browser=args.browser):
            print(f"screenshot: {path}")
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
