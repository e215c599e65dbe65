"""The documentation site `make docs` builds: a page for every plugin and the role, and every guide in docs/.

The build runs once for the module (about 10 s; the first run also makes build/venv-docs from requirements-docs.txt),
into a temporary directory, with Sphinx turning warnings into errors.
"""

import glob
import os
import re
import subprocess

import pytest
import yaml

from support.modules import ROOT

PAGES = os.path.join('build', 'html')
COLLECTION_PAGES = os.path.join(PAGES, 'collections', 'lockpool', 'git')


def plugin_names(kind):
    return sorted(os.path.splitext(os.path.basename(path))[0]
                  for path in glob.glob(os.path.join(ROOT, 'plugins', kind, '*.py')) if not path.endswith('__init__.py'))


def guide_names():
    return sorted(os.path.splitext(os.path.basename(path))[0] for path in glob.glob(os.path.join(ROOT, 'docs', '*.md')))


def role_names():
    return sorted(os.path.basename(os.path.dirname(os.path.dirname(path)))
                  for path in glob.glob(os.path.join(ROOT, 'roles', '*', 'meta', 'argument_specs.yml')))


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    dest = tmp_path_factory.mktemp('docs')
    completed = subprocess.run(['make', '--no-print-directory', 'docs', 'DOCS=%s' % dest], cwd=ROOT, check=False,
                               capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-6000:]
    return dest


def read(site, *parts):
    path = os.path.join(str(site), *parts)
    assert os.path.isfile(path), 'no page %s' % path
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def text_of(html):
    return re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', html))


@pytest.mark.parametrize('kind, suffix', [('modules', 'module'), ('lookup', 'lookup')])
def test_every_plugin_has_its_page_with_its_options(site, kind, suffix):
    names = plugin_names(kind)
    assert names
    for name in names:
        page = read(site, COLLECTION_PAGES, '%s_%s.html' % (name, suffix))
        assert 'lockpool.git.%s %s' % (name, suffix) in text_of(page)
        assert 'Parameters' in page or 'Keyword parameters' in page


def test_the_role_page_documents_every_entry_point_and_variable(site):
    for role in role_names():
        page = text_of(read(site, COLLECTION_PAGES, '%s_role.html' % role))
        with open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
            entry_points = yaml.safe_load(handle)['argument_specs']
        for entry_point, spec in entry_points.items():
            assert 'Entry point %s' % entry_point in page
            for option in spec.get('options', {}):
                assert option in page


def test_every_guide_in_docs_is_a_page_linked_from_the_front_page(site):
    front = read(site, PAGES, 'index.html')
    for guide in guide_names():
        read(site, PAGES, 'guides', guide + '.html')
        assert 'href="guides/%s.html"' % guide in front


def test_the_collection_index_links_every_plugin_and_role(site):
    index = read(site, COLLECTION_PAGES, 'index.html')
    for name in plugin_names('modules'):
        assert 'href="%s_module.html' % name in index
    for name in plugin_names('lookup'):
        assert 'href="%s_lookup.html' % name in index
    for role in role_names():
        assert 'href="%s_role.html' % role in index


def test_no_page_is_an_error_page(site):
    for path in glob.glob(os.path.join(str(site), COLLECTION_PAGES, '*.html')):
        with open(path, encoding='utf-8') as handle:
            assert 'Error while parsing' not in handle.read(), path
