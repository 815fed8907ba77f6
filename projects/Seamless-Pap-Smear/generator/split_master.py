"""Split <master>/severe_dysplastic into train/valid/test by source cell: python split_master.py [--help]."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from flexunet.cli import split_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(split_main())
