#!/usr/bin/env python
"""Check the built book in headless Chromium: equations typeset, figures shown, nothing remote.

For every page of ``_build/html`` this renders a copy of the page with a small probe script
added (``chromium --headless --dump-dom``); the probe waits for MathJax to finish and writes
what it finds into the DOM. A page fails if

- it has math (Sphinx ``math`` elements) and MathJax did not typeset all of it
  (fewer ``mjx-container`` elements than math elements, or any ``mjx-merror``), or raw TeX
  delimiters (``$$``, ``\\[``, ``\\(``, or a lone ``$``) are left in the visible text outside code;
- any image did not load (not complete, or natural width or height 0);
- it is a notebook page with fewer loaded figures than the ``.ipynb`` has image outputs;
- it loads a script, stylesheet or image from the network (the book must work offline).

Screenshots of every page go to ``_build/check/`` (``--no-screenshots`` to skip them).
Chromium: Debian's ``chromium`` (``apt-get install chromium``) or ``$CHROMIUM``.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"genindex.html", "search.html", "index.html"}
PROBE = """
<script>
window.addEventListener("load", function () {
  function report() {
    var imgs = Array.prototype.slice.call(document.querySelectorAll("img"));
    var res = {
      mathjax: !!(window.MathJax && window.MathJax.startup),
      mjx: document.querySelectorAll("mjx-container").length,
      merror: document.querySelectorAll("mjx-merror").length,
      images: imgs.map(function (i) {
        return {src: i.getAttribute("src"), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight};
      })
    };
    var pre = document.createElement("pre");
    pre.id = "gdd-check";
    pre.textContent = JSON.stringify(res);
    document.body.appendChild(pre);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(report, report);
  } else {
    report();
  }
});
</script>
"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--allow-file-access-from-files", "--hide-scrollbars"]


def find_chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise SystemExit("check-book: no Chromium found; install it (Debian: apt-get install -y chromium) "
                     "or set CHROMIUM=/path/to/chrome")


def chromium(exe: str, args: list[str], profile_dir: str, timeout: int = 90) -> str:
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return out.stdout


def visible_text(dom: str) -> str:
    """The DOM without scripts, styles, code, MathJax's own markup and the probe."""
    dom = re.sub(r"<(script|style|pre|code|mjx-container|textarea)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def remote_assets(page_html: str) -> list[str]:
    found = re.findall(r"<(?:script|img|iframe)\b[^>]*\bsrc=\"(https?:)?//([^\"]+)\"", page_html, re.I)
    links = [m for m in re.findall(r"<link\b[^>]*>", page_html, re.I)
             if re.search(r"rel=\"(stylesheet|preload|modulepreload)\"", m) and re.search(r"href=\"(https?:)?//", m)]
    return [f"//{host}" for _, host in found] + links


def expected_figures(page: Path, html_root: Path, source_root: Path = ROOT) -> int | None:
    rel = page.relative_to(html_root).with_suffix(".ipynb")
    nb = source_root / rel
    if not nb.exists():
        return None
    cells = json.loads(nb.read_text())["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code"
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))


def check_page(exe: str, page: Path, html_root: Path, shots: Path | None, budget_ms: int,
               source_root: Path = ROOT) -> tuple[list[str], dict]:
    source = page.read_text()
    problems = [f"remote asset {a}" for a in remote_assets(source)]
    n_math = len(re.findall(r"class=\"math[ \"]", source))
    probe_page = page.with_name(page.stem + ".gdd-check.html")
    probe_page.write_text(source.replace("</body>", PROBE + "</body>") if "</body>" in source else source + PROBE)
    try:
        with tempfile.TemporaryDirectory() as prof:
            dom = chromium(exe, [f"--virtual-time-budget={budget_ms}", "--dump-dom", probe_page.as_uri()], prof)
    finally:
        probe_page.unlink(missing_ok=True)
    m = re.search(r"<pre id=\"gdd-check\"[^>]*>(.*?)</pre>", dom, re.S)
    if not m:
        return problems + ["the probe did not report (page did not finish loading?)"], {"math": n_math}
    res = json.loads(html.unescape(m.group(1)))
    stats = {"math": n_math, "typeset": res["mjx"], "images": len(res["images"])}
    if n_math:
        if not res["mathjax"]:
            problems.append("MathJax did not load")
        if res["mjx"] < n_math:
            problems.append(f"{n_math} math elements but only {res['mjx']} typeset by MathJax")
        if res["merror"]:
            problems.append(f"{res['merror']} MathJax errors (mjx-merror)")
    text = visible_text(dom)
    for delim in ("$$", "\\[", "\\(", "$"):  # any "$" left outside code is math that did not parse
        if delim in text:
            i = text.index(delim)
            problems.append(f"raw TeX {delim!r} left in the page: ...{' '.join(text[max(0, i - 60):i + 60].split())}...")
            break
    bad = [i["src"] for i in res["images"] if not i["complete"] or not i["w"] or not i["h"]]
    problems += [f"image not loaded: {src}" for src in bad]
    figures = [i for i in res["images"] if "_images/" in (i["src"] or "") and i["w"] and i["h"]]
    stats["figures"] = len(figures)
    want = expected_figures(page, html_root, source_root)
    if want is not None:
        stats["expected_figures"] = want
        if len(figures) < want:
            problems.append(f"the notebook has {want} figures, the page shows {len(figures)}")
    if shots is not None:
        shot = shots / (str(page.relative_to(html_root).with_suffix("")).replace(os.sep, "__") + ".png")
        with tempfile.TemporaryDirectory() as prof:
            chromium(exe, [f"--virtual-time-budget={budget_ms}", "--window-size=1280,2000",
                           f"--screenshot={shot}", page.as_uri()], prof)
        if not shot.exists() or shot.stat().st_size == 0:
            problems.append(f"no screenshot written to {shot}")
    return problems, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "check")
    ap.add_argument("--no-screenshots", action="store_true")
    ap.add_argument("--source-root", type=Path, default=ROOT, help="where the book's .ipynb sources are")
    ap.add_argument("--budget-ms", type=int, default=15000, help="Chromium's virtual time budget per page")
    args = ap.parse_args(argv)
    html_root = args.html.resolve()
    if not html_root.is_dir():
        raise SystemExit(f"check-book: {html_root} does not exist; run `make book` first")
    exe = find_chromium()
    shots = None if args.no_screenshots else args.screenshots.resolve()
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    pages = sorted(p for p in html_root.rglob("*.html")
                   if not {"_static", "_sources", "_images"} & set(p.relative_to(html_root).parts)
                   and p.name not in SKIP and not p.name.endswith(".gdd-check.html"))
    failed, totals = 0, {"math": 0, "typeset": 0, "figures": 0}
    for page in pages:
        problems, stats = check_page(exe, page, html_root, shots, args.budget_ms, args.source_root.resolve())
        for k in totals:
            totals[k] += stats.get(k, 0)
        name = page.relative_to(html_root)
        summary = ", ".join(f"{k} {v}" for k, v in stats.items())
        print(f"{'FAIL' if problems else 'ok  '} {name}: {summary}")
        for p in problems:
            print(f"     - {p}")
        failed += bool(problems)
    print(f"check-book: {len(pages) - failed}/{len(pages)} pages pass; {totals['typeset']} equations typeset "
          f"(of {totals['math']} math elements), {totals['figures']} figures loaded"
          + (f"; screenshots in {shots}" if shots else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
