"""Settings from the environment: defaults, the template's values, and a bad value named with its variable."""

from __future__ import annotations

import pytest

from rooms.config import Settings, SettingsError


def test_an_empty_environment_gives_the_defaults() -> None:
    # GIVEN no variable WHEN the settings are read THEN every default holds
    settings = Settings.from_environment({})
    assert (settings.table_name, settings.region, settings.heartbeat_interval_seconds) == ("rooms", "us-east-1", 30)
    assert settings.seat_lease_seconds == 60
    assert settings.overflow_delivery_budget_seconds == 180 * 5


def test_variables_are_parsed_to_their_types() -> None:
    settings = Settings.from_environment(
        {
            "ROOMS_HEARTBEAT_INTERVAL_SECONDS": "15",
            "ROOMS_FULL_ROOM_MEMORY_SECONDS": "0.5",
            "ROOMS_EMPTY_ROOM_GRACE_SECONDS": "0",
            "ROOMS_CURSOR_SECRET": "s3cret",
            "AWS_REGION": "eu-west-3",
        }
    )
    assert settings.heartbeat_interval_seconds == 15 and settings.full_room_memory_seconds == 0.5
    assert settings.empty_room_grace_seconds == 0 and settings.region == "eu-west-3"
    # the cursor key is never printed with the settings
    assert "s3cret" not in repr(settings)


def test_the_region_falls_back_from_an_empty_aws_region() -> None:
    environment = {"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}
    assert Settings.from_environment(environment).region == "ap-south-1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ROOMS_HEARTBEAT_INTERVAL_SECONDS", "thirty"),
        ("ROOMS_HEARTBEAT_INTERVAL_SECONDS", "0"),
        ("ROOMS_MAX_CAPACITY", "-1"),
        ("ROOMS_SEATS_PER_WRITE_SHARD", "1.5"),
        ("ROOMS_FULL_ROOM_MEMORY_SECONDS", "soon"),
        ("ROOMS_MAX_PARALLEL_ROOMS", ""),
    ],
)
def test_a_bad_value_names_its_variable_and_the_value(variable: str, value: str) -> None:
    # GIVEN one variable with a value the functions cannot run with
    # WHEN the settings are read THEN the error names the variable and shows the value
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({variable: value})
    assert f"{variable}={value!r}" in str(raised.value)


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({"ROOMS_MAX_CAPACITY": "lots", "ROOMS_OVERFLOW_MAX_RECEIVE_COUNT": "0"})
    assert "ROOMS_MAX_CAPACITY='lots'" in str(raised.value)
    assert "ROOMS_OVERFLOW_MAX_RECEIVE_COUNT='0'" in str(raised.value)


def test_livekit_media_needs_its_server_and_key_and_never_shows_the_secret() -> None:
    # GIVEN the LiveKit provider with its secret but neither its URL nor its key
    environ = {"ROOMS_MEDIA_PROVIDER": "livekit", "ROOMS_LIVEKIT_API_SECRET": "s3cr3t-value"}
    # WHEN the settings are read THEN the error names what is missing, and the secret appears nowhere
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment(environ)
    assert "ROOMS_LIVEKIT_URL, ROOMS_LIVEKIT_API_KEY" in str(raised.value)
    assert "s3cr3t-value" not in str(raised.value)
    complete = Settings.from_environment({**environ, "ROOMS_LIVEKIT_URL": "wss://m", "ROOMS_LIVEKIT_API_KEY": "k"})
    assert complete.media_provider == "livekit" and "s3cr3t-value" not in repr(complete)


def test_an_unknown_media_provider_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({"ROOMS_MEDIA_PROVIDER": "jitsi"})
    assert "ROOMS_MEDIA_PROVIDER='jitsi'" in str(raised.value)
