"""The benchmark code at tiny sizes: every benchmark runs, reports its shape, and no lock ever had two holders."""

import json
import os
import subprocess

from support.modules import PYTHON, ROOT, module_env

SECTIONS = {'engine_floor', 'ansible_task', 'contention', 'history', 'pool_size', 'memory', 'playbook_contention', 'network',
            'waiting_cost'}


def test_quick_bench_reports_every_benchmark_with_no_double_holder(tmp_path):
    results, docs = tmp_path / 'latest.json', tmp_path / 'performance.md'
    completed = subprocess.run([PYTHON, os.path.join(ROOT, 'bench', 'run.py'), '--quick', '--results', str(results),
                                '--docs', str(docs)], check=False, capture_output=True, text=True, env=module_env(), timeout=360)
    assert completed.returncode == 0, completed.stderr[-3000:]
    data = json.loads(results.read_text())
    assert set(data['sections']) == SECTIONS and data['quick'] and data['machine']
    for section in data['sections'].values():
        assert section['targets'] and all({'target', 'figure', 'met'} <= set(entry) for entry in section['targets'])
        assert all({'label', 'value', 'unit'} <= set(entry) for entry in section['rows'])
    for contention_run in data['sections']['contention']['runs']:
        assert contention_run['double_holders'] == [] and contention_run['locks_left_claimed'] == []
        assert 0 < contention_run['utilization'] <= 1
    floor = data['sections']['contention']['handoff_floor']
    assert 0 < floor['push'] < floor['module_start'] < floor['gap']
    for playbook_run in data['sections']['playbook_contention']['variants'][0]['lock_runs']:
        assert playbook_run['double_holders'] == [] and playbook_run['locks_left_claimed'] == []
        assert 0 < playbook_run['utilization'] <= 1
    assert all(way['connections'] >= 1 and way['round_trips'] >= way['connections'] and way['proxied'] > 0
               for way in data['sections']['network']['ways'])
    assert '| target | figure | met |' in completed.stdout
    assert '| target | figure | met |' in docs.read_text()
