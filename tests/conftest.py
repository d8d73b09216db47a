import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("ANOTUTOR_BUDGET", "ci")
