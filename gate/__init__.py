"""gate: a policy gate for container images ranked by Alibaba Cloud Security Center."""

__version__ = "0.2.0"
