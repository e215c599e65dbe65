"""Per-lock trailers: ``Key: <pool>/<lock> <value>``, one line per lock of a commit that may be about several."""

import re

from ansible_collections.lockpool.git.plugins.module_utils._message import (
    format_message,
    lock_trailer,
    lock_trailer_pattern,
    lock_trailer_value,
)

MESSAGE = format_message('claim', 'env.1, env 2', 'alice', pool='aws',
                         trailers=[lock_trailer('Lock-Token', 'aws/env.1', 7), lock_trailer('Lock-Token', 'aws/env 2', 8)])


def test_the_value_is_read_for_the_named_lock_only():
    assert lock_trailer_value(MESSAGE, 'Lock-Token', 'aws/env.1') == '7'
    assert lock_trailer_value(MESSAGE, 'Lock-Token', 'aws/env 2') == '8'
    assert lock_trailer_value(MESSAGE, 'Lock-Token', 'aws/env') is None


def test_the_subject_line_is_never_a_trailer():
    assert lock_trailer_value('Lock-Token: aws/env-1 3\n', 'Lock-Token', 'aws/env-1') is None


def test_the_pattern_matches_the_lock_name_literally():
    pattern = re.compile(lock_trailer_pattern('Lock-Token', 'aws/env.1'), re.MULTILINE)
    assert pattern.search('x\n\nLock-Token: aws/env.1 7\n')
    assert not pattern.search('x\n\nLock-Token: aws/envX1 7\n')
    assert not pattern.search('x\n\nLock-Token: aws/env.10 7\n')
