"""Bundled data: the demo response (the API reference example, with one level of escaping)."""
