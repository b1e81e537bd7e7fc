#!/usr/bin/env python3
"""The SQL of the Grafana dashboards, as Grafana's PostgreSQL data source
would send it.

Every panel of docker/grafana/dashboards/*.json keeps its query in
targets[].rawSql, with Grafana's macros ($__timeFilter(col) and the like).
This module finds them all and expands the macros for a given time range the
way Grafana's postgres macro engine does, so that the queries can be run
without Grafana: test/docker/run.sh runs every one as the dashboards'
read-only role, docker/grafana/plot.py draws their results, and make demo
prints some of them (demo/show.sql).

A macro or template variable that is not expanded here is an error, not
something passed through: a query the test cannot run as Grafana would must
not pass it.

    panels.py list [--from T --to T] [DASHBOARD.json...]
        one JSON object per panel query: dashboard, row, panel, title, type,
        format, sql (expanded)
    panels.py psql --from T --to T [--only TITLE...] [DASHBOARD.json...]
        a psql script that prints each panel's title and runs its query
"""
import argparse
import datetime as dt
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARDS = sorted(glob.glob(os.path.join(HERE, "dashboards", "*.json")))

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text):
    """An ISO 8601 instant (a date alone is midnight UTC)."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def interval_seconds(text):
    m = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w)'?\s*", text)
    if not m:
        raise ValueError("invalid interval %r in a macro" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


def split_args(text):
    """The arguments of a macro call, split at top-level commas."""
    args, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


def expand(sql, t_from, t_to, interval="1m"):
    """Grafana's postgres macros, expanded as pkg/tsdb/grafana-postgresql-
    datasource/macros.go does (for the macros the dashboards use)."""
    f, t = rfc3339(t_from), rfc3339(t_to)

    def group(args):
        secs = interval_seconds(args[1])
        secs = int(secs) if secs == int(secs) else secs
        return "floor(extract(epoch from %s)/%s)*%s" % (args[0], secs, secs)

    macros = {
        "__time": lambda a: '%s AS "time"' % a[0],
        "__timeEpoch": lambda a: 'extract(epoch from %s) AS "time"' % a[0],
        "__timeFilter": lambda a: "%s BETWEEN '%s' AND '%s'" % (a[0], f, t),
        "__timeFrom": lambda a: "'%s'" % f,
        "__timeTo": lambda a: "'%s'" % t,
        "__timeGroup": group,
        "__timeGroupAlias": lambda a: group(a) + ' AS "time"',
        "__unixEpochFilter": lambda a: "%s >= %d AND %s <= %d" % (
            a[0], t_from.timestamp(), a[0], t_to.timestamp()),
    }
    out, pos = "", 0
    pattern = re.compile(r"\$(__\w+)\(")
    while True:
        m = pattern.search(sql, pos)
        if not m:
            break
        name = m.group(1)
        if name not in macros:
            raise ValueError("macro $%s is not expanded by panels.py" % name)
        depth, i = 1, m.end()
        while depth and i < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        if depth:
            raise ValueError("unbalanced parentheses in $%s(" % name)
        out += sql[pos:m.start()] + macros[name](split_args(sql[m.end():i - 1]))
        pos = i
    out += sql[pos:]
    out = out.replace("$__interval_ms", str(int(interval_seconds(interval) * 1000)))
    out = out.replace("$__interval", interval)
    left = re.search(r"\$\{?\w+", out)
    if left:
        raise ValueError("%s is not expanded by panels.py" % left.group(0))
    return out


def queries(paths=None, t_from=None, t_to=None):
    """Every query of every panel (inside rows too), in dashboard order."""
    for path in paths or DASHBOARDS:
        with open(path) as fh:
            dash = json.load(fh)
        row = None
        stack = list(dash.get("panels", []))
        while stack:
            p = stack.pop(0)
            if p.get("type") == "row":
                row = p.get("title")
                stack[0:0] = p.get("panels", [])
                continue
            for target in p.get("targets", []):
                sql = target.get("rawSql")
                if sql is None:
                    raise ValueError("%s: panel %r has a query without rawSql"
                                     % (path, p.get("title")))
                yield {
                    "dashboard": os.path.basename(path),
                    "dashboard_title": dash.get("title"),
                    "row": row,
                    "panel": p.get("id"),
                    "title": p.get("title"),
                    "type": p.get("type"),
                    "gridPos": p.get("gridPos"),
                    "refId": target.get("refId"),
                    "format": target.get("format", "time_series"),
                    "rawSql": sql,
                    "sql": expand(sql, t_from, t_to) if t_from else None,
                }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["list", "psql"])
    ap.add_argument("--from", dest="t_from")
    ap.add_argument("--to", dest="t_to")
    ap.add_argument("--only", action="append", help="panel titles to keep")
    ap.add_argument("dashboards", nargs="*")
    a = ap.parse_args()
    t_from = parse_time(a.t_from) if a.t_from else None
    t_to = parse_time(a.t_to) if a.t_to else None
    if a.command == "psql" and not (t_from and t_to):
        ap.error("psql needs --from and --to")
    for q in queries(a.dashboards or None, t_from, t_to):
        if a.only and q["title"] not in a.only:
            continue
        if a.command == "list":
            print(json.dumps(q))
        else:
            title = "%s: %s" % (q["dashboard_title"], q["title"])
            print("\\echo '== Dashboard panel \"%s\", its query as Grafana sends it'"
                  % title.replace("'", "''"))
            print("\\set ECHO queries")
            print(q["sql"].rstrip().rstrip(";") + ";")
            print("\\set ECHO none\n")


if __name__ == "__main__":
    sys.exit(main())
