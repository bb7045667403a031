"""Headless Chromium for the HTML report: open one file, read the page
back, keep a picture of it.

render(html_path, png_path) opens the file (file://, nothing from the
network: the report must not need it) in Debian's chromium through its
chromedriver and selenium, and returns what a test asserts on:

    {"console": [entries of level SEVERE or WARNING],
     "cells": number of elements matching ".cell",
     "outcomes": [data-outcome of each cell, in page order],
     "svg": number of <svg> elements}

A Content-Security-Policy violation, a resource the page tried to load or
a markup error the browser reports shows up in "console".  The screenshot
is of the whole page: the window is set to the document's scroll size
(height capped at 4000 px) before it is taken.
"""
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
MAX_HEIGHT = 4000


def _driver():
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage",
              # no update checks or other traffic of the browser's own
              "--disable-background-networking", "--no-first-run"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def submit_and_read(d, button, timeout=60):
    """Click a form's button and return the text of the page the POST
    answered with.  A click does not wait for the navigation it starts:
    read at once, the old document may be gone and the new one not yet
    there (no <body>), so wait until the old root is stale and the new
    document is complete."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    old = d.find_element("tag name", "html")
    button.click()
    wait = WebDriverWait(d, timeout)
    wait.until(ec.staleness_of(old))
    wait.until(lambda x: x.execute_script(
        "return document.readyState") == "complete")
    return d.find_element("tag name", "body").text


def render(html_path, png_path):
    """Open html_path, return what the page holds and save a full-page
    screenshot to png_path (see the module's comment)."""
    url = Path(html_path).resolve().as_uri()
    d = _driver()
    try:
        d.set_window_size(1200, 900)
        d.get(url)
        cells = d.execute_script(
            "return Array.from(document.querySelectorAll('.cell'),"
            " e => e.getAttribute('data-outcome'));")
        nsvg = d.execute_script(
            "return document.querySelectorAll('svg').length;")
        w, h = d.execute_script(
            "const e = document.documentElement;"
            " return [e.scrollWidth, e.scrollHeight];")
        # the window's own frame, if any, on top of the page's size
        fw, fh = d.execute_script(
            "return [window.outerWidth - window.innerWidth,"
            " window.outerHeight - window.innerHeight];")
        d.set_window_size(max(int(w), 800) + max(int(fw), 0),
                          min(int(h), MAX_HEIGHT) + max(int(fh), 0))
        d.save_screenshot(str(png_path))
        console = [e for e in d.get_log("browser")
                   if e.get("level") in ("SEVERE", "WARNING")]
    finally:
        d.quit()
    return {"console": console, "cells": len(cells), "outcomes": cells,
            "svg": nsvg}


if __name__ == "__main__":
    import json
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: report_browser.py REPORT.html OUT.png")
    print(json.dumps(render(sys.argv[1], sys.argv[2]), indent=1))
