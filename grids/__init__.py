"""The gridlink domain: models and use cases, one module per feature. No Flask, no folium."""
