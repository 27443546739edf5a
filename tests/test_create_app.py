"""create_app(config_class, **overrides): the class's settings (TRACKER_* variables already in them), then the
overrides; the class defaults to the one TRACKER_ENV names."""

import pytest

from config import Config, TestConfig
from tracker import create_app


def test_overrides_win_over_the_settings_class_and_the_rest_come_from_it():
    app = create_app(TestConfig, PAGE_SIZE=7, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.config["PAGE_SIZE"] == 7
    assert (app.config["TESTING"], app.config["SECRET_KEY"], app.config["RATE_LIMITS"]) == (True, "test", False)
    assert app.config["CLINIC_TIMEZONE"] == Config.CLINIC_TIMEZONE


def test_a_setting_not_in_upper_case_is_refused_rather_than_ignored():
    with pytest.raises(TypeError, match="page_size"):
        create_app(TestConfig, page_size=7)


def test_without_a_class_the_one_tracker_env_names_is_used(monkeypatch):
    monkeypatch.setenv("TRACKER_ENV", "test")
    app = create_app(SQLALCHEMY_DATABASE_URI="sqlite://")
    assert (app.config["TESTING"], app.config["SCHEDULER"]) == (True, False)
