"""``python -m demand_forecast.dashboard``: the same as ``demand-forecast dashboard``."""

import sys

from . import main

sys.exit(main())
