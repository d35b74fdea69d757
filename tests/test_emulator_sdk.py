"""The emulator driven by the official Security Center SDK (alibabacloud-sas20181203), so it
stays faithful to real clients: the SDK's V3 signature, its query encoding (a space as ``+``)
and its parsing of the answers. The SDK is slow to import; it is imported here only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gate.emulator import Emulator

sas = pytest.importorskip("alibabacloud_sas20181203.client")
sas_models = pytest.importorskip("alibabacloud_sas20181203.models")
openapi_models = pytest.importorskip("alibabacloud_tea_openapi.models")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def sdk_client(emu: Emulator, secret: str = "gate-test-secret") -> Any:
    config = openapi_models.Config(
        access_key_id="gate-test-id",
        access_key_secret=secret,
        endpoint=emu.url.split("://", 1)[1],
        protocol="http",
        region_id="cn-hangzhou",
    )
    return sas.Client(config)


def runtime() -> Any:
    try:
        from darabonba.runtime import RuntimeOptions
    except ImportError:  # older SDK generations
        from alibabacloud_tea_util.models import RuntimeOptions
    return RuntimeOptions(autoretry=False, read_timeout=10000, connect_timeout=10000)


def call(client: Any, types: list[str]) -> Any:
    request = sas_models.GetDockerhubImageRiskRankInfoRequest(types=types)
    return client.get_dockerhub_image_risk_rank_info_with_options(request, runtime())


def test_official_sdk_call_is_accepted(emulator: Emulator) -> None:
    response = call(sdk_client(emulator), ["vulAsap", "baseline"])
    assert response.status_code == 200
    assert response.body.request_id
    assert response.body.risk_rank_info is not None
    assert response.body.risk_rank_info.vul_asap
    assert [r.code for r in emulator.received] == [None]


def test_sdk_space_in_a_parameter_is_decoded_as_the_service_does(emulator: Emulator) -> None:
    # The SDK writes the space as '+' and a plus as %2B; the signature covers the decoded
    # value, so the emulator must decode both as the service does to verify it.
    with pytest.raises(Exception) as caught:
        call(sdk_client(emulator), ["vul Asap+x"])
    assert getattr(caught.value, "code", None) == "InvalidParameter"
    assert "vul Asap+x" in str(getattr(caught.value, "message", caught.value))
    received = emulator.received[-1]
    assert "+" in received.path and received.code == "InvalidParameter"


def test_sdk_with_a_wrong_secret_is_refused(emulator: Emulator) -> None:
    with pytest.raises(Exception) as caught:
        call(sdk_client(emulator, secret="wrong"), ["vulAsap"])
    assert getattr(caught.value, "code", None) == "SignatureDoesNotMatch"
