"""mkdocs hook: the Sphinx roles in gatecast's numpydoc docstrings (:class:`~a.b.C`, :func:`f`,
:meth:`m`...), which mkdocstrings leaves as text, rendered as the code they name (``C``, ``f``...).
Not a page: mkdocs.yml excludes this folder from the site."""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):<code>(~?)([^<]+)</code>")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Each ``:role:<code>target</code>`` as ``<code>target</code>`` (``~``: the last name only)."""
    return ROLE.sub(lambda m: f"<code>{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}</code>", html)
