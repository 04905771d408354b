"""One cell's sweep in a process of its own: what ``run_fair(cells_at_once=K)`` starts per cell.

``python -m coordconv.experiments.fair.driver '<json>'`` calls ``sweep.run_sweep(**json)`` (the
JSON holds its arguments, ``address`` naming the Ray cluster the cells share) and exits 0 when
the sweep and its final runs are done, 130 when interrupted (the sweep resumes on the next run),
1 on an error (printed). Separate driver processes, not threads: Ray Tune's controller expects
the main thread of its process (signals), one Tuner at a time.
"""

from __future__ import annotations

import json
import sys

from coordconv.experiments.fair.sweep import run_sweep


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m coordconv.experiments.fair.driver '<run_sweep arguments as JSON>'")
        return 2
    kwargs = json.loads(argv[1])
    kwargs["rungs"] = tuple(kwargs.get("rungs", ()))
    try:
        run_sweep(**kwargs)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
