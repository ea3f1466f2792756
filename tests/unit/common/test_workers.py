"""The pure parts of several workers per service: the setting and the split of per-host resources."""

import pytest
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings, SettingsError, load_settings
from common.workers import worker_share


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", populate_by_name=True)


def test_workers_default_to_one_process_and_read_the_service_prefix(monkeypatch):
    monkeypatch.delenv("DEMO_WORKERS", raising=False)
    assert load_settings(DemoSettings).workers == 1
    monkeypatch.setenv("DEMO_WORKERS", "3")
    assert load_settings(DemoSettings).workers == 3


@pytest.mark.parametrize("value", ["0", "-1", "65", "two"])
def test_a_worker_count_that_makes_no_sense_is_refused(monkeypatch, value):
    monkeypatch.setenv("DEMO_WORKERS", value)
    with pytest.raises(SettingsError, match="workers"):
        load_settings(DemoSettings)


@pytest.mark.parametrize(("total", "workers", "share"), [(2, 1, 2), (2, 2, 1), (4, 2, 2), (3, 2, 1), (1, 4, 1),
                                                          (8, 3, 2)])
def test_a_host_resource_is_split_among_workers_never_multiplied(total, workers, share):
    assert worker_share(total, workers) == share
    assert share * workers <= max(total, workers)  # at least one each, never workers x total
