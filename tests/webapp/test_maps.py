"""Offline-safety and escaping checks for webapp.maps (no database, no browser).

A map page must load nothing from outside our origin (intranets have no internet)
and must never let feature text become markup.
"""

import json
import re
from pathlib import Path

import folium
import pytest

from webapp.maps import (
    GridlinkMap,
    add_geojson_layer,
    add_plugins,
    add_vector_grid,
    base_map,
    render_map_parts,
)

STATIC_ROOT = Path(__file__).resolve().parents[2] / "webapp" / "static"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>alert(2)</script>"
BASEMAP = "https://tiles.example.gov.cn/vec/{z}/{x}/{y}.png"
NONCE = "n0nce-Test_value"
CDN_WORDS = ("cdn", "jsdelivr", "unpkg", "cloudflare", "googleapis", "bootstrapcdn", "code.jquery")


def static_url(path: str) -> str:
    return "/static/" + path


def full_map(basemap_url: str | None = None) -> GridlinkMap:
    """A map using every helper, with hostile text in feature properties and labels."""
    m = base_map(
        center=(30.27, 120.15),
        zoom=13,
        static_url=static_url,
        basemap_url=basemap_url,
        basemap_attribution="© 测试底图 <b>" if basemap_url else None,
        attribution_extra="审图号 GS(2024)0000号 " + HOSTILE_IMG,
    )
    add_vector_grid(
        m, url_template="/tiles/{layer}/{z}/{x}/{y}.pbf", layer_name="grids", style={"weight": 1}, name="网格"
    )
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [120.15, 30.27]},
        "properties": {"name": HOSTILE_IMG, "note": HOSTILE_SCRIPT},
    }
    add_geojson_layer(
        m,
        {"type": "FeatureCollection", "features": [feature]},
        name=HOSTILE_SCRIPT,
        style={"color": "#c00"},
        tooltip_fields=["name", "note"],
        labels=["名称", HOSTILE_IMG],
    )
    add_plugins(m, cluster=True, heat=[[30.27, 120.15, 1.0]], draw=True)
    return m


def page_of(m: folium.Map, nonce: str | None = NONCE) -> str:
    parts = render_map_parts(m, nonce=nonce)
    return parts["header"] + parts["html"] + parts["script"]


@pytest.mark.parametrize("render", ["parts", "standalone"])
def test_no_external_url_without_basemap(render: str) -> None:
    m = full_map()
    out = page_of(m) if render == "parts" else m.get_root().render()
    assert not re.search(r"https?://", out)
    assert not re.search(r"""(?:src|href)=["']?//""", out)
    lowered = out.lower()
    assert [w for w in CDN_WORDS if w in lowered] == []


def test_basemap_is_the_only_external_url() -> None:
    out = page_of(full_map(BASEMAP))
    assert re.findall(r"https?://[^\"'\s]+", out) == [BASEMAP]
    assert re.search(r'L\.tileLayer\(\s*"' + re.escape(BASEMAP) + '"', out)
    # Leaflet renders attributions as HTML: ours arrive escaped, as JSON in the script.
    assert json.dumps("© 测试底图 &lt;b&gt;").replace("&", "\\u0026") in out


def test_no_tile_layer_and_plain_background_without_basemap() -> None:
    m = full_map()
    out = page_of(m)
    assert "L.tileLayer" not in out
    assert re.search(r"#" + m.get_name() + r" \{ background: #[0-9a-f]{6}; \}", out)


def test_basemap_must_be_xyz_template_with_attribution() -> None:
    with pytest.raises(ValueError):  # a provider name would make folium use its public URL
        base_map(center=(0, 0), zoom=3, static_url=static_url, basemap_url="OpenStreetMap", basemap_attribution="x")
    with pytest.raises(ValueError):
        base_map(center=(0, 0), zoom=3, static_url=static_url, basemap_url=BASEMAP, basemap_attribution=None)


def _css_refs(css: Path) -> list[Path]:
    refs = re.findall(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""", css.read_text(encoding="utf-8"))
    assert [r for r in refs if re.match(r"(https?:)?//", r)] == []
    return [(css.parent / r.split("?")[0].split("#")[0]).resolve() for r in refs if not r.startswith(("data:", "#"))]


def test_every_referenced_vendor_file_exists() -> None:
    out = page_of(full_map())
    urls = re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", out)
    assert len(urls) >= 14
    for url in urls:
        assert url.startswith("/static/vendor/")
        path = STATIC_ROOT / url.removeprefix("/static/")
        assert path.is_file(), url
        if path.suffix == ".css":
            for ref in _css_refs(path):
                assert ref.is_file(), f"{url} -> {ref}"


def test_all_folium_default_resources_are_replaced() -> None:
    """A folium upgrade that adds a default resource must get a vendored copy here."""
    m = full_map()
    assert {n for n, _ in m.default_js} == {n for n, _ in folium.Map.default_js}
    assert {n for n, _ in m.default_css} == {n for n, _ in folium.Map.default_css}
    assert folium.Map.default_js[0][1].startswith("https://")  # folium's shared list left untouched


def test_hostile_text_is_never_markup() -> None:
    out = page_of(full_map())
    assert HOSTILE_IMG not in out
    assert "<img" not in out
    assert "alert(2)</script>" not in out
    assert out.count("</script>") == len(re.findall(r"<script[\s>]", out))
    assert "innerHTML" not in out


def test_nonce_on_every_script_and_style_tag() -> None:
    out = page_of(full_map())
    tags = re.findall(r"<(?:script|style)\b[^>]*>", out, re.IGNORECASE)
    assert len(tags) > 10
    assert all(f'nonce="{NONCE}"' in tag for tag in tags), tags
    no_nonce = page_of(full_map(), nonce=None)
    assert "nonce=" not in no_nonce


def test_nonce_cannot_inject_attributes() -> None:
    with pytest.raises(ValueError):
        render_map_parts(full_map(), nonce='x" onload="alert(1)')


def test_vector_grid_url_and_feature_event() -> None:
    out = page_of(full_map())
    assert 'L.vectorGrid.protobuf("/tiles/grids/{z}/{x}/{y}.pbf"' in out
    assert '"gridlink:feature"' in out


def test_geojson_labels_must_match_fields() -> None:
    m = base_map(center=(0, 0), zoom=3, static_url=static_url, basemap_url=None, basemap_attribution=None)
    with pytest.raises(ValueError):
        add_geojson_layer(
            m,
            {"type": "FeatureCollection", "features": []},
            name="x",
            style={},
            tooltip_fields=["a"],
            labels=[],
        )


def test_the_scale_bar_is_metric_only() -> None:
    """Chinese users read metres; a miles/feet bar under it is noise."""
    out = page_of(full_map())
    assert "L.control.scale({imperial: false})" in out and "L.control.scale()" not in out
