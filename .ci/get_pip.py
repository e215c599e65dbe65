# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the pip bootstrap script that ansible-test downloads from a host these machines cannot reach.

ansible-test runs it in a new virtualenv as ``python get_pip.py [options] [packages]``: install pip with
ensurepip, then install the packages with it. ``--no-setuptools`` and ``--no-wheel`` are options of the
real get-pip script that pip itself does not know.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main(arguments):
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
    pip_arguments = [argument for argument in arguments if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + pip_arguments)


if __name__ == '__main__':
    main(sys.argv[1:])
