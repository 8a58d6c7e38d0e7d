"""Entry point of the frozen app (PyInstaller runs this as __main__)."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
