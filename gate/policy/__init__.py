"""Policies: the YAML loader, the ``fail_if`` expression language and the metric catalogue."""
