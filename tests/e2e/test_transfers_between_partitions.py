"""Transfers of points between cards of two partitions, as operators make them on `jifen up
--partitions 2` (docs/transfers.md): a request and a second operator's approval over the CLI,
carried out by the driver in steps through the in-transit accounts, with the driver killed
(exit 137, as SIGKILL, by its fault-injection hook) right after each state it commits, and
restarted by the supervisor from the database each time.

A credit to a card reported lost meanwhile is refused (05) and voided: the points are back on
the giver. A transfer approved while the destination's host is killed waits for it and ends
credited once the supervisor has it back. A card of one partition replaced by a card of the
other moves every balance, and the old card is closed. A referred member's first purchase on
main pays the bonus to the referrer's card on p2 (migration 042). Each step's command is
decided once; each partition's journal and accounts are read by SQL; the in-transit accounts of
the two partitions cancel; `jifen audit` over both passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import msgspec
import pytest

from database.config import DatabaseConfig
from database.connect import resolve_database_url
from database.ports import free_port
from proto.pan import mask_pan
from tests.account_host.host_harness import fetch
from tests.e2e.test_jifen_up import UP_TIMEOUT_S, _jifen, _wait_for_line
from tests.e2e.test_jifen_up_partitions import _free_with_offset, up_config

# Every state the driver waits in, killed right after committing it: the first transfer's
# three, the second's void, the replacement's credit (the supervisor restarts it, 0.5 s and
# doubling: 15.5 s in all).
KILLED_STATES = "1:debiting,1:debited,1:crediting,2:voiding,4:crediting"
TRANSFER_DONE_S = 120.0
CLI_TIMEOUT_S = 60.0


def _pans(path: Path, count: int) -> list[str]:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=True))["pan"]
            for line in lines[1:count + 1]]


def _points(url: str, pan: str) -> int:
    rows = anyio.run(fetch, url, """
        SELECT coalesce(sum(a.balance), 0) AS points FROM accounts a
        JOIN cards c ON c.id = a.card_id
        WHERE a.kind = 'member_points' AND c.pan_masked = $1""", mask_pan(pan))
    return int(rows[0]["points"])


def _in_transit(url: str) -> int:
    rows = anyio.run(fetch, url, "SELECT coalesce(sum(balance), 0) AS points FROM accounts"
                                  " WHERE kind = 'alliance_points_in_transit'")
    return int(rows[0]["points"])


class Run:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.config = root / "var" / "up" / "jifen.toml"

    def jifen(self, *argv: str, operator: tuple[str, str] | None = None,
              check: bool = True) -> subprocess.CompletedProcess:
        env = dict(self.env)
        prefix: list[str] = ["--config", str(self.config)]
        if operator is not None:
            prefix += ["--operator", operator[0]]
            env["JIFEN_OPERATOR_PASSWORD"] = operator[1]
        result = subprocess.run(_jifen(*prefix, *argv), cwd=self.root, env=env,
                                capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def operator(self, name: str) -> tuple[str, str]:
        password = f"pw-{name}-{os.getpid()}-transfers"
        env = {"TEST_NEW_PASSWORD": password}
        self.env.update(env)
        self.jifen("operator", "create", "--name", name, "--role", "hq_admin",
                   "--password-env", "TEST_NEW_PASSWORD")
        return name, password

    def approved(self, maker: tuple[str, str], checker: tuple[str, str],
                 *request: str) -> dict:
        asked = json.loads(self.jifen(*request, "--json", operator=maker).stdout)
        result = self.jifen("approval", "approve", "--id", str(asked["id"]), "--json",
                            operator=checker, check=False)
        return json.loads(result.stdout)

    def member(self, mobile: str, pan: str, *extra: str) -> str:
        """A new member of DEMO holding `pan`; its id."""
        made = json.loads(self.jifen("member", "create", "--alliance", "DEMO", "--name", "会员",
                                     "--mobile", mobile, *extra, "--json").stdout)
        member_id = str(made["member_id"])
        self.jifen("member", "assign-card", "--pan", pan, "--member", member_id)
        return member_id

    def terminal_purchase(self, front_port: int, pan: str) -> None:
        """DEMO0001 signs on and buys with `pan` (14 until its host has the card's member)."""
        def term(*argv: str) -> dict:
            result = subprocess.run(
                _jifen("term", "--port", str(front_port), "--terminal", "DEMO0001",
                       "--merchant", "DEMO00000000001", "--json", *argv),
                cwd=self.root, env=self.env, capture_output=True, text=True,
                timeout=CLI_TIMEOUT_S)
            assert result.returncode == 0, result.stdout + result.stderr
            return json.loads(result.stdout)["fields"]

        assert term("signon")["39"] == "00"
        assert term("purchase", "--pan", pan, "--amount", "10000")["39"] == "00"

    def state(self, transfer_id: int) -> str:
        listed = json.loads(self.jifen("transit", "list", "--json").stdout)
        return str(next(t for t in listed if t["id"] == transfer_id)["state"])

    def transfer(self, transfer_id: int) -> dict:
        """The transfer once final (the driver may be restarting)."""
        deadline = time.monotonic() + TRANSFER_DONE_S
        while True:
            listed = json.loads(self.jifen("transit", "list", "--json").stdout)
            found = next(t for t in listed if t["id"] == transfer_id)
            if found["state"] in ("refused", "credited", "voided", "stuck"):
                return found
            assert time.monotonic() < deadline, found
            time.sleep(0.5)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TRANSFER_DONE_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _event(line: str) -> dict:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _transfer_id(decided: dict) -> int:
    # "transfer 3 started: partition main to partition p2" (an approval's), or "transfer 4
    # crediting (main -> p2)" (a replacement's outcome)
    words = decided["result"].split()
    assert words[0] == "transfer", decided
    return int(words[1])


class Up(msgspec.Struct):
    run: Run
    front_port: int
    central_url: str
    p2_url: str
    log_path: Path


@contextmanager
def _up(tmp_path: Path, killed: str = "") -> Iterator[Up]:
    """`jifen up --partitions 2` under `tmp_path` with its driver killed after `killed`'s
    states, until it is up; stopped with SIGTERM after the block, whatever happens."""
    config, front_port = up_config(
        tmp_path, _free_with_offset(),
        f"[transit]\nmetrics_port = {free_port()}\npoll_interval_s = 0.5\n"
        "[back_office]\nhost_command_wait_s = 1\n")
    env = {key: value for key, value in os.environ.items()
           if key not in ("JIFEN_DATABASE_URL", "JIFEN_OPERATOR", "JIFEN_OPERATOR_PASSWORD")}
    log_path = tmp_path / "up.log"
    up = subprocess.Popen(_jifen("--config", str(config), "up", "--partitions", "2"),
                          cwd=tmp_path, env={**env, "JIFEN_TRANSIT_KILL_AFTER": killed},
                          stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True)
    try:
        _wait_for_line(up, "Jifen is up.", UP_TIMEOUT_S * 2)
        central_url, p2_url = (resolve_database_url(DatabaseConfig(
            data_dir=str(tmp_path / name), archive_wal=False)) for name in ("pg", "pg-p2"))
        yield Up(Run(tmp_path, env), front_port, central_url, p2_url, log_path)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            up.kill()
            raise


@pytest.mark.timeout(420)
def test_transfers_between_partitions_survive_kills_and_end_applied_or_undone(
    tmp_path: Path,
) -> None:
    with _up(tmp_path, KILLED_STATES) as system:
        run, front_port, log_path = system.run, system.front_port, system.log_path
        central_url, p2_url = system.central_url, system.p2_url
        giver = _pans(tmp_path / "var" / "demo-cards.csv", 1)[0]
        taker, lost = _pans(tmp_path / "var" / "demo-cards-p2.csv", 2)
        maker, checker = run.operator("transfer_maker"), run.operator("transfer_checker")
        run.jifen("alliance", "set-points-transfer", "--code", "DEMO", "--allowed")
        given = run.approved(maker, checker, "card", "adjust", "--pan", giver, "--points",
                             "1000", "--reason", "opening balance")
        assert given["command"]["result_code"] == "00", given
        before = _points(central_url, giver)

        # 1. Credited, the driver killed after each state on the way.
        decided = run.approved(maker, checker, "card", "transfer", "--pan", giver, "--to-pan",
                               taker, "--points", "300", "--reason", "to my daughter")
        first = run.transfer(_transfer_id(decided))
        assert (first["state"], first["result_code"]) == ("credited", "00"), first
        assert (first["source"], first["destination"]) == ("main", "p2")
        assert _points(central_url, giver) == before - 300
        assert _points(p2_url, taker) == 300

        # 2. Voided: the taker's card reported lost before the approval, the credit refused.
        asked = json.loads(run.jifen("card", "transfer", "--pan", giver, "--to-pan", lost,
                                     "--points", "200", "--reason", "gift", "--json",
                                     operator=maker).stdout)
        run.jifen("card", "lost", "--pan", lost)
        decided = json.loads(run.jifen("approval", "approve", "--id", str(asked["id"]),
                                       "--json", operator=checker, check=False).stdout)
        second = run.transfer(_transfer_id(decided))
        assert (second["state"], second["result_code"]) == ("voided", "05"), second
        shown = json.loads(run.jifen("transit", "show", "--id", str(second["id"]),
                                     "--json").stdout)
        main_name = second["source"]
        assert [(s["step"], s["partition"], s["state"], s["result_code"])
                for s in shown["steps"]] == [("debit", main_name, "done", "00"),
                                             ("credit", "p2", "refused", "05"),
                                             ("void", main_name, "done", "00")]
        assert "ended 05: credit refused" in run.jifen("transit", "show", "--id",
                                                        str(second["id"])).stdout
        assert _points(central_url, giver) == before - 300
        assert _points(p2_url, lost) == 0

        # 3. The destination's host killed: the credit waits for it, then is applied.
        hosts = subprocess.run(["pgrep", "-f", "host-p2.toml"], capture_output=True,
                               text=True, check=True).stdout.split()
        for pid in hosts:
            os.kill(int(pid), signal.SIGKILL)
        decided = run.approved(maker, checker, "card", "transfer", "--pan", giver, "--to-pan",
                               taker, "--points", "50", "--reason", "after the crash")
        third = run.transfer(_transfer_id(decided))
        assert third["state"] == "credited", third
        assert _points(central_url, giver) == before - 350
        assert _points(p2_url, taker) == 350

        # 4. A card of main's range replaced by a card of p2's: every balance moves, the old
        # card is closed, the new one serves.
        old = _pans(tmp_path / "var" / "demo-cards.csv", 2)[1]
        new = _pans(tmp_path / "var" / "demo-cards-p2.csv", 3)[2]
        given = run.approved(maker, checker, "card", "adjust", "--pan", old, "--points",
                             "400", "--reason", "opening balance")
        assert given["command"]["result_code"] == "00", given
        replaced = json.loads(run.jifen("card", "replace", "--pan", old, "--new-pan", new,
                                        "--reason", "reported lost", "--json",
                                        check=False).stdout)
        fourth = run.transfer(_transfer_id(replaced))
        assert (fourth["kind"], fourth["state"]) == ("card_replacement", "credited"), fourth
        assert (_points(central_url, old), _points(p2_url, new)) == (0, 400)
        statuses = anyio.run(fetch, central_url, "SELECT pan_masked, status FROM cards"
                                                  " WHERE pan_masked = ANY($1::text[])",
                             [mask_pan(old), mask_pan(new)])
        assert {row["pan_masked"]: row["status"] for row in statuses} == {
            mask_pan(old): "closed", mask_pan(new): "active"}

        # 5. A referral across partitions: the referrer's card is p2's, the referred member's
        # main's; the referred member's first purchase on main owes the demo's referral bonus
        # (200 points) to p2's card, beside the join bonus (100) the referrer had.
        referrer_pan = _pans(tmp_path / "var" / "demo-cards-p2.csv", 4)[3]
        referred_pan = _pans(tmp_path / "var" / "demo-cards.csv", 3)[2]
        referrer = run.member("13812340001", referrer_pan)
        _until(lambda: _points(p2_url, referrer_pan) == 100, "the referrer's join bonus")
        run.member("13812340002", referred_pan, "--referred-by", referrer)
        run.terminal_purchase(front_port, referred_pan)
        _until(lambda: _points(p2_url, referrer_pan) == 300, "the referral bonus on p2")
        [credit] = anyio.run(fetch, central_url, """
            SELECT h.state, h.result, b.partition FROM host_commands h
            JOIN referral_credits b ON b.transaction_id = h.referral_transaction_id
            WHERE h.kind = 'referral_credit'""")
        assert (credit["state"], credit["result"]) == ("done", "+200 points for a referral")
        assert credit["partition"] == main_name

        # 6. The other way: from a card of p2's (its balance is p2's: central cannot check it
        # before the approval, its host does) to one of main's.
        back_giver = _pans(tmp_path / "var" / "demo-cards-p2.csv", 6)[5]
        back_taker = _pans(tmp_path / "var" / "demo-cards.csv", 5)[4]
        given = run.approved(maker, checker, "card", "adjust", "--pan", back_giver, "--points",
                             "90", "--reason", "opening balance")
        assert given["command"]["result_code"] == "00", given
        decided = run.approved(maker, checker, "card", "transfer", "--pan", back_giver,
                               "--to-pan", back_taker, "--points", "60", "--reason", "back")
        sixth = run.transfer(_transfer_id(decided))
        assert (sixth["source"], sixth["destination"], sixth["state"]) == (
            "p2", main_name, "credited"), sixth
        assert (_points(p2_url, back_giver), _points(central_url, back_taker)) == (30, 60)

        # Each partition's in-transit account holds what left it less what arrived in it, and
        # the two cancel; every step decided once; the driver died at every state asked.
        assert _in_transit(central_url) == 750 - 60 and _in_transit(p2_url) == -750 + 60
        steps = anyio.run(fetch, central_url, """
            SELECT transfer_id, array_agg(transfer_step || ':' || state ORDER BY id) AS steps
            FROM host_commands WHERE transfer_id IS NOT NULL GROUP BY transfer_id
            ORDER BY transfer_id""")
        assert [row["steps"] for row in steps] == [
            ["debit:done", "credit:done"],
            ["debit:done", "credit:refused", "void:done"],
            ["debit:done", "credit:done"], ["debit:done", "credit:done"],
            ["debit:done", "credit:done"]]
        deaths = [event for event in map(_event, log_path.read_text().splitlines())
                  if event.get("event") == "child_died" and event.get("child") == "transit"]
        assert [(death["exit_code"]) for death in deaths] == [137] * 5, deaths
        # The giver's transfers, newest first, by its card number.
        mine = json.loads(run.jifen("transit", "list", "--pan", giver, "--json").stdout)
        assert [(t["id"], t["from_card"]) for t in mine] == [
            (transfer_id, mask_pan(giver)) for transfer_id in (3, 2, 1)]
        audit = run.jifen("audit", check=False)
        assert audit.returncode == 0, audit.stdout + audit.stderr


@pytest.mark.timeout(300)
def test_a_transfer_survives_a_crash_of_centrals_postmaster(tmp_path: Path) -> None:
    """Central's postmaster SIGKILLed while a credit waits for p2's host (stopped), then
    started again: the driver, the hosts and replication reconnect, and the transfer ends
    credited, decided once."""
    p2_host: list[int] = []
    with _up(tmp_path) as system:
        try:
            run, central_url, p2_url = system.run, system.central_url, system.p2_url
            giver = _pans(tmp_path / "var" / "demo-cards.csv", 1)[0]
            taker = _pans(tmp_path / "var" / "demo-cards-p2.csv", 1)[0]
            maker, checker = run.operator("crash_maker"), run.operator("crash_checker")
            run.jifen("alliance", "set-points-transfer", "--code", "DEMO", "--allowed")
            run.approved(maker, checker, "card", "adjust", "--pan", giver, "--points", "500",
                         "--reason", "opening balance")
            before = _points(central_url, giver)
            p2_host = [int(pid) for pid in subprocess.run(
                ["pgrep", "-f", "host-p2.toml"], capture_output=True, text=True,
                check=True).stdout.split()]
            for pid in p2_host:
                os.kill(pid, signal.SIGSTOP)
            decided = run.approved(maker, checker, "card", "transfer", "--pan", giver, "--to-pan",
                                   taker, "--points", "120", "--reason", "through a crash")
            transfer_id = _transfer_id(decided)
            _until(lambda: run.state(transfer_id) == "crediting", "the credit waits for p2")
            postmaster = int((tmp_path / "pg" / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGKILL)
            _until(lambda: not Path(f"/proc/{postmaster}").exists(), "central's postmaster gone")
            run.jifen("db", "start")
            for pid in p2_host:
                os.kill(pid, signal.SIGCONT)
            p2_host = []
            assert run.transfer(transfer_id)["state"] == "credited"
            assert (_points(central_url, giver), _points(p2_url, taker)) == (before - 120, 120)
            steps = anyio.run(fetch, central_url, "SELECT transfer_step, state FROM host_commands"
                                                   " WHERE transfer_id = $1 ORDER BY id",
                              transfer_id)
            assert [(row["transfer_step"], row["state"]) for row in steps] == [
                ("debit", "done"), ("credit", "done")]
            audit = run.jifen("audit", check=False)
            assert audit.returncode == 0, audit.stdout + audit.stderr
        finally:
            for pid in p2_host:   # a failed test leaves none stopped
                os.kill(pid, signal.SIGCONT)
