"""Spatial primitives for gridlink: pure functions over shapely/pyproj, no database, no web."""
