"""Run a command and report its CPU time and peak RSS as JSON on stderr: ``python usage.py COMMAND...``.

A child's peak RSS counts the memory of the process it was forked from, so a
module started straight from the (large) benchmark process would be charged the
benchmark's memory; started from this small process, it is charged its own.
"""

import json
import resource
import subprocess
import sys

completed = subprocess.run(sys.argv[1:], check=False, stderr=subprocess.DEVNULL)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump(dict(cpu=usage.ru_utime + usage.ru_stime, max_rss_kib=usage.ru_maxrss), sys.stderr)
sys.exit(completed.returncode)
