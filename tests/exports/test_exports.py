"""`pylu-analyze export` read back by the tools users hand it to: every Parquet table by polars and by pyarrow
(pandas), a partitioned export by DuckDB, the pstats file by `pstats.Stats` on each supported Python, by
gprof2dot, tuna and snakeviz; counts and totals checked against `pylu-analyze summary --format json` on the same traces.

Run by tests/exports/run.sh, which sets PYLU_ANALYZE and PYLU_GEN to the built binaries.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
ANALYZE = os.environ.get("PYLU_ANALYZE", str(REPO / "target/debug/pylu-analyze"))
GEN = os.environ.get("PYLU_GEN", str(REPO / "target/debug/pylu-gen"))
TABLES = ["calls", "functions", "stacks", "lines", "events", "updates"]


def run(*args, ok=(0,)):
    p = subprocess.run([ANALYZE, *map(str, args)], capture_output=True, text=True)
    assert p.returncode in ok, f"{args}: exit {p.returncode}: {p.stderr}"
    return p


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A generated binary trace of 2 processes (a few MB): many calls, generators, several threads."""
    out = tmp_path_factory.mktemp("gen") / "bin"
    subprocess.run([GEN, "--format", "binary", "--size", "3M", "--processes", "2", "-o", str(out)], check=True,
                   capture_output=True)
    return out


def traces(generated):
    return {
        "worked": REPO / "fixtures/analyzer/worked.pylu",
        "two_threads": REPO / "fixtures/analyzer/two_threads.log",
        "demo": REPO / "fixtures/demo/service.pylu",
        "generated": generated,
    }


@pytest.fixture(scope="session", params=["worked", "two_threads", "demo", "generated"])
def case(request, generated, tmp_path_factory):
    src = traces(generated)[request.param]
    work = tmp_path_factory.mktemp(request.param)
    summary = json.loads(run("summary", "-q", "--format", "json", src, ok=(0, 1)).stdout)
    flat = work / "flat"
    exp = run("export", "parquet", "--row-group-size", "1000", src, "-o", flat, ok=(0, 1))
    parts = work / "parts"
    run("export", "parquet", "-q", "--partition", src, "-o", parts, ok=(0, 1))
    prof = work / "out.prof"
    run("export", "pstats", "-q", src, "-o", prof, ok=(0, 1))
    return {"name": request.param, "src": src, "summary": summary, "flat": flat, "parts": parts, "prof": prof,
            "stderr": exp.stderr}


def summary_functions(case, ended=False):
    """The summary's functions with at least one call: name -> (hits, total_us, self_us). With `ended`, the calls
    that ended only (the per-call exports leave the unfinished ones, still open at the end, without a duration)."""
    out = {}
    for f in case["summary"]["functions"]:
        hits = f["hits"] - (f.get("unfinished", 0) if ended else 0)
        if hits > 0:
            out[f["function"]] = (hits, f["total_us"], f["self_us"])
    return out


def never_closed(case):
    # "pylu-analyze: N calls (M never closed, …"
    line = [ln for ln in case["stderr"].splitlines() if "never closed" in ln][0]
    return int(line.split("(")[1].split()[0])


def test_every_table_reads_in_polars_and_pyarrow_alike(case):
    for t in TABLES:
        path = case["flat"] / f"{t}.parquet"
        df = pl.read_parquet(path)
        table = pq.read_table(path)
        assert table.num_rows == df.height, t
        pdf = table.to_pandas()
        assert len(pdf) == df.height, t
        assert list(pdf.columns) == df.columns, t


def test_functions_table_equals_the_summary(case):
    f = pl.read_parquet(case["flat"] / "functions.parquet")
    per = f.group_by("function").agg(pl.col("hits").sum(), pl.col("total_ns").sum(), pl.col("self_ns").sum())
    got = {r["function"]: r for r in per.iter_rows(named=True)}
    want = summary_functions(case)
    assert want, "the summary has functions"
    for name, (hits, total_us, self_us) in want.items():
        assert got[name]["hits"] == hits, name
        assert got[name]["total_ns"] / 1000 == pytest.approx(total_us, abs=0.01), name
        assert got[name]["self_ns"] / 1000 == pytest.approx(self_us, abs=0.01), name


def test_calls_add_up_to_the_summary(case):
    calls = pl.read_parquet(case["flat"] / "calls.parquet")
    nulls = calls.filter(pl.col("duration_ns").is_null())
    assert nulls.height == never_closed(case)
    assert nulls["self_ns"].null_count() == nulls.height
    closed = calls.filter(pl.col("duration_ns").is_not_null())
    per = closed.group_by("function").agg(pl.len().alias("hits"), pl.col("self_ns").sum())
    got = {r["function"]: r for r in per.iter_rows(named=True)}
    want = summary_functions(case, ended=True)
    assert sum(h for h, _, _ in want.values()) == closed.height
    for name, (hits, _total_us, self_us) in want.items():
        assert got[name]["hits"] == hits, name
        if nulls.height == 0:
            # A call cut off hands its children's time to its caller in both, but the summary also counts it in
            # the cut call's total and self; with none cut, self times agree exactly.
            assert got[name]["self_ns"] / 1000 == pytest.approx(self_us, abs=0.01), name
    # Ids are unique within a process; parents are calls of the same process.
    assert calls.select(pl.struct("pid", "call_id").n_unique()).item() == calls.height
    with_parent = calls.filter(pl.col("parent_id").is_not_null())
    joined = with_parent.join(calls.select("pid", pl.col("call_id").alias("parent_id")), on=["pid", "parent_id"])
    assert joined.height == with_parent.height
    assert calls.schema["start"] == pl.Datetime("ns", "UTC")
    assert (calls["start"].dt.epoch("ns") == calls["start_ns"]).all()


def test_two_threads_log_has_the_query_that_never_ended(case):
    if case["name"] != "two_threads":
        pytest.skip("fixture-specific")
    calls = pl.read_parquet(case["flat"] / "calls.parquet")
    open_ = calls.filter(pl.col("duration_ns").is_null())
    assert open_["function"].to_list() == ["db.query"]
    assert open_["thread"].to_list() == ["MainThread"]
    events = pl.read_parquet(case["flat"] / "events.parquet")
    assert events["value"].to_list() == ["{'sql': 'SELECT 1'}"]
    lines = pl.read_parquet(case["flat"] / "lines.parquet").sort("line")
    assert lines.select("line", "hits").rows() == [(22, 2), (23, 1)]


def test_duckdb_reads_the_partitioned_export_as_one_table(case):
    con = duckdb.connect()
    glob = str(case["parts"] / "**" / "*.parquet")
    calls_glob = str(case["parts"] / "**" / "calls.parquet")
    funcs_glob = str(case["parts"] / "**" / "functions.parquet")
    n_calls, closed = con.execute(
        f"select count(*), count(duration_ns) from read_parquet('{calls_glob}', hive_partitioning=true)").fetchone()
    flat = pl.read_parquet(case["flat"] / "calls.parquet")
    assert n_calls == flat.height
    assert closed == flat["duration_ns"].count()
    hits, total_ns = con.execute(
        f"select sum(hits), sum(total_ns) from read_parquet('{funcs_glob}', hive_partitioning=true)").fetchone()
    want = summary_functions(case)
    assert hits == sum(h for h, _, _ in want.values())
    hosts = con.execute(
        f"select distinct host from read_parquet('{calls_glob}', hive_partitioning=true)").fetchall()
    expect_host = "unknown" if str(case["src"]).endswith(".log") else None
    if expect_host:
        assert hosts == [(expect_host,)]
    pids = {r[0] for r in con.execute(
        f"select distinct pid from read_parquet('{calls_glob}', hive_partitioning=true)").fetchall()}
    assert pids == set(flat["pid"].unique().to_list())
    # polars reads the same directory tree as one table too.
    lazy = pl.scan_parquet(str(case["parts"] / "**" / "calls.parquet"), hive_partitioning=True)
    assert lazy.select(pl.len()).collect().item() == flat.height
    del glob


def test_small_threads_share_row_groups_that_every_reader_reads_alike(tmp_path):
    """A thread-per-request trace (thousands of threads of a few calls): the threads' calls share row groups, whose
    `tid`/`thread`/`pid`/`host` vary row by row, and polars, pyarrow and DuckDB read the same rows."""
    src = tmp_path / "many"
    subprocess.run([GEN, "--format", "binary", "--size", "256K", "--processes", "2", "--threads", "3000", "-o",
                    str(src)], check=True, capture_output=True)
    flat, parts = tmp_path / "flat", tmp_path / "parts"
    run("export", "parquet", "-q", "--row-group-size", "10000", src, "-o", flat)
    run("export", "parquet", "-q", "--row-group-size", "10000", "--partition", src, "-o", parts)
    calls = pl.read_parquet(flat / "calls.parquet")
    threads = calls.select(pl.struct("pid", "tid").n_unique()).item()
    assert threads > 2000
    f = pq.ParquetFile(flat / "calls.parquet")
    assert f.num_row_groups <= calls.height // 10000 + 3, (f.num_row_groups, threads)
    # Each thread's rows together and in the order they began, in every row group; several threads in some.
    mixed = 0
    for i in range(f.num_row_groups):
        g = pl.from_arrow(f.read_row_group(i)).with_row_index()
        runs = g.with_columns((pl.col("call_id") // (1 << 40)).alias("ordinal")).group_by("pid", "ordinal").agg(
            pl.col("index").min().alias("lo"), pl.col("index").max().alias("hi"), pl.len(),
            pl.col("call_id").diff().drop_nulls().min().alias("step"), pl.col("tid").n_unique().alias("tids"))
        assert (runs["hi"] - runs["lo"] + 1 == runs["len"]).all(), i
        assert runs["step"].drop_nulls().min() is None or runs["step"].drop_nulls().min() > 0, i
        assert (runs["tids"] == 1).all(), i
        mixed += runs.height > 1
    assert mixed >= 1
    # pyarrow and DuckDB read the rows polars reads.
    cols = calls.columns
    arrow = pl.from_arrow(pq.read_table(flat / "calls.parquet")).select(cols)
    assert arrow.sort(cols).equals(calls.sort(cols))
    # (`start` is `start_ns`, which DuckDB may read at microseconds.)
    cols = [c for c in cols if c != "start"]
    want = Counter(calls.select(cols).rows())
    con = duckdb.connect()
    select = ", ".join(cols)
    assert Counter(con.execute(f"select {select} from read_parquet('{flat / 'calls.parquet'}')").fetchall()) == want
    hive = con.execute(
        f"select {select} from read_parquet('{parts}/**/calls.parquet', hive_partitioning=true)").fetchall()
    assert Counter(hive) == want


PSTATS_DUMP = r"""
import json, pstats, sys
s = pstats.Stats(sys.argv[1])
out = {}
for (file, line, name), (cc, nc, tt, ct, callers) in s.stats.items():
    out[f"{file}:{line}:{name}"] = [cc, nc, tt, ct, len(callers)]
s.sort_stats("cumulative").print_stats(5)
print("JSON" + json.dumps(out))
"""


def find_python(v):
    for p in sorted(Path.home().glob(f".pyenv/versions/{v}.*/bin/python{v}")):
        if os.access(p, os.X_OK):
            return str(p)
    return shutil.which(f"python{v}")


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.13"])
def test_pstats_loads_on_each_python_with_the_summary_counts(case, version):
    py = find_python(version)
    if py is None:
        print(f"SKIP: python {version} not installed")
        pytest.skip(f"python {version} not installed")
    p = subprocess.run([py, "-c", PSTATS_DUMP, str(case["prof"])], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout.split("JSON", 1)[1])
    calls = pl.read_parquet(case["flat"] / "calls.parquet")
    cut = calls["duration_ns"].null_count() > 0
    # The stats' names are `qualname`s; match them with the summary's `module.qualname` by the calls table.
    names = calls.select("function", "module", "file", "first_line").unique()
    want = summary_functions(case, ended=True)
    seen = 0
    for r in names.iter_rows(named=True):
        if r["function"] not in want:
            continue
        qual = r["function"][len(r["module"]) + 1:] if r["module"] else r["function"]
        key = f"{r['file'] or r['module']}:{r['first_line']}:{qual}"
        cc, nc, tt, ct, _ = stats[key]
        hits, total_us, self_us = want[r["function"]]
        assert nc == hits, key
        assert cc <= nc, key
        if not cut:
            assert tt * 1e6 == pytest.approx(self_us, abs=0.01), key
            assert ct * 1e6 == pytest.approx(total_us, abs=0.01), key
        seen += 1
    assert seen == len(want)


def test_gprof2dot_renders_the_pstats_file(case):
    p = subprocess.run([sys.executable, "-m", "gprof2dot", "-f", "pstats", str(case["prof"])],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("digraph")


def _stats_roots(prof):
    """(every function's "file:line(name)" label, the roots tuna starts from: no caller, cumulative > 10 µs)."""
    import pstats

    stats = pstats.Stats(str(prof)).stats
    names = [name for (_file, _line, name) in stats]
    roots = [f"{file}::{line}::{name}" for (file, line, name), v in stats.items() if not v[4] and v[3] > 1e-5]
    return names, roots


def test_tuna_renders_the_pstats_file(case, tmp_path):
    """tuna (a viewer of cProfile files) reads the export as a runtime profile and draws a tree from its roots."""
    out = tmp_path / "tuna"
    p = subprocess.run([str(Path(sys.executable).parent / "tuna"), str(case["prof"]), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    page = (out / "index.html").read_text()
    _names, roots = _stats_roots(case["prof"])
    assert roots, "no root with time: tuna would refuse the file"
    for root in roots:
        assert json.dumps(root) in page, root


def test_snakeviz_serves_the_pstats_file(case):
    """snakeviz, as a user starts it (`snakeviz -s out.prof`), serves a page holding every function."""
    import html
    import socket
    import time
    import urllib.parse
    import urllib.request

    with socket.socket() as s:  # a free port (snakeviz would move to another one if it were taken)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "snakeviz", "-s", "-p", str(port), str(case["prof"])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/snakeviz/" + urllib.parse.quote(str(Path(case["prof"]).resolve()), safe="")
    try:
        page = None
        deadline = time.monotonic() + 60
        while page is None:
            assert server.poll() is None, server.stderr.read()
            try:
                with urllib.request.urlopen(url, timeout=30) as reply:
                    assert reply.status == 200
                    page = html.unescape(reply.read().decode())
            except urllib.error.HTTPError as err:  # it answered, with an error: snakeviz could not read the file
                raise AssertionError(f"snakeviz answered {err.code}: {err.read()[:500]!r}") from None
            except (ConnectionError, urllib.error.URLError):
                assert time.monotonic() < deadline, "snakeviz did not answer within 60 s"
                time.sleep(0.2)
        names, _roots = _stats_roots(case["prof"])
        for name in names:
            assert name in page, name
    finally:
        server.kill()
        server.wait()
def tuna_names(node):
    """The functions a tuna tree names (its `file::line::name` nodes, not the `::self` leaves)."""
    own = {node["text"][0]} if "::" in node["text"][0] and not node["text"][0].endswith("::self") else set()
    return own.union(*(tuna_names(c) for c in node.get("children", [])))


def test_snakeviz_and_tuna_load_the_pstats_file(case):
    """The file goes through the loaders snakeviz and tuna run on a cProfile file (without their browser)."""
    import pstats

    from snakeviz.stats import json_stats, table_rows
    from tuna.main import read as tuna_read

    stats = pstats.Stats(str(case["prof"]))
    rows = table_rows(stats)
    assert len(rows) == len(stats.stats) > 0
    for (calls, nc), *_, name in rows:
        file, line, func = re.fullmatch(r"(.*):(\d+)\((.*)\)", name).groups()
        cc, want_nc, *_ = stats.stats[(file, int(line), func)]
        assert nc == want_nc
        assert calls == (str(nc) if cc == nc else f"{nc}/{cc}")
    # What snakeviz sends its page: every function, as JSON.
    callees = json.loads(json.dumps(json_stats(stats)))
    assert set(callees) == {r[-1] for r in rows}
    # tuna draws from the functions no one called that took more than 10 µs (every case's roots do).
    drawn = tuna_names(tuna_read(str(case["prof"])))
    assert drawn
    assert drawn <= {"{}::{}::{}".format(*k) for k in stats.stats}


def test_updates_table_has_every_update_marker(case):
    dump = run("dump", *sorted(Path(case["src"]).glob("*")) if Path(case["src"]).is_dir() else [case["src"]],
               ok=(0, 1)).stdout
    markers = [ln for ln in dump.splitlines() if " update " in ln]
    updates = pl.read_parquet(case["flat"] / "updates.parquet")
    assert updates.height == len(markers)
    assert set(updates["action"].to_list()) <= {"applied", "reverted"}
    if case["name"] == "generated":
        assert updates.height > 0, "the generator records update markers"


def test_events_table_has_every_debugger_value(case):
    want = json.loads(run("events", "-q", "--format", "json", case["src"], ok=(0, 1)).stdout)
    events = pl.read_parquet(case["flat"] / "events.parquet").sort("time_ns", "function", "name", "value")
    assert events.height == len(want)
    got = sorted(zip(events["function"], events["kind"], events["name"], events["value"], events["line"]))
    assert got == sorted((e["function"], e["kind"], e["name"], e["value"], e["line"]) for e in want)
