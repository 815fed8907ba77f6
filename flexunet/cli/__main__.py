"""python -m flexunet.cli COMMAND [ARGS]: the flexunet-COMMAND console commands without installing."""

import sys

from flexunet.cli import COMMANDS
from flexunet.registry import unknown


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m flexunet.cli COMMAND [ARGS]; commands: {', '.join(COMMANDS)}")
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: {unknown('command', argv[0], COMMANDS, 'command', sort=False)}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
