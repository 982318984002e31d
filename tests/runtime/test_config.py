"""The configuration file is checked whole when it is loaded: bounds, relations between fields,
and renamed settings, each refused with a message that names the field."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from account_host.config import HostConfig
from acquirer_front.config import FrontConfig
from dialup.config import DialupConfig, ReversalSettings
from jifen.cli import main
from runtime.config import Config, check_config, load_config
from runtime.errors import ConfigError
from switch.config import SwitchConfig

FULL_FILE = """
[database]
url = "postgresql://jifen@db.example:5432/jifen"
data_dir = "/var/lib/jifen/pg"
pool_size_max = 8
connect_timeout_s = 20

[front]
listen_host = "0.0.0.0"
listen_port = 8583
switch_address = "10.0.0.2:8584"
answer_timeout_s = 12.5
link_backoff_s_min = 0.1
link_backoff_s_max = 5
registry_backoff_s_max = 10
saf_backoff_s_min = 2
saf_backoff_s_max = 120
kek_env = "JIFEN_KEK_PROD"
bridge_listen = "10.0.0.1:8593"

[switch]
listen_port = 8584
default_host = "north"
reconnect_backoff_s_min = 0.1
reconnect_backoff_s_max = 4
echo_interval_s = 10
echo_timeout_s = 10

[switch.hosts]
north = "10.0.0.3:8585"
south = "10.0.0.4:8585"

[host]
name = "north"
batch_size_max = 500
batch_wait_ms_max = 2
reconnect_backoff_s_min = 0.1
reconnect_backoff_s_max = 4

[dialup]
front_address = "10.0.0.1:8593"
front_tls = true
tls_cert_file = "credential:tls.crt"
metrics_port = 0
port_backoff_s_min = 1
port_backoff_s_max = 60

[dialup.modem]
escape_guard_s = 1.2

[dialup.link]
resends_max = 0

[dialup.reversal]
backoff_s_min = 1
backoff_s_max = 20

[[dialup.ports]]
device = "/dev/ttyUSB0"
speed_bps = 19200
parity = "E"
nii = 1
init_commands = ["ATZ", "ATE0", "ATS0=0", "at&c1&d2"]

[[dialup.ports]]
device = "/dev/ttyUSB1"

[log]
level = "WARNING"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jifen.toml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"configuration file {path}: ")
    return message


class TestAValidFile:
    def test_every_section_loads(self, tmp_path: Path):
        config = load_config(write(tmp_path, FULL_FILE))
        assert config.database.pool_size_max == 8
        assert config.front.saf_backoff_s_max == 120
        assert config.switch.hosts == {"north": "10.0.0.3:8585", "south": "10.0.0.4:8585"}
        assert (config.host.name, config.host.batch_wait_ms_max) == ("north", 2)
        assert config.dialup.reversal.backoff_s_min == 1
        assert (config.front.bridge_listen, config.front.bridge_peer_names) == \
            ("10.0.0.1:8593", ("dialup",))
        assert (config.dialup.front_tls, config.dialup.front_tls_name) == (True, "front")
        assert config.dialup.tls_cert_file == "credential:tls.crt"
        assert config.dialup.link.resends_max == 0
        assert [port.label for port in config.dialup.ports] == ["ttyUSB0", "ttyUSB1"]
        assert config.log.level == "WARNING"

    def test_the_defaults_are_within_their_own_bounds(self):
        assert msgspec.convert(msgspec.to_builtins(Config()), Config) == Config()


class TestBounds:
    @pytest.mark.parametrize(("text", "expected"), [
        ("[database]\npool_size_max = 0", "Expected `int` >= 1 - at `$.database.pool_size_max`"),
        ('[database]\nurl = "mysql://x"', "at `$.database.url`"),
        ("[front]\nframe_size_max = 65536",
         "Expected `int` <= 65535 - at `$.front.frame_size_max`"),
        ("[front]\nanswer_timeout_s = 0",
         "Expected `float` > 0.0 - at `$.front.answer_timeout_s`"),
        ('[front]\nswitch_address = "8584"', "at `$.front.switch_address`"),
        ("[switch]\nlisten_port = -1", "Expected `int` >= 0 - at `$.switch.listen_port`"),
        ("[switch]\nhosts = {}", "Expected `object` of length >= 1 - at `$.switch.hosts`"),
        ("[host]\nbatch_size_max = 0", "Expected `int` >= 1 - at `$.host.batch_size_max`"),
        ("[host]\nbatch_wait_ms_max = -1",
         "Expected `float` >= 0.0 - at `$.host.batch_wait_ms_max`"),
        ("[dialup]\nmetrics_port = 65536", "Expected `int` <= 65535 - at `$.dialup.metrics_port`"),
        ("[dialup.modem]\nescape_guard_s = 10",
         "Expected `float` <= 5.1 - at `$.dialup.modem.escape_guard_s`"),
        ("[dialup.link]\nresends_max = -1", "Expected `int` >= 0 - at `$.dialup.link.resends_max`"),
        ("[dialup.reversal]\nattempts_max = 0",
         "Expected `int` >= 1 - at `$.dialup.reversal.attempts_max`"),
        ('[[dialup.ports]]\ndevice = "/dev/ttyS0"\nspeed_bps = 10',
         "Expected `int` >= 300 - at `$.dialup.ports[0].speed_bps`"),
        ('[[dialup.ports]]\ndevice = "/dev/ttyS0"\ninit_commands = ["ZZ"]',
         "at `$.dialup.ports[0].init_commands[0]`"),
        ('[log]\nlevel = "loud"', "at `$.log.level`"),
    ])
    def test_a_value_out_of_bounds_is_refused_with_its_path(
        self, tmp_path: Path, text: str, expected: str
    ):
        assert refusal(tmp_path, text).endswith(expected)

    def test_the_jifen_command_prints_one_line(self, tmp_path: Path, capsys):
        path = write(tmp_path, "[host]\nbatch_size_max = 0\n")
        assert main(["--config", str(path), "host"]) == 2
        assert capsys.readouterr().err == (
            f"jifen: error: configuration file {path}: "
            "Expected `int` >= 1 - at `$.host.batch_size_max`\n")

    def test_an_unknown_field_is_still_refused(self, tmp_path: Path):
        assert refusal(tmp_path, "[host]\nunknown_s = 1").endswith(
            "Object contains unknown field `unknown_s` - at `$.host`")


BACKOFFS = [
    ("front", "link_backoff_s_min", "link_backoff_s_max"),
    ("front", "saf_backoff_s_min", "saf_backoff_s_max"),
    ("switch", "reconnect_backoff_s_min", "reconnect_backoff_s_max"),
    ("host", "reconnect_backoff_s_min", "reconnect_backoff_s_max"),
    ("dialup", "port_backoff_s_min", "port_backoff_s_max"),
    ("dialup.reversal", "backoff_s_min", "backoff_s_max"),
    ("notify", "backoff_s_min", "backoff_s_max"),
]


class TestRelations:
    @pytest.mark.parametrize(("section", "low", "high"), BACKOFFS)
    def test_a_min_above_its_max_is_refused_naming_both(
        self, tmp_path: Path, section: str, low: str, high: str
    ):
        message = refusal(tmp_path, f"[{section}]\n{low} = 9\n{high} = 3\n")
        assert message.endswith(f"{low} (9.0) is above {high} (3.0) - at `$.{section}`")

    @pytest.mark.parametrize(("text", "expected"), [
        ("[front]\nlink_echo_interval_s = 2\nlink_echo_timeout_s = 3",
         "link_echo_timeout_s (3.0) is above link_echo_interval_s (2.0) - at `$.front`"),
        ("[switch]\necho_interval_s = 2\necho_timeout_s = 3",
         "echo_timeout_s (3.0) is above echo_interval_s (2.0) - at `$.switch`"),
        ("[front]\nupstream_queue_max = 100\nsaf_send_batch_max = 200",
         "saf_send_batch_max (200) is above upstream_queue_max (100) - at `$.front`"),
        ('[switch]\ndefault_host = "south"',
         "default_host 'south' is not one of the hosts ['main'] - at `$.switch`"),
        ('[switch.hosts]\nmain = "10.0.0.3:0"',
         "hosts.main '10.0.0.3:0': the port must be 1-65535 - at `$.switch`"),
        ('[dialup]\nfront_address = "10.0.0.1:99999"',
         "front_address '10.0.0.1:99999': the port must be 1-65535 - at `$.dialup`"),
        ('[[dialup.ports]]\ndevice = "/dev/ttyS0"\n[[dialup.ports]]\ndevice = "/dev/ttyS0"',
         "dial-up port names repeat: ['ttyS0', 'ttyS0'] - at `$.dialup`"),
        ('[front]\nbridge_listen = "0.0.0.0:70000"',
         "bridge_listen '0.0.0.0:70000': the port must be 0-65535 - at `$.front`"),
        ('[front]\nlisten_host = "0.0.0.0"\nbridge_listen = "0.0.0.0:8583"',
         "bridge_listen '0.0.0.0:8583' is the terminal port (listen_host:listen_port): the "
         "bridges need a port of their own - at `$.front`"),
    ])
    def test_fields_that_contradict_each_other_are_refused(
        self, tmp_path: Path, text: str, expected: str
    ):
        assert refusal(tmp_path, text).endswith(expected)

    @pytest.mark.parametrize("address", ["10.0.0.1:8593", "front.example:8593",
                                         "[2001:db8::1]:8593"])
    def test_a_bridge_with_a_remote_front_and_no_tls_is_refused(
        self, tmp_path: Path, address: str
    ):
        message = refusal(tmp_path, f'[dialup]\nfront_address = "{address}"\n')
        assert message.endswith(
            f"front_address {address!r} is not on this machine and front_tls is off: the "
            f"terminals' requests would cross the network in clear; set front_tls = true and "
            f"give the front's bridge_listen address - at `$.dialup`")

    @pytest.mark.parametrize("address", ["127.0.0.1:8583", "127.0.1.1:8583", "localhost:8583",
                                         "[::1]:8583"])
    def test_a_bridge_on_the_fronts_machine_may_use_plain_tcp(self, tmp_path: Path,
                                                               address: str):
        config = load_config(write(tmp_path, f'[dialup]\nfront_address = "{address}"\n'))
        assert (config.dialup.front_address, config.dialup.front_tls) == (address, False)

    def test_jifen_dialup_refuses_a_remote_front_without_tls(self, tmp_path: Path, capsys):
        path = write(tmp_path, "")
        assert main(["--config", str(path), "dialup", "--port", "/dev/ttyS0",
                     "--front", "10.0.0.1:8593"]) == 2
        assert "front_address '10.0.0.1:8593' is not on this machine and front_tls is off" \
            in capsys.readouterr().err

    def test_a_config_built_in_code_runs_the_relations(self):
        with pytest.raises(ValueError, match="reconnect_backoff_s_min"):
            HostConfig(reconnect_backoff_s_min=3.0, reconnect_backoff_s_max=2.0)

    def test_check_config_runs_the_bounds_of_a_file(self):
        config = Config(host=HostConfig(batch_size_max=0))   # Meta is not checked here
        with pytest.raises(msgspec.ValidationError, match=r"\$\.host\.batch_size_max"):
            check_config(config)

    def test_jifen_dialup_checks_the_address_it_is_given(self, tmp_path: Path, capsys):
        path = write(tmp_path, "")
        assert main(["--config", str(path), "dialup", "--port", "/dev/ttyS0",
                     "--front", "10.0.0.1:99999"]) == 2
        assert capsys.readouterr().err == \
            "jifen: error: front_address '10.0.0.1:99999': the port must be 1-65535\n"


RENAMED = [(section, old, new) for section, struct_type in [
    ("front", FrontConfig), ("switch", SwitchConfig), ("host", HostConfig),
    ("dialup", DialupConfig), ("dialup.reversal", ReversalSettings),
] for old, new in struct_type.renamed_fields.items()]


class TestRenamedSettings:
    def test_the_old_name_is_refused_with_the_new_one(self, tmp_path: Path):
        message = refusal(tmp_path, "[host]\nreconnect_backoff_max_s = 2\n")
        assert message.endswith(": [host] reconnect_backoff_max_s is now reconnect_backoff_s_max")

    @pytest.mark.parametrize(("section", "old", "new"), RENAMED)
    def test_every_renamed_setting(self, tmp_path: Path, section: str, old: str, new: str):
        assert refusal(tmp_path, f"[{section}]\n{old} = 2\n").endswith(
            f"[{section}] {old} is now {new}")

    @pytest.mark.parametrize(("section", "old", "new"), RENAMED)
    def test_the_new_name_is_a_field_and_the_old_is_not(self, section: str, old: str, new: str):
        struct_type = {"front": FrontConfig, "switch": SwitchConfig, "host": HostConfig,
                       "dialup": DialupConfig, "dialup.reversal": ReversalSettings}[section]
        names = {field.name for field in msgspec.structs.fields(struct_type)}
        assert new in names and old not in names

    def test_every_old_name_in_a_file_is_named_at_once(self, tmp_path: Path):
        message = refusal(tmp_path, "[front]\nsaf_backoff_max_s = 9\n"
                                    "[dialup.reversal]\nbackoff_min_s = 1\n")
        assert message.endswith("[front] saf_backoff_max_s is now saf_backoff_s_max; "
                                "[dialup.reversal] backoff_min_s is now backoff_s_min")
