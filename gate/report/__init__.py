"""Report formats. Each module renders a :class:`~gate.model.Report` one way.

Every format implements :class:`Format`; files are written through :func:`write_atomic` (or
:func:`write_stream`), so a crashed or killed run never leaves a half-written report behind.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator

from gate.model import Report


class Format(abc.ABC):
    """One output format: turns a report into the bytes of a file or a stream."""

    @abc.abstractmethod
    def render(self, report: Report) -> str:
        """The whole document as text."""

    def chunks(self, report: Report) -> Iterator[str]:
        """The document in pieces, for :func:`~gate.report.files.write_stream`.

        Formats whose documents grow with the ranking stream them, so memory stays bounded.
        """
        yield self.render(report)
