"""The foundation commands as an operator types them: catalog import, demo load, users add."""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from grids.errors import Unauthorized
from grids.migrate import alembic_config, upgrade
from grids.spreadsheet import replaced_on_success
from webapp.cli import main


@pytest.fixture()
def cli_db(empty_database_url: str, monkeypatch) -> str:
    """Commands commit, so they get a database of their own."""
    upgrade(empty_database_url)
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    return empty_database_url


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.mark.parametrize("revision", ["9999", "eeb35f80c72f"])  # none such; below the schema (a downgrade)
def test_an_upgrade_to_a_revision_it_cannot_reach_names_the_revisions(cli_db: str, revision: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--revision", revision])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output  # was a traceback
    head = ScriptDirectory.from_config(alembic_config(cli_db)).get_current_head()
    assert f"cannot upgrade to {revision}" in result.output and head in result.output


def test_demo_load_twice_then_add_a_user(cli_db: str) -> None:
    first = run("demo", "load", "--no-grids", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["new_cases"] >= 5
    second = json.loads(run("demo", "load", "--no-grids", "--json").stdout)
    assert second["new_cases"] == 0
    added = run("users", "add", "wang.wei", "--role", "officer", "--squad", "SQ330781104", "--password-stdin",
                "--json", input="a-long-password\n")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["role"] == "officer"


def test_users_add_with_unknown_role_says_which_roles_exist(cli_db: str) -> None:
    run("demo", "load", "--no-grids")
    result = run("users", "add", "x", "--role", "boss", "--password-stdin", input="a-long-password\n")
    assert result.exit_code == 2  # a value of the wrong form, like every other option's: a usage error
    assert "'boss' is not one of" in result.output and "'dispatcher'" in result.output


def test_a_city_not_loaded_is_named_not_listed_as_empty(cli_db: str, tmp_path) -> None:
    """`divisions list --city 999999` (a typo, or a GRIDLINK_CITY left from another database) printed
    "0 divisions" and exited 0, as if the city had nothing yet."""
    run("demo", "load", "--no-grids")
    for args in (["divisions", "list"], ["components", "list"], ["apikeys", "list"],
                 ["frontage", "export", "--format", "csv", str(tmp_path / "units.csv")]):
        answer = run(*args, "--city", "999999")
        assert answer.exit_code == 1, (args, answer.output)
        assert "unknown city 999999; the cities loaded here: 330781 兰溪市" in answer.output, (args, answer.output)
    assert not (tmp_path / "units.csv").exists()


def test_a_squad_is_stationed_and_staffed_from_the_command_line(cli_db: str) -> None:
    """Only the demo could station a squad: a real city had no squad to give its grids or its officers to."""
    run("demo", "load", "--no-grids")
    added = run("squads", "add", "SQ330781006", "--name", "女埠中队", "--township", "330781006", "--json")
    assert added.exit_code == 0 and json.loads(added.output)["township"] == "330781006", added.output
    officer = run("users", "add", "nvbu.officer", "--role", "officer", "--squad", "SQ330781006", "--password-stdin",
                  input="a-long-password\n")
    assert officer.exit_code == 0, officer.output
    listed = run("squads", "list")
    assert "SQ330781006    330781006    1 officer    0 co-managers  女埠中队  2 co-managers short of 2 per " \
           "officer" in listed.output, listed.output
    assert "townships without one: 330781001 兰江街道（示意）" in listed.output and "330781006" not in \
        listed.output.splitlines()[-1]
    again = run("squads", "add", "SQ2", "--name", "第二中队", "--township", "330781006")
    assert again.exit_code == 1 and "has squad SQ330781006 女埠中队 stationed already" in again.output
    listed = json.loads(run("users", "list", "--role", "officer", "--json").output)["users"]
    assert {"username": "nvbu.officer", "display_name": "nvbu.officer", "role": "officer", "active": True,
            "squad": "SQ330781006", "township": "330781006", "department": None} in listed
    assert "password" not in json.dumps(listed) and {u["role"] for u in listed} == {"officer"}
    typo = run("users", "add", "x", "--role", "department", "--department", "sanitaton", "--password-stdin",
               input="a-long-password\n")
    assert typo.exit_code == 1 and "the city's departments: " in typo.output and "sanitation" in typo.output


def test_a_user_of_a_city_not_loaded_or_bound_to_no_township_is_refused_in_one_line(cli_db: str) -> None:
    """`users add` for a city not loaded printed a 60-line traceback ending in the new user's password hash;
    `--township` took a district, whose cases no township page lists."""
    for args in (["users", "add", "x1", "--role", "viewer", "--city", "360401", "--password-stdin"],
                 ["users", "add", "x2", "--role", "officer", "--township", "330781", "--password-stdin"]):
        if args[-2:] == ["330781", "--password-stdin"]:
            run("demo", "load", "--no-grids")
        answer = CliRunner().invoke(main, args, input="a-long-password\n")
        assert answer.exit_code == 1 and len(answer.output.strip().splitlines()) == 1, answer.output
        assert "argon2" not in answer.output
        assert ("unknown city 360401" in answer.output if "360401" in args else
                "330781 兰溪市 is a city: give a township's code" in answer.output), answer.output


def test_catalog_with_errors_lists_each_with_its_path_and_stores_nothing(cli_db: str, tmp_path) -> None:
    bad = {"city": {"code": "360400", "name": "九江市", "timezone": "Asia/Shanghai"},
           "departments": [{"code": "sanitation", "name": "环卫", "worked_by_squad": True}],
           "categories": [{"code": "E0101", "name": "暴露垃圾", "type": "event", "parent": None,
                           "time_limit": "4 hours", "departments": ["sanitation"]},
                          {"code": "E0102", "name": "道路保洁", "type": "incident", "time_limt": "2h"}]}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    result = run("catalog", "import", str(path))
    assert result.exit_code == 1
    assert "categories/0/time_limit: '4 hours' is not working hours or days, such as 4h or 5d" in result.output
    assert "categories/1/type" in result.output
    # a misspelt key was imported without a word: the category got no deadline
    assert "'time_limt' was unexpected" in result.output and "'worked_by_squad' was unexpected" in result.output
    bad["departments"][0].pop("worked_by_squad")
    bad["categories"][1].pop("time_limt")
    engine = create_engine(cli_db)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cities WHERE code = '360400'")).scalar() == 0
    engine.dispose()
    bad["categories"] = bad["categories"][:1]
    bad["categories"][0]["time_limit"] = "4h"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    elsewhere = run("catalog", "import", str(path))  # GRIDLINK_CITY unset: the default city is Lanxi
    assert elsewhere.exit_code == 1 and "the catalog is for city 360400 (九江市), not 330781" in elsewhere.output
    assert json.loads(run("catalog", "import", str(path), "--city", "360400", "--json").output)["categories"] == 1


def test_catalog_that_is_not_json_is_named(cli_db: str, tmp_path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text("{not json", encoding="utf-8")
    result = run("catalog", "import", str(path))
    assert result.exit_code == 1 and "not valid UTF-8 JSON" in result.output


@pytest.mark.parametrize("args", [
    ("incidents", "export", "--format", "csv", "{missing}/cases.csv"),
    ("evaluate", "--period", "month", "--date", "2026-11-01", "--by", "township", "--csv", "{missing}/r.csv"),
    ("frontage", "export", "--format", "csv", "{missing}/units.csv"),
    ("db", "backup", "{missing}/gridlink.dump"),
])
def test_an_output_file_in_a_missing_folder_is_refused_before_any_work(tmp_path, args) -> None:
    """Said in one line naming the folder (it was a traceback at the end of the work)."""
    missing = tmp_path / "no-such-folder"
    result = CliRunner().invoke(main, [a.format(missing=missing) for a in args])
    assert result.exit_code == 2 and f"folder {missing} does not exist" in result.output
    assert "Traceback" not in result.output


def test_an_export_that_fails_midway_leaves_the_earlier_file_as_it_was(tmp_path) -> None:
    """The file is written aside and put in place at the end: a failed export never leaves a half file where
    a complete one was, and a finished one replaces it."""
    out = tmp_path / "cases.csv"
    out.write_text("the earlier export\n", encoding="utf-8")
    with pytest.raises(OSError), replaced_on_success(out, encoding="utf-8") as handle:
        handle.write("id,status\n1,")
        raise OSError("the disk filled up")
    assert out.read_text(encoding="utf-8") == "the earlier export\n" and list(tmp_path.iterdir()) == [out]
    with replaced_on_success(out, encoding="utf-8") as handle:
        handle.write("id,status\n1,filed\n")
    assert out.read_text(encoding="utf-8") == "id,status\n1,filed\n"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any file the user writes, not 0600


def test_an_export_keeps_the_files_permissions_writes_through_a_link_and_into_a_pipe(tmp_path) -> None:
    """Renamed over, a 640 file became 644, a symbolic link a plain file (its target never written) and a FIFO
    or /dev/full a plain file: root's export replaced the device."""
    private = tmp_path / "private.csv"
    private.write_text("old\n", encoding="utf-8")
    private.chmod(0o640)
    link = tmp_path / "latest.csv"
    link.symlink_to(private)
    with replaced_on_success(link, encoding="utf-8") as handle:
        handle.write("new\n")
    assert link.is_symlink() and private.read_text(encoding="utf-8") == "new\n"
    assert private.stat().st_mode & 0o777 == 0o640
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    received: list[bytes] = []
    reader.start()
    with replaced_on_success(fifo, encoding=None) as handle:
        handle.write(b"streamed")
    reader.join(timeout=10)
    assert received == [b"streamed"] and stat.S_ISFIFO(fifo.stat().st_mode)
    appended = tmp_path / "all.csv"  # `... /dev/stdout >> all.csv`: /dev/stdout is then that very file
    appended.write_text("earlier\n", encoding="utf-8")
    with appended.open("a", encoding="utf-8") as shell:
        subprocess.run([sys.executable, "-c", "from pathlib import Path\nfrom grids.spreadsheet import "
                        "replaced_on_success\nwith replaced_on_success(Path('/dev/stdout'), encoding='utf-8') as out:"
                        "\n    out.write('new\\n')"], stdout=shell, cwd=Path(__file__).parents[2], check=True)
    assert appended.read_text(encoding="utf-8") == "earlier\nnew\n"


def test_a_period_that_has_not_started_says_so_rather_than_ranking_zeros(cli_db: str) -> None:
    run("demo", "load", "--no-grids")
    future = run("evaluate", "--period", "month", "--date", "2030-01-15", "--by", "township")
    assert future.exit_code == 0 and "2030-01 has not started yet" in future.output
    past = json.loads(run("evaluate", "--period", "month", "--date", "2025-03-01", "--by", "township", "--json").output)
    assert past["notes"] == []


def test_evaluate_prints_a_dash_only_where_nothing_was_due_and_a_real_zero_as_zero(cli_db: str) -> None:
    """A 0.00 % on-time rate printed as "-", as if nothing had been due."""
    run("demo", "load", "--no-grids")
    engine = create_engine(cli_db)
    with engine.begin() as conn:  # 兰江街道: one case due 2025-03-10, closed two days late
        conn.execute(text("""
            INSERT INTO incidents (city_code, source, category_id, status, description, township_id, extensions,
                                   version, reported_at, due_times, closed_at)
            SELECT '330781', 'test', c.id, 'closed', '', d.id, 0, 1, '2025-03-05T10:00:00+08:00',
                   '{"handle": {"due": "2025-03-10T10:00:00+08:00"}}', '2025-03-12T10:00:00+08:00'
            FROM categories c, divisions d WHERE c.code = 'E0101' AND d.code = '330781001'"""))
    engine.dispose()
    month = ["evaluate", "--period", "month", "--date", "2025-03-15", "--by", "township"]
    row = next(r for r in json.loads(run(*month, "--json").output)["rows"] if r["code"] == "330781001")
    assert (row["结案率"], row["按期结案率"]) == (100.0, 0.0)  # numbers a script can compare, as the counts are
    lines = {line.split()[1]: line for line in run(*month).output.splitlines()[1:]}
    assert "按期结案率   0.00" in lines["330781001"] and "按期结案率      -" in lines["330781102"]


def test_a_deactivated_user_cannot_log_in_and_activate_undoes_it(cli_db: str) -> None:
    from grids.org import authenticate

    run("demo", "load", "--no-grids")
    stopped = run("users", "deactivate", "dispatcher", "--json")
    assert stopped.exit_code == 0 and json.loads(stopped.output)["active"] is False
    engine = create_engine(cli_db)
    with Session(engine) as session:
        with pytest.raises(Unauthorized):
            authenticate(session, "330781", "dispatcher", "gridlink-demo")
    assert run("users", "activate", "dispatcher").exit_code == 0
    with Session(engine) as session:
        assert authenticate(session, "330781", "dispatcher", "gridlink-demo").username == "dispatcher"
    engine.dispose()
    unknown = run("users", "deactivate", "nobody")
    assert unknown.exit_code == 1 and "no user named 'nobody'" in unknown.output


def test_an_unreachable_database_is_one_line_naming_the_setting_and_status_exits_3(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    status = CliRunner().invoke(main, ["db", "status"])
    assert status.exit_code == 3 and "cannot connect to the database" in status.output
    listing = CliRunner().invoke(main, ["outbox", "list"])
    assert listing.exit_code == 1 and listing.output.count("\n") == 1  # one line, not psycopg2's two
    assert listing.output.rstrip().endswith("check DATABASE_URL") and "gridlink db up" not in listing.output


def test_the_database_url_as_libpq_writes_it_works_and_a_database_without_the_schema_says_so(
        empty_database_url, monkeypatch) -> None:
    """postgresql://... (the operations guide's form) crashed every command: SQLAlchemy 2.1 reads it as psycopg 3,
    which is not installed. A database without the schema said "reachable" and then failed with a traceback."""
    libpq = empty_database_url.replace("postgresql+psycopg2://", "postgresql://")
    monkeypatch.setenv("DATABASE_URL", libpq)
    bare = CliRunner().invoke(main, ["db", "status"])
    assert bare.exit_code == 3 and "no gridlink schema yet: run `gridlink db upgrade`" in bare.output
    listing = CliRunner().invoke(main, ["outbox", "list"])
    assert listing.exit_code == 1 and listing.output.count("\n") == 1 and "gridlink db upgrade" in listing.output
    assert run("db", "upgrade").exit_code == 0
    ready = run("db", "status")
    assert ready.exit_code == 0 and "schema" in ready.output and "(the latest)" in ready.output
    for url, words in (("garbage", "is not a database URL"), ("mysql://u@h/d", "names a mysql database")):
        monkeypatch.setenv("DATABASE_URL", url)
        refused = CliRunner().invoke(main, ["outbox", "list"])
        assert refused.exit_code == 1 and words in refused.output and "Traceback" not in refused.output


def test_a_day_of_the_wrong_form_is_a_usage_error_before_any_work(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")  # never reached
    for args in (["evaluate", "--period", "month", "--date", "2026/11/15", "--by", "township"],
                 ["incidents", "export", "/tmp/x.csv", "--since", "2026/11/05"]):
        answer = CliRunner().invoke(main, args)
        assert answer.exit_code == 2 and "is not a date such as" in answer.output, args


def test_an_unknown_coordinate_system_is_a_usage_error_before_any_work(monkeypatch, tmp_path) -> None:
    """--crs gcj2 went as far as the file and the database, then exited 1; it is a value of the wrong form."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")  # never reached
    shops = tmp_path / "shops.csv"
    shops.write_text("name,lon,lat\n", encoding="utf-8")
    for args in (["locate", "119.47", "29.2", "--crs", "gcj2"],
                 ["frontage", "import", str(shops), "--name-field", "name", "--crs", "gcj2"]):
        answer = CliRunner().invoke(main, args)
        assert answer.exit_code == 2 and "unknown coordinate system 'gcj2'" in answer.output, (args, answer.output)


def test_a_password_asked_where_there_is_no_terminal_says_how_to_give_it(cli_db: str) -> None:
    """From a script the prompt printed Python's GetPassWarning, then "Aborted!"."""
    answer = CliRunner().invoke(main, ["users", "add", "x", "--role", "viewer"], input="")
    assert answer.exit_code == 2 and "--password-stdin" in answer.output and "Aborted" not in answer.output


def test_a_city_that_is_no_code_is_a_usage_error_not_an_empty_list(monkeypatch) -> None:
    """`divisions list --city abc` printed "0 divisions" and exited 0, as if the city were empty."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")  # never reached
    for args, env in ((["divisions", "list", "--city", "abc"], {}), (["apikeys", "list"], {"GRIDLINK_CITY": "abc"})):
        answer = CliRunner().invoke(main, args, env=env)
        assert answer.exit_code == 2 and "'abc' is no city code" in answer.output, (args, answer.output)
