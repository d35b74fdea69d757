"""Adapters for the CI systems the gate runs in (GitHub Actions, GitLab CI)."""
