"""Folium map construction for gridlink: the only module that builds folium maps.

Why a single module: gridlink runs on government intranets without internet, and
folium (and each folium plugin) links Leaflet, jQuery, Bootstrap, Font Awesome and
plugin files from public CDNs.  Every map is therefore built here, where those links
are replaced by the self-hosted copies in ``webapp/static/vendor/`` (produced by
``scripts/vendor.sh``).  ``static_url`` is the app's URL builder for that folder,
e.g. ``lambda path: url_for("static", filename=path)``.

Safety of feature data: grid, case and POI attributes are user-entered text.  The
helpers below never turn them into HTML: data reaches the page as JSON inside the
inline script (escaped by Jinja's ``tojson``, so ``</script>`` cannot end the
script early) and is shown with ``textContent``.  Clicking a feature dispatches a
bubbling DOM ``CustomEvent("gridlink:feature", {detail: {layer, properties}})`` on
the map container; page scripts listen for it and must render the values as text.
Drawing a shape with the draw plugin dispatches ``gridlink:draw`` with
``detail = {layerType, geojson}`` the same way.

Content-Security-Policy: folium emits inline ``<script>`` (the map set-up code)
and inline ``<style>`` blocks, so a page embedding a map needs a per-request nonce,
``script-src 'self' 'nonce-N'``.  Pass the same N to ``render_map_parts(m, nonce=N)``,
which puts it on every ``<script>`` tag it returns, and on every ``<style>`` tag
too, so ``style-src`` can later swap ``'unsafe-inline'`` for ``'nonce-N'`` (while it
allows unsafe-inline the style nonce is simply unused).  The vendored CSS uses
``data:`` images (``img-src 'self' data:``); vector tiles come from our own
``/tiles`` endpoint (``connect-src 'self'``); a configured basemap's origin must be
in ``img-src``.
"""

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import folium
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.plugins import Draw, HeatMap, MarkerCluster
from folium.template import Template

StaticUrl = Callable[[str], str]

#: Leaflet takes the map's maxZoom from its tile layers; with no basemap there are none,
#: and MarkerCluster (and HeatMap's scaling) then fail with "Map has no maxZoom specified".
#: 20 so a 门前三包 area a few metres deep shows as more than a few pixels; a basemap's own
#: tiles stop at BASEMAP_NATIVE_ZOOM and are enlarged beyond it.
MAX_ZOOM = 20
BASEMAP_NATIVE_ZOOM = 18

#: Shown where no basemap is configured (and while tiles load), instead of Leaflet's grey.
MAP_BACKGROUND = "#eef1f4"

#: The words of Leaflet's zoom buttons and of Leaflet.draw's toolbar and drawing hints in Chinese (their own
#: are English); the keys follow L.Control.Zoom's options and L.drawLocal.
LEAFLET_ZH: dict[str, Any] = {
    "zoom": {"zoomInTitle": "放大", "zoomOutTitle": "缩小"},
    "drawLocal": {
        "draw": {
            "toolbar": {
                "actions": {"title": "取消绘制", "text": "取消"},
                "finish": {"title": "完成绘制", "text": "完成"},
                "undo": {"title": "删除最后一个点", "text": "删除最后一点"},
                "buttons": {"polyline": "画线", "polygon": "画多边形", "rectangle": "画矩形", "circle": "画圆",
                            "marker": "放置标记", "circlemarker": "放置圆点"},
            },
            "handlers": {
                "circle": {"tooltip": {"start": "按住并拖动画圆。"}, "radius": "半径"},
                "circlemarker": {"tooltip": {"start": "点击地图放置圆点。"}},
                "marker": {"tooltip": {"start": "点击地图放置标记。"}},
                "polygon": {"tooltip": {"start": "点击开始画多边形。", "cont": "点击继续画下一个点。",
                                        "end": "点击第一个点闭合图形。"}},
                "polyline": {"error": "<strong>错误：</strong>边线不能相交！",
                             "tooltip": {"start": "点击开始画线。", "cont": "点击继续画线。",
                                         "end": "点击最后一个点结束画线。"}},
                "rectangle": {"tooltip": {"start": "按住并拖动画矩形。"}},
                "simpleshape": {"tooltip": {"end": "松开鼠标完成绘制。"}},
            },
        },
        "edit": {
            "toolbar": {
                "actions": {"save": {"title": "保存修改", "text": "保存"},
                            "cancel": {"title": "取消编辑，放弃所有修改", "text": "取消"},
                            "clearAll": {"title": "清除所有图形", "text": "全部清除"}},
                "buttons": {"edit": "编辑图形", "editDisabled": "没有可编辑的图形", "remove": "删除图形",
                            "removeDisabled": "没有可删除的图形"},
            },
            "handlers": {
                "edit": {"tooltip": {"text": "拖动控制点或标记以编辑。", "subtext": "点击取消可撤销修改。"}},
                "remove": {"tooltip": {"text": "点击图形将其删除。"}},
            },
        },
    },
}

# folium.Map's default resources, keyed by folium's own link names so that an
# element re-declaring one of them by name replaces it instead of duplicating it.
_MAP_JS = [
    ("leaflet", "vendor/leaflet/leaflet.js"),
    ("jquery", "vendor/jquery/jquery.min.js"),
    ("bootstrap", "vendor/bootstrap/js/bootstrap.bundle.min.js"),
    ("awesome_markers", "vendor/leaflet.awesome-markers/leaflet.awesome-markers.js"),
]
_MAP_CSS = [
    ("leaflet_css", "vendor/leaflet/leaflet.css"),
    ("bootstrap_css", "vendor/bootstrap/css/bootstrap.min.css"),
    ("glyphicons_css", "vendor/glyphicons/glyphicons.min.css"),
    ("awesome_markers_font_css", "vendor/fontawesome-free/css/all.min.css"),
    ("awesome_markers_css", "vendor/leaflet.awesome-markers/leaflet.awesome-markers.css"),
    ("awesome_rotate_css", "vendor/folium/leaflet.awesome.rotate.css"),
]

_TILE_PLACEHOLDERS = ("{z}", "{x}", "{y}")
_NONCE_RE = re.compile(r"[A-Za-z0-9+/_=-]+")
_INLINE_TAG_RE = re.compile(r"<(script|style)(?=[\s>])", re.IGNORECASE)


def _links(static_url: StaticUrl, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, static_url(path)) for name, path in entries]


class GridlinkMap(folium.Map):
    """A folium.Map whose resources are self-hosted.

    It keeps ``static_url`` so the ``add_*`` helpers can point their plugins at the
    vendored files too.  The link lists are set per instance because folium's are
    shared, mutable class attributes.
    """

    def __init__(self, *, static_url: StaticUrl, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.static_url = static_url
        self.default_js = _links(static_url, _MAP_JS)
        self.default_css = _links(static_url, _MAP_CSS)


class _Script(MacroElement):
    """Arbitrary set-up JavaScript attached to a map (code written in this module only)."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


def base_map(
    *,
    center: tuple[float, float],
    zoom: int,
    static_url: StaticUrl,
    basemap_url: str | None,
    basemap_attribution: str | None,
    attribution_extra: str = "",
    chinese_controls: bool = False,
) -> GridlinkMap:
    """Return an offline-safe map centred on ``center`` (lat, lon).

    ``basemap_url`` is an XYZ template (``{z}``/``{x}``/``{y}``); it is required to be
    one so that folium never resolves a provider *name* into a public tile URL.
    Without it there is no tile layer and the page requests nothing outside its own
    origin.  Attributions are plain text (escaped here, because Leaflet renders them
    as HTML); a basemap must carry one, as Chinese map publication rules require
    its source (and approval number, 审图号) to be shown.
    ``chinese_controls``: the zoom buttons and the draw toolbar speak Chinese (LEAFLET_ZH), not Leaflet's English.
    """
    m = GridlinkMap(
        static_url=static_url,
        location=list(center),
        zoom_start=zoom,
        maxZoom=MAX_ZOOM,  # a Leaflet map option: folium's max_zoom only reaches its own TileLayer
        tiles=None,
        zoom_control=not chinese_controls,
    )
    if chinese_controls:
        _chinese_controls(m)
    _Script(f"L.control.scale({{imperial: false}}).addTo({m.get_name()});").add_to(m)  # metres only
    m.get_root().header.add_child(
        Element(f"<style>#{m.get_name()} {{ background: {MAP_BACKGROUND}; }}</style>"),
        name="gridlink_map_background",
    )
    if basemap_url:
        if not all(p in basemap_url for p in _TILE_PLACEHOLDERS):
            raise ValueError("basemap_url must be an XYZ template containing {z}, {x} and {y}")
        if not basemap_attribution:
            raise ValueError("basemap_attribution is required when basemap_url is set")
        folium.TileLayer(
            tiles=basemap_url,
            attr=html.escape(basemap_attribution),
            name="basemap",
            control=False,
            max_zoom=MAX_ZOOM,
            max_native_zoom=BASEMAP_NATIVE_ZOOM,
        ).add_to(m)
    if attribution_extra:
        _Script(
            f"{m.get_name()}.attributionControl.addAttribution({_js_string(html.escape(attribution_extra))});"
        ).add_to(m)
    return m


def _chinese_controls(m: GridlinkMap) -> None:
    """A zoom control with Chinese button titles (Leaflet's own is built with the map, in English), and
    Leaflet.draw's words merged into L.drawLocal, which its toolbar reads when it is added: before any draw
    control of this map, as this runs first in the map's script."""
    _Script(f"L.control.zoom({_js_string(LEAFLET_ZH['zoom'])}).addTo({m.get_name()});\n"
            "if (L.drawLocal) {\n"
            "    (function merge(into, from) { Object.keys(from).forEach(function (key) {\n"
            "        if (typeof from[key] === 'object') { merge(into[key] = into[key] || {}, from[key]); }\n"
            "        else { into[key] = from[key]; }\n"
            f"    }}); }})(L.drawLocal, {_js_string(LEAFLET_ZH['drawLocal'])});\n"
            "}").add_to(m)


def _js_string(value: Any) -> str:
    """A JavaScript literal (a string, or an object of them) that is also safe inside an inline <script>."""
    return Template("{{ v|tojson }}").render(v=value)


class _VectorGrid(JSCSSMixin, Layer):
    _template = Template(
        """
{% macro script(this, kwargs) %}
// Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid 1.3 calls on every click of a feature: the click
// threw before reaching gridlink:feature. Marking the event (as 1.7 did) and letting it reach the map as well
// keeps map clicks (placing a point) working over the grids.
L.DomEvent.fakeStop = L.DomEvent.fakeStop || function (e) { e._stopped = true; };
var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url|tojson }}, {
    rendererFactory: L.canvas.tile,
    interactive: true,
    vectorTileLayerStyles: {{ this.styles|tojson }}
});
{{ this.get_name() }}.on("click", function (e) {
    this._map.getContainer().dispatchEvent(new CustomEvent("gridlink:feature", {
        bubbles: true,
        detail: {layer: {{ this.source_layer|tojson }}, properties: e.layer.properties}
    }));
});
{% endmacro %}
"""
    )

    def __init__(self, *, url: str, source_layer: str, style: dict[str, Any], name: str, js: str) -> None:
        super().__init__(name=name, overlay=True, control=True)
        self._name = "VectorGrid"
        self.url = url
        self.source_layer = source_layer
        self.styles = {source_layer: style}
        self.default_js = [("leaflet_vectorgrid", js)]


def add_vector_grid(m: GridlinkMap, *, url_template: str, layer_name: str, style: dict[str, Any], name: str) -> Layer:
    """Add our ``/tiles/{layer}/{z}/{x}/{y}.pbf`` vector tiles as a Leaflet.VectorGrid layer.

    ``layer_name`` is the MVT layer inside the tiles (styled with ``style``, Leaflet
    path options: polygons need ``fill: True`` to be filled and clickable) and fills a
    ``{layer}`` placeholder in ``url_template`` if there is one; ``name`` is the label
    in a layer control.  Clicks dispatch ``gridlink:feature`` (see module docstring)
    rather than opening a popup, so no feature text is ever parsed as HTML.
    """
    url = url_template.replace("{layer}", layer_name)
    if not all(p in url for p in _TILE_PLACEHOLDERS):
        raise ValueError("url_template must contain {z}, {x} and {y}")
    layer = _VectorGrid(
        url=url,
        source_layer=layer_name,
        style=style,
        name=name,
        js=m.static_url("vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"),
    )
    layer.add_to(m)
    return layer


#: Place labels show between these zooms: below, a city's townships are too small for their names to part
#: (a phone's whole-city view); past the top, a township fills the screen and its name marks one odd spot.
PLACE_LABEL_MIN_ZOOM, PLACE_LABEL_MAX_ZOOM = 10, 14
PLACE_LABEL_DROP = 16  # px below the point: under a 40 px cluster centred on it (see add_place_labels)


def add_place_labels(m: GridlinkMap, places: Sequence[tuple[str, float, float]]) -> None:
    """Names written on the map at (name, lat, lon), such as the townships of a case map: where a dispatcher
    looks for 游埠镇 before clicking a point in it. Text, never HTML; the labels take no clicks and lie under
    the markers (the shadow pane), so a case pin is never hidden by a name. Each sits PLACE_LABEL_DROP px
    below its point: cases gather around a township's inner point, and a cluster there covered the name.
    Names that would touch a name before them in `places` are hidden until a zoom parts them."""
    name = m.get_name()
    _Script(
        "(function (labels) {\n"
        f"    var PLACE_LABEL_DROP = {PLACE_LABEL_DROP};\n"
        f"    {_js_string([list(place) for place in places])}.forEach(function (place) {{\n"
        "        var label = document.createElement('span');\n"
        "        label.textContent = place[0];\n"
        "        L.tooltip({permanent: true, direction: 'bottom', offset: [0, PLACE_LABEL_DROP], interactive: false,\n"
        "                   className: 'place-label', pane: 'shadowPane'})\n"
        "            .setLatLng([place[1], place[2]]).setContent(label).addTo(labels);\n"
        "    });\n"
        "    function declutter() {  // in the given order, a name that would touch one shown stays hidden\n"
        "        var kept = [];\n"
        "        labels.eachLayer(function (tip) {\n"
        "            var element = tip.getElement();\n"
        "            if (!element) { return; }\n"
        "            element.style.visibility = '';\n"
        "            var box = element.getBoundingClientRect();\n"
        "            var clash = kept.some(function (other) {\n"
        "                return box.left < other.right + 4 && other.left < box.right + 4\n"
        "                    && box.top < other.bottom && other.top < box.bottom;\n"
        "            });\n"
        "            if (clash) { element.style.visibility = 'hidden'; } else { kept.push(box); }\n"
        "        });\n"
        "    }\n"
        "    function fit() {\n"
        f"        var zoom = {name}.getZoom();\n"
        f"        var shown = zoom >= {PLACE_LABEL_MIN_ZOOM} && zoom <= {PLACE_LABEL_MAX_ZOOM};\n"
        f"        if (shown) {{ {name}.addLayer(labels); declutter(); }} else {{ {name}.removeLayer(labels); }}\n"
        "    }\n"
        f"    {name}.on('zoomend', fit);\n"
        f"    {name}.whenReady(fit);\n"
        "})(L.layerGroup());"
    ).add_to(m)


class _SafeGeoJson(Layer):
    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
    var fields = {{ this.fields|tojson }};
    var labels = {{ this.labels|tojson }};
    var style = {{ this.style|tojson }};
    return L.geoJSON({{ this.data|tojson }}, {
        style: function () { return style; },
        onEachFeature: function (feature, layer) {
            var props = feature.properties || {};
            layer.bindTooltip(function () {
                var box = document.createElement("div");
                fields.forEach(function (field, i) {
                    if (props[field] === undefined || props[field] === null) { return; }
                    var row = box.appendChild(document.createElement("div"));
                    row.appendChild(document.createElement("strong")).textContent = labels[i] + ": ";
                    row.appendChild(document.createTextNode(String(props[field])));
                });
                return box;
            }, {sticky: true});
            layer.on("click", function () {
                this._map.getContainer().dispatchEvent(new CustomEvent("gridlink:feature", {
                    bubbles: true,
                    detail: {layer: {{ this.layer_name|tojson }}, properties: props}
                }));
            });
        }
    });
})();
{% endmacro %}
"""
    )

    def __init__(
        self, data: dict[str, Any], *, name: str, style: dict[str, Any], fields: list[str], labels: list[str]
    ) -> None:
        super().__init__(name=name, overlay=True, control=True)
        self._name = "GeoJson"
        self.data = data
        self.style = style
        self.fields = fields
        self.labels = labels


def add_geojson_layer(
    m: GridlinkMap,
    data: dict[str, Any],
    *,
    name: str,
    style: dict[str, Any],
    tooltip_fields: list[str],
    labels: list[str],
) -> Layer:
    """Add a GeoJSON FeatureCollection with a hover tooltip showing ``tooltip_fields``.

    Not folium.GeoJson + GeoJsonTooltip: that tooltip concatenates property values
    *and labels* into an HTML string.  Escaping every value beforehand would work but
    would also hand the escaped text (``&lt;``) to the ``gridlink:feature`` listeners
    and to anything else reading the data, and each new caller would have to remember
    it.  This small element keeps the data intact and builds the tooltip with DOM
    nodes and ``textContent``, so safety does not depend on the caller.
    """
    if len(labels) != len(tooltip_fields):
        raise ValueError("labels must give one label per tooltip field")
    layer = _SafeGeoJson(data, name=name, style=style, fields=tooltip_fields, labels=labels)
    layer.add_to(m)
    return layer


@dataclass(frozen=True)
class Plugins:
    """The plugin layers add_plugins created (None where not requested).

    Put markers in ``cluster`` with ``folium.Marker(...).add_to(plugins.cluster)``.
    """

    cluster: MarkerCluster | None
    heat: HeatMap | None
    draw: Draw | None


def add_plugins(
    m: GridlinkMap,
    *,
    cluster: bool = False,
    heat: bool | Sequence[Sequence[float]] = False,
    draw: bool = False,
) -> Plugins:
    """Add MarkerCluster / HeatMap / Draw, loading their files from our vendor folder.

    ``heat`` is either True (an empty layer that page scripts fill with
    ``setLatLngs``) or the points, ``[lat, lon]`` or ``[lat, lon, weight]``.
    The draw control does not pop up the drawn geometry as folium does by default;
    it dispatches ``gridlink:draw`` (see module docstring) for the page to handle.
    """
    url = m.static_url
    cluster_layer = heat_layer = draw_control = None
    if cluster:
        # No coverage outline on hover: for pins along one street it is a stray line that reads as a boundary.
        # A cluster's click is the page's (casemap.js opens it: zoomed into, or fanned out at street level,
        # its legs long enough that the opened pin's name does not cover the others).
        cluster_layer = MarkerCluster(name="cluster", options={
            "showCoverageOnHover": False, "zoomToBoundsOnClick": False, "spiderfyOnMaxZoom": False,
            "spiderfyDistanceMultiplier": 2.5})
        cluster_layer.default_js = [("markerclusterjs", url("vendor/leaflet.markercluster/leaflet.markercluster.js"))]
        cluster_layer.default_css = [
            ("markerclustercss", url("vendor/leaflet.markercluster/MarkerCluster.css")),
            ("markerclusterdefaultcss", url("vendor/leaflet.markercluster/MarkerCluster.Default.css")),
        ]
        cluster_layer.add_to(m)
    if heat is not False:
        heat_layer = HeatMap([] if heat is True else [list(p) for p in heat], name="heat")
        heat_layer.default_js = [("leaflet-heat.js", url("vendor/leaflet.heat/leaflet-heat.js"))]
        heat_layer.add_to(m)
    if draw:
        draw_control = Draw(show_geometry_on_click=False)
        draw_control.default_js = [("leaflet_draw_js", url("vendor/leaflet-draw/leaflet.draw.js"))]
        draw_control.default_css = [("leaflet_draw_css", url("vendor/leaflet-draw/leaflet.draw.css"))]
        draw_control.add_to(m)
        _Script(
            f"{m.get_name()}.on(L.Draw.Event.CREATED, function (e) {{\n"
            f"    {m.get_name()}.getContainer().dispatchEvent(new CustomEvent('gridlink:draw', {{\n"
            "        bubbles: true, detail: {layerType: e.layerType, geojson: e.layer.toGeoJSON()}\n"
            "    }));\n"
            "});"
        ).add_to(m)
    return Plugins(cluster=cluster_layer, heat=heat_layer, draw=draw_control)


class MapParts(TypedDict):
    """The pieces of a rendered map, for embedding in our own page layout."""

    header: str  # <link>/<style>/<script> tags for the page <head>
    html: str  # the map <div>
    script: str  # a complete inline <script> element; place it after ``html``


def render_map_parts(m: folium.Map, *, nonce: str | None = None) -> MapParts:
    """Render ``m`` in pieces so Jinja templates can place it without an iframe.

    With ``nonce`` every ``<script>`` and ``<style>`` tag (inline or ``src=``) gets
    ``nonce="..."`` so the page can forbid other inline code (see module docstring).
    The parts are HTML and must be inserted with ``|safe``.
    """
    if nonce is not None and not _NONCE_RE.fullmatch(nonce):
        raise ValueError("nonce must be a base64 token")
    root = m.get_root()
    root.render()  # renders every element into the figure's header/html/script
    parts = MapParts(
        header=root.header.render(),
        html=root.html.render(),
        script=f"<script>\n{root.script.render()}\n</script>",
    )
    if nonce is None:
        return parts
    tag = rf'<\1 nonce="{nonce}"'
    return MapParts(
        header=_INLINE_TAG_RE.sub(tag, parts["header"]),
        html=_INLINE_TAG_RE.sub(tag, parts["html"]),
        script=_INLINE_TAG_RE.sub(tag, parts["script"]),
    )
