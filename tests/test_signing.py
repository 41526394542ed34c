import datetime as dt
import pickle

import pytest

from tsmap.errors import DataError
from tsmap.signing import Signer, expiry, needs_signing, unsigned

HREF = "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/32/U/LB/2023/06/01/B04_10m.tif"
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class FakeSas:
    """Stands in for the Planetary Computer token service: tokens valid one hour from 'now'."""

    def __init__(self, clock):
        self.clock, self.calls = clock, 0

    def __call__(self, href):
        self.calls += 1
        se = (self.clock() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
        return f"{href}?st=x&se={se}&sp=rl&sig=token{self.calls}"


def test_signs_once_then_re_signs_when_the_token_is_about_to_expire():
    clock = Clock()
    sas = FakeSas(clock)
    signer = Signer(sas, clock=clock)
    first = signer(HREF)
    assert first.endswith("sig=token1") and expiry(first) == T0 + dt.timedelta(hours=1)
    clock.now = T0 + dt.timedelta(minutes=58)
    assert signer(HREF) == first and signer.fresh(first)  # cached while valid
    clock.now = T0 + dt.timedelta(minutes=59, seconds=30)  # inside the 60 s margin
    assert not signer.fresh(first)
    second = signer(HREF)
    assert second.endswith("sig=token2") and sas.calls == 2 and signer.fresh(second)
    assert signer(first) == second  # an already-signed href is stripped and served from the cache


def test_only_azure_blob_urls_are_signed():
    signer = Signer(lambda h: pytest.fail("must not sign"), clock=Clock())
    for href in ("/data/B04.tif", "https://sentinel-cogs.s3.us-west-2.amazonaws.com/B04.tif", "s3://eodata/B04.jp2"):
        assert signer(href) == href and signer.fresh(href) and not needs_signing(href)
    assert unsigned(HREF + "?st=a&se=b&sp=rl&sig=c") == HREF
    assert unsigned(HREF + "?versionid=3") == HREF + "?versionid=3"


def test_default_signer_is_planetary_computer(monkeypatch):
    """Offline: the package's token cache is primed, so sign_url is the real code path without network."""
    from planetary_computer import sas
    from planetary_computer.settings import Settings

    token = sas.SASToken(
        token="st=a&se=2099-01-01T00%3A00%3A00Z&sp=rl&sig=real", **{"msft:expiry": "2099-01-01T00:00:00Z"}
    )
    monkeypatch.setitem(sas.TOKEN_CACHE, f"{Settings.get().sas_url}/sentinel2l2a01/sentinel2-l2", token)
    signed = Signer()(HREF)
    assert signed == HREF + "?st=a&se=2099-01-01T00%3A00%3A00Z&sp=rl&sig=real"


def test_signing_failure_is_one_clear_line():
    def broken(href):
        raise ConnectionError("token service unreachable")

    with pytest.raises(
        DataError,
        match=r"could not sign .*B04_10m.tif for reading \(ConnectionError: token service unreachable\); check the "
              r"network",
    ):
        Signer(broken)(HREF)


def test_signer_pickles_for_distributed_workers():
    clock = Clock()
    signer = Signer(FakeSas(clock), clock=clock)
    signer(HREF)
    again = pickle.loads(pickle.dumps(signer))
    assert again(HREF).endswith("sig=token2") and again.margin == signer.margin  # cache not shipped
