"""Lines of the run summaries that depend on what a run did."""

from __future__ import annotations

import pytest

from pipeline.cli.training import tuning_line

SUMMARY = {"trials": 10, "complete": 6, "pruned": 4, "best_value": 0.91234}


@pytest.mark.parametrize(("resumed", "says"), [
    (0, "tuning: 6 complete / 10 trials (4 pruned), best fold-mean AUC 0.9123"),
    (3, "tuning: 6 complete / 10 trials (4 pruned, 3 resumed from an earlier run), best fold-mean AUC 0.9123"),
    (10, "tuning: 6 complete / 10 trials (4 pruned; all 10 from an earlier run on the same data, date and settings, "
         "none run now), best fold-mean AUC 0.9123"),
])
def test_tuning_line_says_which_trials_ran_now(resumed, says):
    assert tuning_line({**SUMMARY, "resumed_trials": resumed}) == says
