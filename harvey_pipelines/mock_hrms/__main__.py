"""``python -m harvey_pipelines.mock_hrms --port 8765 --tenant acme:1:50 --tenant globex:2:500``"""

from __future__ import annotations

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
