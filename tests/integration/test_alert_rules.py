"""The shipped alert rules (deploy/feed-archiver-rules.yml), checked and unit-tested by Prometheus's own
`promtool` on synthetic series.

promtool comes with Prometheus (Debian: `apt-get install prometheus`, which .ci/run installs); without it this
test is skipped, and fails in CI (`CI=true`), which must run it.
The series names themselves are checked against a live scrape in test_metrics.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

RULES = Path(__file__).parents[2] / "deploy" / "feed-archiver-rules.yml"


def test_the_shipped_alert_rules_fire_when_they_should(tmp_path: Path) -> None:
    """A feed failing for 25 h alerts, one that failed 12 h and recovered does not; no success for an hour
    alerts, successes every 30 min do not (rules_test.yml)."""
    if shutil.which("promtool") is None:
        reason = "promtool (Prometheus) is not installed: apt-get install prometheus"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(reason + " (CI must run this test)", pytrace=False)
        pytest.skip(reason)
    shutil.copy(RULES, tmp_path / "rules.yml")
    shutil.copy(FIXTURES / "prometheus" / "rules_test.yml", tmp_path / "test.yml")
    checked = subprocess.run(["promtool", "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
