"""``python -m sb3_rpg.tune``: see :mod:`sb3_rpg.tune.cli` and docs/tuning.md."""

import sys

from sb3_rpg.tune.cli import main

if __name__ == "__main__":
    sys.exit(main())
