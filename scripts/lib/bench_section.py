"""Replaces (or appends) one marked section of docs/benchmarks.md (or FILE).

Usage: bench_section.py MARKER [FILE] < section.md
The section text must start with <!-- MARKER:start --> and end with <!-- MARKER:end -->.
"""
import re
import sys

marker = sys.argv[1]
section = sys.stdin.read().strip()
path = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks.md"
try:
    text = open(path).read()
except FileNotFoundError:
    title = "Reliability" if path.endswith("reliability.md") else "Benchmarks"
    text = f"# {title}\n\nEvery figure here is written by a script in `scripts/`; rerun it to refresh.\n"
pattern = re.compile(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
print(section)
