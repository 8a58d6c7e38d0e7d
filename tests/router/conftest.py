"""The training code lives in tools/router_training (it is not part of the shipped package);
the tests that check it import it from there, as tools/train_router.py does."""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
