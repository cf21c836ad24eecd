"""The field app's shell (the JS and CSS the first load needs) stays under 150 kB compressed:
a tablet on a weak county link must be able to install it (issue floor)."""

from __future__ import annotations

import gzip
import os
import re

import pytest

from server.field.controllers import FIELD_DIST

pytestmark = pytest.mark.skipif(
    not (FIELD_DIST / "index.html").is_file() and os.environ.get("CI") != "true",
    reason="the field app is not built (make assets)",
)

LIMIT = 150 * 1024


def test_the_shell_is_under_150_kb_gzip() -> None:
    index = (FIELD_DIST / "index.html").read_text()
    assets = sorted(set(re.findall(r'(?:src|href)="/field/(assets/[^"]+\.(?:js|css))"', index)))
    assert any(a.endswith(".js") for a in assets), index
    sizes = {a: len(gzip.compress((FIELD_DIST / a).read_bytes(), 9)) for a in assets}
    assert sum(sizes.values()) < LIMIT, sizes
