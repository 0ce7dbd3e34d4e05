"""Print the commands of a fenced ``sh`` block of the README, found by the comment marking it: ``<!-- NAME: ... -->``.

.ci/run runs the README's blocks as they are written (``setup``: a fresh clone's first commands; ``tests``: the
test command), so that the README and what CI checks cannot drift apart.

    python .ci/readme_block.py setup [README.md]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def block(name: str, text: str) -> str:
    """The commands of the ``sh`` block right after ``<!-- NAME...-->``; SystemExit when there is none."""
    found = re.search(r"<!-- " + re.escape(name) + r"\b[^>]*-->\s*```sh\n(.*?)```", text, re.S)
    if found is None:
        raise SystemExit(f"the README has no sh block marked <!-- {name}: ... -->")
    return found.group(1)


if __name__ == "__main__":
    print(block(sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else "README.md").read_text()), end="")
