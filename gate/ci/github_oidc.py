"""Keyless auth in GitHub Actions: fetch the workflow's OIDC token into a private file.

Used by the composite action (``action/run.sh``) before ``gate check``::

    python -m gate.ci.github_oidc --token-file PATH [--audience sts.aliyuncs.com]

It asks the runner's token service (``ACTIONS_ID_TOKEN_REQUEST_URL`` with the bearer
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``, both present only when the workflow grants
``permissions: id-token: write``) for a token with the given audience, masks it in the log
(``::add-mask::``, as ``@actions/core`` does) and writes it to ``PATH`` with mode 0600. The
caller then points the Alibaba Cloud credentials chain at the file
(``ALIBABA_CLOUD_OIDC_TOKEN_FILE`` with ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN`` and
``ALIBABA_CLOUD_ROLE_ARN``), which exchanges it for STS credentials
(``AssumeRoleWithOIDC``). The token and the request bearer are never printed otherwise.

Exit codes follow the gate's: 2 when the workflow is not set up for OIDC, 3 when the token
could not be obtained.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from gate.errors import GateError, SourceError, UsageError

DEFAULT_AUDIENCE = "sts.aliyuncs.com"
ATTEMPTS = 3
TIMEOUT = 30.0


def token_url(base: str, audience: str) -> str:
    """The request URL with ``audience`` added to its query (the runner's URL has one)."""
    parts = urllib.parse.urlsplit(base)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != "audience"] + [("audience", audience)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would carry the bearer header to wherever a redirect points: refuse instead."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def request_token(
    env: Mapping[str, str],
    audience: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The OIDC token, retried on connection errors and 5xx; raises a :class:`GateError`."""
    base = env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
    bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    if not base or not bearer:
        raise UsageError(
            "the workflow's OIDC token is not available (ACTIONS_ID_TOKEN_REQUEST_URL and "
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set)",
            hint="grant the job 'permissions: id-token: write' (and keep 'contents: read'), "
            "or use static keys instead of role-to-assume",
        )
    request = urllib.request.Request(
        token_url(base, audience),
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            sleep(0.5 * 2 ** (attempt - 1))
        try:
            with opener.open(request, timeout=TIMEOUT) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code} from the token service"
            if exc.code < 500:
                break
            continue
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = f"cannot reach the token service: {reason}"
            continue
        try:
            value = json.loads(body).get("value")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value.strip():
            raise SourceError("the token service answered without a token ('value')")
        return value.strip()
    raise SourceError(
        f"could not get the workflow's OIDC token: {problem}",
        hint="check 'permissions: id-token: write' and that the runner can reach GitHub",
    )


def write_private(path: str, token: str) -> None:
    """Create ``path`` readable by this user only (0600) and write the token to it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
        try:
            if hasattr(os, "fchmod"):  # not on Windows runners, where modes do not apply
                os.fchmod(fd, 0o600)  # also when the file already existed
            os.write(fd, token.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise UsageError(f"cannot write the OIDC token file {path}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gate.ci.github_oidc",
        description="Fetch the GitHub Actions OIDC token into a private file.",
    )
    parser.add_argument("--token-file", required=True, help="Where to write the token (0600).")
    parser.add_argument("--audience", default=DEFAULT_AUDIENCE, help="Token audience.")
    args = parser.parse_args(argv)
    try:
        token = request_token(env, args.audience.strip() or DEFAULT_AUDIENCE)
        # Mask before anything else could print it; the runner hides every later occurrence.
        print(f"::add-mask::{token}", flush=True)
        write_private(args.token_file, token)
    except GateError as error:
        print(f"error: {error.render()}", file=sys.stderr)
        return error.exit_code
    print(f"OIDC token for audience {args.audience} written to {args.token_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
