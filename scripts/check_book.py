#!/usr/bin/env python
"""Check the built book in headless Chromium: equations typeset, figures shown and captioned,
nothing clipped, nothing remote.

For every page of ``_build/html`` this renders a copy of the page with a small probe script
added (``chromium --headless --dump-dom``), once per window width (``WIDTHS``: a desktop and a
phone); the probe waits for MathJax to finish and writes what it finds into the DOM. A page
fails if

- it has math (Sphinx ``math`` elements) and MathJax did not typeset all of it
  (fewer ``mjx-container`` elements than math elements, or any ``mjx-merror``), or raw TeX
  (``$$``, ``\\[``, ``\\(``, a lone ``$``, or a command such as ``\\lambda``) is left in the
  visible text outside code;
- any image did not load (not complete, or natural width or height 0);
- it is a notebook page with fewer loaded figures than the ``.ipynb`` shows (image outputs of
  cells not tagged ``remove-output``/``remove-cell``), or a figure has no caption;
- at any width, a visible element reaches beyond the content column, or a box of the column
  scrolls sideways (its content is wider than it is): what a reader would see clipped;
- it loads a script, stylesheet or image from the network (the book must work offline).

Before the pages, every entry of ``book/references.bib`` must be cited (``{cite}`` in the
book's Markdown or the notebooks) and every cited key must be in it.

Screenshots of every page at every width go to ``_build/check/`` (``--no-screenshots`` to
skip them). Chromium: Debian's ``chromium`` (``apt-get install chromium``) or ``$CHROMIUM``.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"genindex.html", "search.html", "index.html"}
WIDTHS = {"desktop": (1280, 2000), "phone": (400, 1600)}
PROBE = """
<script>
window.addEventListener("load", function () {
  function describe(el) {
    var text = (el.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 60);
    var cls = (el.getAttribute("class") || "").split(" ").slice(0, 2).join(".");
    return el.tagName.toLowerCase() + (cls ? "." + cls : "") + (text ? " '" + text + "'" : "");
  }
  function contentRight(el) {
    // the right edge of what el shows (MathJax's invisible assistive MathML excluded)
    var right = -Infinity, kids = el.querySelectorAll("*");
    for (var k = 0; k < kids.length; k++) {
      if (kids[k].closest("mjx-assistive-mml")) continue;
      var kr = kids[k].getBoundingClientRect();
      if (kr.width && kr.height) right = Math.max(right, kr.right);
    }
    return right;
  }
  function clipped() {
    // visible elements of the content column that reach beyond it, or boxes that scroll sideways
    var col = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
    var box = col.getBoundingClientRect(), found = [];
    var all = col.querySelectorAll("*");
    for (var i = 0; i < all.length && found.length < 8; i++) {
      var el = all[i], r = el.getBoundingClientRect();
      if (!r.width || !r.height || found.some(function (f) { return f.el.contains(el); })) continue;
      if (el.closest("mjx-assistive-mml") || (!el.children.length && !el.textContent.trim())) continue;
      var style = getComputedStyle(el);
      if (style.visibility === "hidden" || style.position === "fixed") continue;
      var wide = r.right > box.right + 1 || r.left < box.left - 1;
      var scrolls = /auto|scroll|hidden/.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1
                    && el.clientWidth > 0 && contentRight(el) > r.right + 1;
      if (wide || scrolls) {
        found.push({el: el, what: describe(el) + (wide ? ": " + Math.round(r.width) + " px wide in a "
                   + Math.round(box.width) + " px column" : ": scrolls sideways (" + el.scrollWidth + " > "
                   + el.clientWidth + " px)")});
      }
    }
    return found.map(function (f) { return f.what; });
  }
  function report() {
    var imgs = Array.prototype.slice.call(document.querySelectorAll("img"));
    var res = {
      mathjax: !!(window.MathJax && window.MathJax.startup),
      mjx: document.querySelectorAll("mjx-container").length,
      merror: document.querySelectorAll("mjx-merror").length,
      images: imgs.map(function (i) {
        var fig = i.closest("figure");
        return {src: i.getAttribute("src"), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
                caption: !!(fig && fig.querySelector("figcaption"))};
      }),
      clipped: clipped()
    };
    // the visible text outside code and typeset math, for raw TeX
    var clone = document.body.cloneNode(true);
    clone.querySelectorAll("script, style, pre, code, mjx-container, textarea").forEach(function (e) { e.remove(); });
    res.text = clone.textContent;
    parent.postMessage("gdd-check:" + JSON.stringify(res), "*");
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


def remote_assets(page_html: str) -> list[str]:
    found = re.findall(r"<(?:script|img|iframe)\b[^>]*\bsrc=\"(https?:)?//([^\"]+)\"", page_html, re.I)
    links = [m for m in re.findall(r"<link\b[^>]*>", page_html, re.I)
             if re.search(r"rel=\"(stylesheet|preload|modulepreload)\"", m) and re.search(r"href=\"(https?:)?//", m)]
    return [f"//{host}" for _, host in found] + links


def expected_figures(page: Path, html_root: Path, source_root: Path = ROOT) -> int | None:
    """How many figures the notebook of ``page`` shows: image outputs of cells the book keeps."""
    rel = page.relative_to(html_root).with_suffix(".ipynb")
    nb = source_root / rel
    if not nb.exists():
        return None
    cells = json.loads(nb.read_text())["cells"]
    hidden = {"remove-output", "remove_output", "remove-cell", "remove_cell"}
    return sum(1 for c in cells if c["cell_type"] == "code" and not hidden & set(c.get("metadata", {}).get("tags", []))
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))


RAW_TEX = re.compile(r"\$\$|\\\[|\\\(|\$|\\[a-zA-Z]{2,}")  # delimiters, or a command like \lambda


# The page with the probe is shown in an iframe of the width to check (a headless window is at
# least 500 px wide); the probe posts its report to this frame, which writes it into its DOM.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<pre id="gdd-check"></pre><pre id="gdd-text"></pre>
<iframe src="{src}" style="border:0;width:{w}px;height:{h}px"></iframe>
<script>
window.addEventListener("message", function (e) {{
  if (typeof e.data === "string" && e.data.indexOf("gdd-check:") === 0) {{
    document.getElementById("gdd-check").textContent = e.data.slice(10);
  }}
}});
</script></body></html>"""


def probe(exe: str, page: Path, width: tuple[int, int], budget_ms: int) -> dict | None:
    """Render ``page`` with the probe at ``width`` pixels; the probe's report (None: no report)."""
    source = page.read_text()
    probe_page = page.with_name(page.stem + ".gdd-check.html")
    frame = page.with_name(page.stem + ".gdd-frame.gdd-check.html")
    probe_page.write_text(source.replace("</body>", PROBE + "</body>") if "</body>" in source else source + PROBE)
    frame.write_text(FRAME.format(src=probe_page.name, w=width[0], h=width[1]))
    try:
        with tempfile.TemporaryDirectory() as prof:
            dom = chromium(exe, [f"--virtual-time-budget={budget_ms}", f"--window-size={max(width[0], 500)},{width[1]}",
                                 "--dump-dom", frame.as_uri()], prof)
    finally:
        probe_page.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    m = re.search(r"<pre id=\"gdd-check\"[^>]*>(.+?)</pre>", dom, re.S)
    return json.loads(html.unescape(m.group(1))) if m else None


def check_page(exe: str, page: Path, html_root: Path, shots: Path | None, budget_ms: int,
               source_root: Path = ROOT) -> tuple[list[str], dict]:
    source = page.read_text()
    problems = [f"remote asset {a}" for a in remote_assets(source)]
    n_math = len(re.findall(r"class=\"math[ \"]", source))
    stats: dict = {"math": n_math}
    for name, width in WIDTHS.items():
        res = probe(exe, page, width, budget_ms)
        if res is None:
            problems.append(f"{name}: the probe did not report (page did not finish loading?)")
            continue
        problems += [f"{name} ({width[0]} px): clipped: {c}" for c in res["clipped"]]
        stats[f"clipped at {width[0]} px"] = len(res["clipped"])
        if shots is not None:
            shot = shots / (str(page.relative_to(html_root).with_suffix("")).replace(os.sep, "__") + f"-{width[0]}.png")
            with tempfile.TemporaryDirectory() as prof:
                chromium(exe, [f"--virtual-time-budget={budget_ms}", f"--window-size={width[0]},{width[1]}",
                               f"--screenshot={shot}", page.as_uri()], prof)
            if not shot.exists() or shot.stat().st_size == 0:
                problems.append(f"no screenshot written to {shot}")
        if name != "desktop":
            continue
        stats.update(typeset=res["mjx"], images=len(res["images"]))
        if n_math:
            if not res["mathjax"]:
                problems.append("MathJax did not load")
            if res["mjx"] < n_math:
                problems.append(f"{n_math} math elements but only {res['mjx']} typeset by MathJax")
            if res["merror"]:
                problems.append(f"{res['merror']} MathJax errors (mjx-merror)")
        text = res["text"]
        raw = RAW_TEX.search(text)  # any "$" or TeX command left outside code is math that did not parse
        if raw:
            i = raw.start()
            problems.append(f"raw TeX {raw.group()!r} left in the page: "
                            f"...{' '.join(text[max(0, i - 60):i + 60].split())}...")
        bad = [i["src"] for i in res["images"] if not i["complete"] or not i["w"] or not i["h"]]
        problems += [f"image not loaded: {src}" for src in bad]
        figures = [i for i in res["images"] if "_images/" in (i["src"] or "") and i["w"] and i["h"]]
        stats["figures"] = len(figures)
        stats["captioned"] = sum(i["caption"] for i in figures)
        problems += [f"figure without a caption: {i['src']}" for i in figures if not i["caption"]]
        want = expected_figures(page, html_root, source_root)
        if want is not None:
            stats["expected_figures"] = want
            if len(figures) < want:
                problems.append(f"the notebook shows {want} figures, the page {len(figures)}")
    return problems, stats


def citations(root: Path = ROOT) -> list[str]:
    """Problems with the bibliography: entries never cited, citations of missing entries, and
    sources of published numbers (``gdd.published``) whose bibliography keys are missing."""
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (root / "book" / "references.bib").read_text(), re.M))
    sources = [*(root / "book").glob("*.md"), *(root / "notebooks").glob("[0-9][0-9]_*.py")]
    cited = {k.strip() for f in sources for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", f.read_text())
             for k in group.split(",")}
    sys.path.insert(0, str(root))
    from gdd import published
    named = {k for v in vars(published).values() if isinstance(v, published.Source) for k in v.keys}
    return ([f"references.bib: {k} is never cited; cite it or remove it" for k in sorted(keys - cited)]
            + [f"cited but not in references.bib: {k}" for k in sorted(cited - keys)]
            + [f"gdd/published.py names a source key not in references.bib: {k}" for k in sorted(named - keys)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "check")
    ap.add_argument("--no-screenshots", action="store_true")
    ap.add_argument("--source-root", type=Path, default=ROOT, help="where the book's .ipynb sources are")
    ap.add_argument("--budget-ms", type=int, default=15000, help="Chromium's virtual time budget per page")
    args = ap.parse_args(argv)
    start = time.time()
    html_root = args.html.resolve()
    if not html_root.is_dir():
        raise SystemExit(f"check-book: {html_root} does not exist; run `make book` first")
    exe = find_chromium()
    shots = None if args.no_screenshots else args.screenshots.resolve()
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    bib = citations(args.source_root.resolve())
    for problem in bib:
        print(f"FAIL {problem}")
    pages = sorted(p for p in html_root.rglob("*.html")
                   if not {"_static", "_sources", "_images"} & set(p.relative_to(html_root).parts)
                   and p.name not in SKIP and not p.name.endswith(".gdd-check.html"))
    failed, totals = 0, {"math": 0, "typeset": 0, "figures": 0, "captioned": 0}
    for page in pages:
        problems, stats = check_page(exe, page, html_root, shots, args.budget_ms, args.source_root.resolve())
        for k in totals:
            totals[k] += stats.get(k, 0)
        name = page.relative_to(html_root)
        summary = ", ".join(f"{k} {v}" for k, v in stats.items())
        print(f"{'FAIL' if problems else 'ok  '} {name}: {summary}", flush=True)
        for p in problems:
            print(f"     - {p}")
        failed += bool(problems)
    print(f"check-book: {len(pages) - failed}/{len(pages)} pages pass at {' and '.join(f'{w} px' for w, _ in WIDTHS.values())}; "
          f"{totals['typeset']} equations typeset (of {totals['math']} math elements), {totals['figures']} figures "
          f"loaded ({totals['captioned']} captioned); bibliography: {len(bib)} problems; {time.time() - start:.0f} s"
          + (f"; screenshots in {shots}" if shots else ""))
    return 1 if failed or bib else 0


if __name__ == "__main__":
    sys.exit(main())
