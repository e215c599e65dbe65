"""molecule's scenarios (extensions/molecule/) run as part of the suite: one test per scenario.

Each runs ``molecule test`` with the default driver on localhost, the collection found through
build/collections, and its ephemeral directory (where the scenario makes its lock repository) in tmp_path.
"""

import os
import subprocess

import pytest

from support.modules import PYTHON, ROOT, module_env

SCENARIOS = ['with_lock', 'with_lock_failing']


def test_every_scenario_is_run_by_the_suite():
    found = sorted(name for name in os.listdir(os.path.join(ROOT, 'extensions', 'molecule'))
                   if os.path.exists(os.path.join(ROOT, 'extensions', 'molecule', name, 'molecule.yml')))
    assert found == SCENARIOS


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario_passes(scenario, tmp_path):
    bin_dir = os.path.dirname(PYTHON)
    env = module_env(dict(PATH=bin_dir + os.pathsep + os.environ.get('PATH', ''), LOCKPOOL_PYTHON=PYTHON,
                          MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / 'ephemeral'), NO_COLOR='1', ANSIBLE_NOCOLOR='1'))
    completed = subprocess.run([os.path.join(bin_dir, 'molecule'), 'test', '--scenario-name', scenario],
                               cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-6000:]
