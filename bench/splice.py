"""Replace the results blocks of a markdown file with the benches' outputs.

``python bench/splice.py docs/PERFORMANCE.md bench/results`` puts ``bench/results/NAME.md`` between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; blocks without a fresh result keep their text.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def splice(doc: str, results: dict[str, str]) -> tuple[str, list[str]]:
    """The document with each named block replaced; also the names that had no block in the document."""
    missing = []
    for name, body in sorted(results.items()):
        pattern = re.compile(rf"(<!-- bench:{re.escape(name)} -->\n).*?(<!-- /bench:{re.escape(name)} -->)", re.S)
        if not pattern.search(doc):
            missing.append(name)
            continue
        doc = pattern.sub(lambda m, body=body: m.group(1) + body.rstrip() + "\n" + m.group(2), doc)
    return doc, missing


def main() -> None:
    target, folder = Path(sys.argv[1]), Path(sys.argv[2])
    results = {p.stem: p.read_text() for p in sorted(folder.glob("*.md")) if p.read_text().strip()}
    doc, missing = splice(target.read_text(), results)
    target.write_text(doc)
    for name in missing:
        print(f"splice: {target} has no <!-- bench:{name} --> block; add one where its results belong", file=sys.stderr)
    print(f"splice: {len(results) - len(missing)} result block(s) written to {target}")


if __name__ == "__main__":
    main()
