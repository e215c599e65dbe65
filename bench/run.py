"""Run the benchmarks, print the table, write bench/results/latest.json and the table into docs/performance.md.

    python bench/run.py            # full sizes (make bench)
    python bench/run.py --quick    # tiny sizes: the smoke run the test suite makes
"""

import argparse
import importlib
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for path in (BENCH, os.path.join(ROOT, 'tests'), os.path.join(ROOT, 'build', 'collections')):
    if path not in sys.path:
        sys.path.insert(0, path)

import report  # noqa: E402

BENCHMARKS = ('engine_floor', 'ansible_task', 'contention', 'history', 'pool_size', 'memory', 'waiting_cost',
              'playbook_contention', 'network')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='tiny sizes (smoke run)')
    parser.add_argument('--only', nargs='+', choices=BENCHMARKS, default=BENCHMARKS, help='run only these')
    parser.add_argument('--results', default=os.path.join(BENCH, 'results', 'latest.json'), help='JSON output')
    parser.add_argument('--docs', default=os.path.join(ROOT, 'docs', 'performance.md'),
                        help='markdown file whose generated section gets the table ("" to skip)')
    options = parser.parse_args(argv)
    sections = {}
    for name in options.only:
        started = time.monotonic()
        print('running %s ...' % name, file=sys.stderr, flush=True)
        sections[name] = importlib.import_module(name).run(options.quick)
        sections[name]['seconds'] = round(time.monotonic() - started, 1)
    results = report.results(sections, options.quick)
    print(report.markdown(results))
    report.write_json(results, options.results)
    if options.docs:
        report.write_docs(results, options.docs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
