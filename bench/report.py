"""The benchmarks' results as JSON and as the markdown table docs/performance.md carries."""

import datetime
import json
import os
import platform
import subprocess

BEGIN = '<!-- bench:begin (written by make bench; edit outside these markers) -->'
END = '<!-- bench:end -->'


def machine():
    """A one-line description of the machine the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as handle:
            names = [line.split(':', 1)[1].strip() for line in handle if line.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30
    git_version = subprocess.run(['git', '--version'], check=False, capture_output=True, text=True).stdout.strip()
    return '%s, %d cores, %.0f GiB, %s, Python %s, %s, load average %.2f at start' % (
        cpu, os.cpu_count(), memory, platform.platform(terse=True), platform.python_version(), git_version,
        os.getloadavg()[0])


def results(sections, quick):
    return dict(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
                machine=machine(), quick=quick, sections=sections)


def _number(value, unit):
    if unit == 's':
        return '%.3f s' % value if value < 10 else '%.1f s' % value
    if unit == 'KiB':
        return '%.1f MiB' % (value / 1024.0)
    if isinstance(value, float):
        return '%.3g%s' % (value, (' ' + unit) if unit else '')
    return '%s%s' % (value, (' ' + unit) if unit else '')


def markdown(data):
    lines = ['Measured %s on %s%s.' % (data['date'], data['machine'], ' (--quick sizes)' if data['quick'] else ''), '']
    lines += ['| benchmark | figure | baseline | ratio |', '|---|---|---|---|']
    for section in data['sections'].values():
        for entry in section['rows']:
            baseline = ''
            if 'baseline' in entry:
                baseline = '%s (%s)' % (_number(entry['baseline'], entry['unit']), entry['baseline_label'])
            ratio = '%.2fx' % entry['ratio'] if 'ratio' in entry else ''
            lines.append('| %s: %s | %s | %s | %s |' % (section['title'], entry['label'], _number(entry['value'], entry['unit']),
                                                        baseline, ratio))
    for section in data['sections'].values():
        if section.get('table'):
            columns = section['table']['columns']
            lines += ['', '%s:' % section['title'], '', '| %s |' % ' | '.join(columns), '|%s' % ('---|' * len(columns))]
            lines += ['| %s |' % ' | '.join(str(cell) for cell in cells) for cells in section['table']['rows']]
    lines += ['', '| target | figure | met |', '|---|---|---|']
    for section in data['sections'].values():
        for entry in section['targets']:
            lines.append('| %s | %s | %s |' % (entry['target'], entry['figure'], 'yes' if entry['met'] else '**no**'))
    return '\n'.join(lines) + '\n'


def write_json(data, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write('\n')


def write_docs(data, path):
    """Replace the generated section of ``path`` (between BEGIN and END) with the table."""
    text = open(path).read() if os.path.exists(path) else '# Performance\n\n%s\n%s\n' % (BEGIN, END)
    head, _begin, rest = text.partition(BEGIN)
    _old, _end, tail = rest.partition(END)
    if not _begin or not _end:
        head, tail = text.rstrip('\n') + '\n\n', '\n'
    with open(path, 'w') as handle:
        handle.write(head + BEGIN + '\n' + markdown(data) + END + tail)
