"""The API reference works on an intranet with no internet: the page loads nothing from outside,
and every script, style sheet and icon it names is served by the app itself."""

from __future__ import annotations

import re

import pytest

from tests.support import LiveServer

_LINK = re.compile(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_reference_page_loads_only_from_the_app(live: LiveServer, page: str) -> None:
    with live.client() as client:
        html = client.get(page)
        assert html.status_code == 200
        links = _LINK.findall(html.text)
        assert len(links) >= 4, links  # style sheet, bundle, preset, icon
        assert [u for u in links if re.match(r"^(https?:)?//", u)] == []
        for url in links:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 500, url
        assert "swagger-ui-bundle.js" in " ".join(links)
        assert "SwaggerUIBundle" in client.get(next(u for u in links if u.endswith("swagger-ui-bundle.js"))).text
