"""The kill load (tests/support/kill_load.py, ``make kill-load``) run small: one kill per phase, each signal once.

The script is run as ``make kill-load`` runs it (``python -m support.kill_load``), with its report written to a
temporary file: real plays of the role, killed while they wait, hold and release, over ``git daemon``; then the
renewal cost, shortened to a few seconds and 4 renewing holders.
"""

import json
import os
import subprocess

import pytest

from support import kill_load
from support.modules import COLLECTIONS, PYTHON, module_env

pytestmark = pytest.mark.timeout(240)

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_plays_killed_while_they_wait_hold_and_release_never_claim_late_and_give_their_lock_back(tmp_path):
    report = tmp_path / 'reliability.md'
    report.write_text('# Reliability\n\nWhat the kill load does not write stays.\n')
    command = [PYTHON, '-m', 'support.kill_load', '3', '1', '--report', str(report), '--renewal-seconds', '3', '--renewers', '4']
    run = subprocess.run(command, capture_output=True, text=True, timeout=200, check=False, cwd=TESTS,
                         env=module_env({'PYTHONPATH': os.pathsep.join([COLLECTIONS, TESTS])}))
    assert run.stdout, run.stderr
    figures = json.loads(run.stdout.splitlines()[-1])
    summary, cost = figures['summary'], figures['renewal_cost']
    assert (summary['kills'], summary['by_phase'], summary['by_signal']) == (
        3, {'waiting': 1, 'holding': 1, 'releasing': 1}, {'SIGKILL': 1, 'SIGTERM': 1, 'SIGINT': 1}), run.stderr
    assert summary['late_claims'] == 0, run.stderr
    assert (summary['back'], summary['lock_checks']) == (2, 2), run.stderr
    assert summary['errors'] == 0 and summary['lock_tasks_left'] == 0, run.stderr
    assert max(summary['ticket_freed']) < 10
    assert max(summary['taken_holding'] + summary['taken_releasing']) <= kill_load.BOUND
    assert cost['errors'] == [] and cost['renewal_commits'] == 0 and cost['other_commits'] == 0
    assert cost['with_renewers']['renewals'] > 0 and cost['alone']['renewals'] == 0
    assert cost['alone']['claims'] > 0 and cost['with_renewers']['claims'] > 0
    assert run.returncode == 0 and figures['passed'], run.stderr

    text = report.read_text()
    assert text.startswith('# Reliability\n\nWhat the kill load does not write stays.\n')
    assert text.count('## Plays killed the way schedulers kill them') == 1
    assert '| late claims (a claim commit by a killed play\'s holder after its kill) | **0** |' in text
    assert '| locks back within the lease (holding and releasing kills) | **2 / 2** |' in text
    assert 'python -m support.kill_load 3 1 --report' in text


def test_the_report_replaces_its_own_section_and_keeps_the_rest(tmp_path):
    report = tmp_path / 'reliability.md'
    report.write_text('# Reliability\n\nbefore\n')
    section = '%s\n## Plays killed the way schedulers kill them\n\nfirst\n%s' % (kill_load.REPORT_BEGIN, kill_load.REPORT_END)
    kill_load.write_report(str(report), section)
    report.write_text(report.read_text() + '\nafter\n')
    kill_load.write_report(str(report), section.replace('first', 'second'))
    text = report.read_text()
    assert text == '# Reliability\n\nbefore\n\n%s\n\nafter\n' % section.replace('first', 'second')


def test_the_kills_are_spread_evenly_over_the_phases_and_mostly_sigkill():
    plan = kill_load.signal_plan(54, seed=1)
    by_phase = dict((phase, [signame for planned, signame in plan if planned == phase]) for phase in kill_load.PHASES)
    assert all(len(signals) == 18 for signals in by_phase.values())
    assert all(sorted(signals) == ['SIGINT'] * 3 + ['SIGKILL'] * 12 + ['SIGTERM'] * 3 for signals in by_phase.values())
