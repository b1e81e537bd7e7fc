#!/usr/bin/env python3
"""Draw the Grafana dashboards' panels to PNG, from the panels' own queries.

Grafana does not run on the machine that builds rail_stream (it is not in
Debian, and no container image can be pulled there), so the screenshots
under docker/grafana/screenshots are not Grafana's: each row of each
dashboard becomes one PNG in which every panel is drawn at its grid
position, from the result of its query (docker/grafana/panels.py expands
the macros) run through psql with the connection of the environment
(PGHOST, PGUSER... -- test/docker/run.sh --screenshots uses the read-only
role).  Geomaps become a scatter plot of longitude and latitude, time
series lines or bars, bar charts and bar gauges horizontal bars, stats
their numbers, tables tables.

    plot.py --from T --to T --out DIR [DASHBOARD.json...]
"""
import argparse
import csv
import io
import os
import re
import subprocess
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import panels  # noqa: E402

ROW_HEIGHT_IN = 0.42        # one Grafana grid unit (30 px) in inches
WIDTH_IN = 22.0             # 24 grid columns


def run(sql):
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "--csv", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], rows[1:]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def when(v):
    return matplotlib.dates.datestr2num(v)


def short(v, n=38):
    v = v if v is not None else ""
    return v if len(v) <= n else v[:n - 1] + "…"


def draw_table(ax, cols, rows, limit=14):
    ax.axis("off")
    shown = [[short(c, 30) for c in r] for r in rows[:limit]]
    if not shown:
        ax.text(0.5, 0.5, "No data", ha="center", va="center", color="grey")
        return
    t = ax.table(cellText=shown, colLabels=cols, loc="upper center", cellLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(7)
    t.auto_set_column_width(list(range(len(cols))))
    for (r, _), cell in t.get_celld().items():
        cell.set_edgecolor("#dddddd")
        if r == 0:
            cell.set_facecolor("#eef1f5")
            cell.set_text_props(weight="bold")
    if len(rows) > limit:
        ax.text(0.99, 0.0, "%d of %d rows" % (limit, len(rows)), ha="right",
                va="bottom", fontsize=7, color="grey", transform=ax.transAxes)


def draw_timeseries(ax, cols, rows, t_from, t_to, bars=False):
    series = OrderedDict()
    ti = cols.index("time")
    if "metric" in cols:
        mi, vi = cols.index("metric"), cols.index("value")
        for r in rows:
            series.setdefault(r[mi], []).append((when(r[ti]), num(r[vi])))
    else:
        for c in cols:
            if c != "time":
                ci = cols.index(c)
                series[c] = [(when(r[ti]), num(r[ci])) for r in rows]
    if bars:
        times = sorted({t for s in series.values() for t, _ in s})
        # at least a thousandth of the range, so that a minute shows in years
        width = max(1 / 1440, (mdates.date2num(t_to) - mdates.date2num(t_from)) / 1000)
        bottom = {t: 0.0 for t in times}
        for name, pts in series.items():
            xs = [t for t, _ in pts]
            ys = [v or 0 for _, v in pts]
            ax.bar(xs, ys, width=width, bottom=[bottom[x] for x in xs], label=name)
            for x, y in zip(xs, ys):
                bottom[x] += y
    else:
        for name, pts in series.items():
            ax.plot([t for t, _ in pts], [v for _, v in pts], marker="o", ms=3, label=short(name, 28))
    # the dashboard's time range, as Grafana draws it
    ax.set_xlim(mdates.date2num(t_from), mdates.date2num(t_to))
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.grid(alpha=0.3)
    if len(series) > 1 or "metric" in cols:
        ax.legend(fontsize=6, ncol=2 if len(series) > 6 else 1, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), frameon=False)


def draw_bars(ax, cols, rows):
    label = cols[0]
    vi = next(i for i, c in enumerate(cols) if i > 0)
    names = [short(r[0], 40) for r in rows][::-1]
    values = [num(r[vi]) or 0 for r in rows][::-1]
    ax.barh(names, values, color="#5794f2")
    for y, v in enumerate(values):
        ax.text(v, y, " %g" % v, va="center", fontsize=7)
    ax.set_xlabel(cols[vi], fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylabel(label, fontsize=7)


def draw_stat(ax, cols, rows):
    ax.axis("off")
    r = rows[0] if rows else [""] * len(cols)
    for i, (c, v) in enumerate(zip(cols, r)):
        x = (i + 0.5) / len(cols)
        ax.text(x, 0.55, v, ha="center", va="center", fontsize=22, weight="bold",
                color={"failed": "#e02f44", "delivered": "#37872d"}.get(c, "#1f60c4"))
        ax.text(x, 0.2, c, ha="center", va="center", fontsize=8)


def draw_geomap(ax, cols, rows, panel_json):
    la, lo, ci = cols.index("latitude"), cols.index("longitude"), cols.index("minutes_late")
    pts = [(num(r[lo]), num(r[la]), num(r[ci]) or 0) for r in rows]
    d = (panel_json or {}).get("fieldConfig", {}).get("defaults", {})
    sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[p[2] for p in pts],
                    cmap="RdYlGn_r", vmin=d.get("min", -10), vmax=d.get("max", 30),
                    s=14, edgecolors="none", alpha=0.85)
    ax.set_xlim(-6.5, 2.0)
    ax.set_ylim(49.8, 59.0)
    ax.set_aspect(1 / 0.6)       # about right for Britain's latitude
    ax.grid(alpha=0.3)
    ax.set_xlabel("longitude", fontsize=7)
    ax.set_ylabel("latitude", fontsize=7)
    ax.tick_params(labelsize=7)
    cb = plt.colorbar(sc, ax=ax, fraction=0.04)
    cb.set_label("minutes late (negative: early)", fontsize=7)
    cb.ax.tick_params(labelsize=7)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="t_from", required=True)
    ap.add_argument("--to", dest="t_to", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("dashboards", nargs="*")
    a = ap.parse_args()
    t_from, t_to = panels.parse_time(a.t_from), panels.parse_time(a.t_to)
    import json
    by_row = OrderedDict()
    for q in panels.queries(a.dashboards or None, t_from, t_to):
        by_row.setdefault((q["dashboard"], q["dashboard_title"], q["row"]), []).append(q)
    os.makedirs(a.out, exist_ok=True)
    for (dash_file, dash_title, row), qs in by_row.items():
        with open(os.path.join(panels.HERE, "dashboards", dash_file)) as fh:
            pj = {p.get("id"): p for p in json.load(fh)["panels"]}
        top = min(q["gridPos"]["y"] for q in qs)
        bottom = max(q["gridPos"]["y"] + q["gridPos"]["h"] for q in qs)
        height = (bottom - top) * ROW_HEIGHT_IN + 0.9
        fig = plt.figure(figsize=(WIDTH_IN, height), dpi=80)
        fig.suptitle("%s — %s   (%s to %s; drawn from the panels' queries, not by Grafana)"
                     % (dash_title, row or "", panels.rfc3339(t_from), panels.rfc3339(t_to)),
                     fontsize=11, x=0.01, ha="left")
        for q in qs:
            g = q["gridPos"]
            pad_x, pad_y = 0.035, 0.5
            left = g["x"] / 24 + pad_x * g["w"] / 24
            w = g["w"] / 24 * (1 - 2 * pad_x) - (0.06 if q["type"] in ("timeseries",) else 0)
            y_in = (g["y"] - top) * ROW_HEIGHT_IN
            h_in = g["h"] * ROW_HEIGHT_IN
            b = 1 - (y_in + h_in + 0.35) / height
            h = (h_in - pad_y - 0.2) / height
            if q["type"] in ("barchart", "bargauge"):   # room for the labels
                left, w = left + w * 0.25, w * 0.72
            ax = fig.add_axes([left, b, w, h])
            ax.set_title(q["title"], fontsize=9, loc="left", weight="bold")
            cols, rows = run(q["sql"])
            t = q["type"]
            if t == "geomap":
                draw_geomap(ax, cols, rows, pj.get(q["panel"]))
            elif t == "timeseries":
                bars = pj.get(q["panel"], {}).get("fieldConfig", {}).get("defaults", {}) \
                    .get("custom", {}).get("drawStyle") == "bars"
                draw_timeseries(ax, cols, rows, t_from, t_to, bars)
            elif t in ("barchart", "bargauge"):
                draw_bars(ax, cols, rows)
            elif t == "stat":
                draw_stat(ax, cols, rows)
            else:
                draw_table(ax, cols, rows)
        name = re.sub(r"[^a-z0-9]+", "_", "%s_%s" % (os.path.splitext(dash_file)[0],
                                                    (row or "panels").lower())).strip("_")
        path = os.path.join(a.out, name + ".png")
        fig.savefig(path)
        plt.close(fig)
        print(path)


if __name__ == "__main__":
    sys.exit(main())
