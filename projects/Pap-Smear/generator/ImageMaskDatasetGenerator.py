"""Raw Herlev folders -> <output_dir>/<class>/{images,masks}: python ImageMaskDatasetGenerator.py [CONFIG]."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from flexunet.cli import generate_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(generate_main())
