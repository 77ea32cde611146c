"""Runs fitted once per module on the small tables of ``api_data``."""

import pytest
from api_data import FAST, interactions

import advrec


@pytest.fixture(scope="module")
def df():
    return interactions()


@pytest.fixture(scope="module")
def apr_run(df, tmp_path_factory):
    """APR-MF, 4 epochs, in a folder of its own."""
    out = tmp_path_factory.mktemp("apr") / "run"
    return advrec.fit(
        df,
        model={"name": "mf", "dim": 8},
        adversary={"name": "apr", "eps": 0.5},
        epochs=4,
        seed=3,
        set=FAST,
        out=out,
        progress=False,
    )
