import pytest

from predictor.errors import ConfigError
from predictor.settings import Settings

REQUIRED = {"MODEL_BUCKET": "models", "MODEL_NAME": "wine"}


def test_defaults_apply_when_only_required_variables_are_set() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.model_bucket == "models"
    assert settings.model_name == "wine"
    assert settings.model_alias == "production"
    assert settings.alias_recheck_seconds == 60.0
    assert settings.max_request_rows == 10_000


def test_every_variable_is_read() -> None:
    env = {
        **REQUIRED,
        "MODEL_ALIAS": "staging",
        "ALIAS_RECHECK_SECONDS": "0.5",
        "MAX_REQUEST_ROWS": "7",
        "MAX_REQUEST_BYTES": "1024",
        "BATCH_CHUNK_ROWS": "100",
    }
    settings = Settings.from_env(env)
    assert (settings.model_alias, settings.alias_recheck_seconds) == ("staging", 0.5)
    assert (settings.max_request_rows, settings.max_request_bytes) == (7, 1024)
    assert settings.batch_chunk_rows == 100


def test_all_problems_are_reported_together() -> None:
    env = {"MAX_REQUEST_ROWS": "0", "ALIAS_RECHECK_SECONDS": "soon", "MAX_REQUEST_BYTES": "-5"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    for name in (
        "MODEL_BUCKET",
        "MODEL_NAME",
        "MAX_REQUEST_ROWS",
        "ALIAS_RECHECK_SECONDS",
        "MAX_REQUEST_BYTES",
    ):
        assert name in message


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_recheck_seconds_must_be_a_finite_non_negative_number(value: str) -> None:
    with pytest.raises(ConfigError, match="ALIAS_RECHECK_SECONDS"):
        Settings.from_env({**REQUIRED, "ALIAS_RECHECK_SECONDS": value})


def test_the_fan_out_settings() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "FAN_OUT_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:m",
            "FAN_OUT_MIN_MIB": "0.5",
            "FAN_OUT_RANGE_MIB": "64",
            "FAN_OUT_MAX_CONCURRENCY": "1000",
        }
    )
    assert settings.fan_out_state_machine.endswith(":m")
    assert (settings.fan_out_min_mib, settings.fan_out_range_mib) == (0.5, 64.0)
    assert settings.fan_out_max_concurrency == 1000
    assert Settings.from_env(REQUIRED).fan_out_state_machine == ""  # one invocation always


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "big"])
def test_fan_out_sizes_must_be_positive_numbers(value: str) -> None:
    with pytest.raises(ConfigError, match=r"FAN_OUT_MIN_MIB.*FAN_OUT_RANGE_MIB"):
        Settings.from_env({**REQUIRED, "FAN_OUT_MIN_MIB": value, "FAN_OUT_RANGE_MIB": value})
