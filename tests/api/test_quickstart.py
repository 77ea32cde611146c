"""examples/python/quickstart.py, the notebook flow, runs end to end and stays within 15 lines."""

import ast
import subprocess
import sys
from pathlib import Path

import advrec

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "python" / "quickstart.py"


def _code_lines(function: ast.FunctionDef, source: list[str]) -> list[str]:
    lines = source[function.body[0].lineno - 1 : function.end_lineno]
    return [line for line in lines if line.strip() and not line.strip().startswith("#")]


def test_the_flow_is_at_most_15_lines_with_reading_the_data():
    source = SCRIPT.read_text(encoding="utf-8")
    functions = {f.name: f for f in ast.parse(source).body if isinstance(f, ast.FunctionDef)}
    flow = _code_lines(functions["quickstart"], source.splitlines())
    assert flow[0].strip() == "import advrec"
    # a notebook also needs `import pandas as pd` and one pd.read_csv line for ML-100K
    assert len(flow) + 2 <= 15, flow


def test_quickstart_runs_on_the_synthetic_table(tmp_path):
    out = tmp_path / "quickstart"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "6", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "<advrec.Run" in text and "mf + apr" in text
    assert "fgsm" in text and "target_hit@10" in text and "before" in text and "after" in text
    run = advrec.load(out)
    results = run.results
    assert set(results["robustness"]["fgsm"]) == {"0.25", "0.5"}
    assert run.config.adversary.name == "apr" and run.config.adversary.start_epoch == 3
    assert (out / "poisoning" / "bandwagon-0.03-mid_5" / "results.json").exists()
    assert len(run.recommend([0], k=10)) == 10
