"""Reading uploads: real files round-trip, bad rows are reported, hostile archives are refused early."""

import json
import time
import zipfile

import pytest
from shapely.geometry import box

from gis import readers
from gis.readers import InputRejected

JIUJIANG = "jiujiang/jiujiang_360400_districts.gcj02.geojson"


@pytest.fixture(scope="module")
def jiujiang(shared_data):
    return readers.read_features(shared_data / JIUJIANG)


def test_real_jiujiang_districts_read(jiujiang):
    assert len(jiujiang.features) == 13
    assert jiujiang.source_crs is None  # the file declares nothing: the importer must ask (it is GCJ-02)
    assert all(f.problem is None and f.geometry.geom_type == "MultiPolygon" for f in jiujiang.features)
    assert jiujiang.features[0].properties["district"] == "濂溪区"


@pytest.mark.parametrize(
    ("name", "driver"), [("districts.gpkg", "GPKG"), ("districts.zip", "ESRI Shapefile")]
)
def test_round_trip_keeps_rows_areas_names_and_crs(jiujiang, tmp_path, name, driver):
    rows = [(f.properties, f.geometry) for f in jiujiang.features]
    written = readers.write_features(tmp_path / name, rows, driver)
    back = readers.read_features(written)
    assert back.source_crs == "EPSG:4326"  # from the GeoPackage layer / the Shapefile's .prj
    assert len(back.features) == 13
    for original, copy in zip(jiujiang.features, back.features, strict=True):
        assert copy.geometry.area == pytest.approx(original.geometry.area, rel=1e-9)
        assert copy.properties["district"] == original.properties["district"]


def test_a_null_geometry_is_reported_with_its_index_and_the_rest_read(tmp_path):
    ring = [[119.46, 29.21], [119.47, 29.21], [119.47, 29.22], [119.46, 29.22], [119.46, 29.21]]
    square = {"type": "Polygon", "coordinates": [ring]}
    unclosed = {"type": "Polygon", "coordinates": [ring[:-1]]}
    rows = [
        {"type": "Feature", "properties": {"name": "ok"}, "geometry": square},
        {"type": "Feature", "properties": {"name": "missing"}, "geometry": None},
        {"type": "Feature", "properties": {"name": "open"}, "geometry": unclosed},
        {"type": "Feature", "properties": {"name": "ok too"}, "geometry": square},
    ]
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": rows}))
    result = readers.read_features(path)
    problems = {f.index: f.problem.reason for f in result.features if f.problem}
    assert set(problems) == {1, 2}
    assert "null geometry" in problems[1] and "unclosed ring" in problems[2]
    assert [f.properties["name"] for f in result.features if f.geometry] == ["ok", "ok too"]


def test_legacy_crs_member_is_reported(tmp_path):
    path = tmp_path / "legacy.geojson"
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": []}))
    assert readers.read_features(path).source_crs == "EPSG:4490"


def test_oversized_file_and_too_many_features_are_refused(shared_data):
    with pytest.raises(InputRejected, match="over the 0 MB limit"):
        readers.read_features(shared_data / JIUJIANG, max_bytes=1000)
    with pytest.raises(InputRejected, match="13 features, more than the limit of 5"):
        readers.read_features(shared_data / JIUJIANG, max_features=5)


def test_zip_with_parent_path_is_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../evil.shp", b"x")
    with pytest.raises(InputRejected, match="points outside the archive"):
        readers.read_features(path)
    assert not (tmp_path.parent / "evil.shp").exists()


def _zeros_zip(path, megabytes: int) -> None:
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("layer.dbf", "w", force_zip64=True) as entry:
            for _ in range(megabytes):
                entry.write(chunk)


def test_zip_bomb_is_refused_before_extraction(tmp_path):
    big = tmp_path / "bomb.zip"
    _zeros_zip(big, 300)
    assert big.stat().st_size < 2 * 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(InputRejected, match="unpacks to 315 MB"):
        readers.read_features(big)
    assert time.perf_counter() - started < 1
    small = tmp_path / "small-bomb.zip"
    _zeros_zip(small, 20)
    with pytest.raises(InputRejected, match="zip bomb"):
        readers.read_features(small)


def test_zip_with_two_datasets_is_ambiguous(tmp_path, jiujiang):
    rows = [(f.properties, f.geometry) for f in jiujiang.features[:2]]
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("a.geojson", "b.geojson"):
            archive.writestr(name, json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputRejected, match=r"exactly one .* \(found: a.geojson, b.geojson\)"):
        readers.read_features(path)
    single = tmp_path / "one.zip"
    readers.write_features(tmp_path / "one.geojson", rows, "GeoJSON")
    with zipfile.ZipFile(single, "w") as archive:
        archive.write(tmp_path / "one.geojson", "folder/one.geojson")
    assert len(readers.read_features(single).features) == 2


@pytest.mark.parametrize(("name", "content", "message"), [
    ("broken.geojson", b"{not json", "not valid JSON"),
    ("notes.txt", b"hello", "unsupported file type .txt"),
    ("broken.zip", b"PK nope", "not a readable zip"),
    ("broken.gpkg", b"garbage", "could not be read"),
])
def test_unreadable_files_are_refused_with_a_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputRejected, match=message):
        readers.read_features(path)


def test_written_geojson_keeps_null_properties(tmp_path):
    path = readers.write_features(tmp_path / "x.geojson", [({"a": 1, "b": None}, box(0, 0, 1, 1))], "GeoJSON")
    feature = readers.read_features(path).features[0]
    assert feature.properties == {"a": 1, "b": None}
    assert feature.geometry.geom_type == "MultiPolygon"
