"""A page's elements as a test reads them: the status page as we render it, or the DOM a browser dumped."""

from html.parser import HTMLParser

_VOID = ('meta', 'br', 'rect', 'input')  # elements that hold no text and have no end tag


class Elements(HTMLParser):
    """Every element of a page, in document order, as [tag, attributes, the text inside it]."""

    def __init__(self, text):
        HTMLParser.__init__(self)
        self.found, self.open = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = [tag, dict(attrs), '']
        self.found.append(element)
        if tag not in _VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for element in self.open:
            element[2] += data

    def lock(self, name, pool=None):
        """The element of lock ``name`` (of ``pool``'s section when given: a name may be in several pools)."""
        start = 0 if pool is None else next(index for index, element in enumerate(self.found) if element[1].get('data-pool') == pool)
        return next(element for element in self.found[start:] if element[1].get('data-lock') == name)
