"""Run lockpool.git.pool_lock as its action plugin runs it on the controller: its main() inside the calling process.

    python -m support.in_process_module <args file>

The args file is what Ansible would hand the module (``{"ANSIBLE_MODULE_ARGS": ...}``); what main() prints is printed.
"""

import json
import sys

from ansible_collections.lockpool.git.plugins.action.pool_lock import run_main_in_process


def main(args_path):
    with open(args_path) as handle:
        module_args = json.load(handle)['ANSIBLE_MODULE_ARGS']
    printed = run_main_in_process(module_args)
    sys.stdout.write(printed)
    sys.exit(1 if json.loads(printed).get('failed') else 0)  # as the module's own process exits


if __name__ == '__main__':
    main(sys.argv[1])
