import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from labutil import Lab, lab_skip_reason  # noqa: E402

# tests/in_node/ runs inside a lab node (test_lab.py starts it there).
collect_ignore = [] if os.environ.get("GECKO_PY_IN_NODE") else ["in_node"]


@pytest.fixture(scope="session")
def lab():
    """One lab (3 nodes, 2 clients) for the lab tests, down at the end."""
    reason = lab_skip_reason()
    if reason and os.environ.get("GECKO_PY_LAB_REQUIRED"):
        pytest.fail(f"lab tests required (GECKO_PY_LAB_REQUIRED) but: {reason}")
    if reason:
        pytest.skip(reason)
    lab = Lab("gk-py-lab", nodes=3, clients=2)
    yield lab
    lab.down()


@pytest.fixture
def servers(lab):
    """Kills whatever a test started in the lab, however it ends."""
    yield lab
    lab.kill_all()
