"""The attacked set shared by the detector tests (built once per module)."""

import pytest
from detection_data import attacked_set


@pytest.fixture(scope="module")
def attacked():
    return attacked_set()
