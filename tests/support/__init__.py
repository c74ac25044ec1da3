"""What several test files share: tiny real runs, stand-in weights, drawn sketches, process
helpers, the browser page and ImageMagick readers. Fixtures live in tests/conftest.py."""
