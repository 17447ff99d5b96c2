#!/usr/bin/env python3
"""Checks the layering that docs/design.md states: each folder of src/ may include only the
folders listed above it in the document's layer table (and itself). Test files (*_test.cc) are
exempt: a test may compare against any layer. A folder of src/ missing from the table, or a
table row naming no folder, is an error too, so the document cannot drift from the tree.

Usage: scripts/check_layers.py [REPO_ROOT]    (exit 1 and one line per violation on failure)
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
doc_path = os.path.join(root, "docs", "design.md")
src = os.path.join(root, "src")

# The layer table: the rows between the "## Layers" heading and the next heading whose first
# cell is a `src/<folder>/` path, in order.
layers = []
in_layers = False
with open(doc_path, encoding="utf-8") as f:
    for line in f:
        if line.startswith("## "):
            in_layers = line.startswith("## Layers")
            continue
        m = re.match(r"\|\s*`src/([a-z_]+)/`", line)
        if in_layers and m:
            layers.append(m.group(1))
if not layers:
    sys.exit(f"{doc_path}: no layer table (rows like | `src/base/` | ... | under '## Layers')")

rank = {name: i for i, name in enumerate(layers)}
errors = []
folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
for d in folders:
    if d not in rank:
        errors.append(f"src/{d}/: not in the layer table of docs/design.md")
for name in layers:
    if name not in folders:
        errors.append(f"docs/design.md: layer src/{name}/ does not exist")

# Both spellings compile (src/ is an include directory of every target), so both are checked:
# #include "train/trainer.h", #include <train/trainer.h>, and relative "../train/trainer.h".
include = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
checked = 0
for d in folders:
    if d not in rank:
        continue
    for dirpath, _, files in os.walk(os.path.join(src, d)):
        for name in sorted(files):
            if not name.endswith((".h", ".cc", ".cu", ".cuh")) or name.endswith("_test.cc"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            checked += 1
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = include.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    if target.startswith("."):  # relative to the including file
                        target = os.path.relpath(
                            os.path.normpath(os.path.join(dirpath, target)), src)
                    first = target.split("/")[0]
                    if first in ("tests", "..") or target.startswith("../tests/"):
                        errors.append(f"{rel}:{lineno}: production code includes test code "
                                      f"({m.group(1)})")
                        continue
                    if "/" not in target or first not in rank:
                        continue  # a system or library header
                    if rank[first] > rank[d]:
                        errors.append(f"{rel}:{lineno}: src/{d}/ includes src/{first}/, which "
                                      f"docs/design.md puts below it")

for e in errors:
    print(e)
if errors:
    sys.exit(1)
print(f"layers: {checked} files in {len(layers)} folders follow docs/design.md "
      f"({' < '.join(layers)})")
