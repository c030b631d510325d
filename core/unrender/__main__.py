"""``python -m unrender``: the command line (so ``torchrun --nproc_per_node 2 -m unrender train ...`` works)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
