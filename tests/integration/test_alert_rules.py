"""The README's alert rules, checked and unit-tested by Prometheus's own `promtool` on synthetic series.

promtool comes with Prometheus (Debian: `apt-get install prometheus`); without it this test is skipped.
The series names themselves are checked against a live scrape in test_metrics.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

README = Path(__file__).parents[2] / "README.md"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed")
def test_the_readme_alert_rules_fire_when_they_should(tmp_path: Path) -> None:
    """A feed failing for 25 h alerts, one that failed 12 h and recovered does not; no success for an hour
    alerts, successes every 30 min do not (rules_test.yml)."""
    text = README.read_text(encoding="utf-8")
    rules = text[text.index("# feed-archiver-rules.yml"):]
    (tmp_path / "rules.yml").write_text(rules[: rules.index("```")], encoding="utf-8")
    shutil.copy(FIXTURES / "prometheus" / "rules_test.yml", tmp_path / "test.yml")
    checked = subprocess.run(["promtool", "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
