#!/usr/bin/env python3
"""Writes rongxin-dashboard.json, the Grafana dashboard for a Rongxin
federation, from the panel list below (run it after editing; CI checks the
file is current and that every metric it names is one the node exports).

Import in Grafana: Dashboards > New > Import, pick the Prometheus data source
that scrapes the nodes as job "rongxin".
"""
import json
import pathlib

# (title, kind, expressions [(expr, legend)], unit, width)
ROWS = [
    ("节点 Nodes", [
        ("节点在线 Nodes up", "stat", [('up{job="rongxin"}', "{{instance}}")], "none", 8),
        ("存储可写 Store writable", "stat", [("rongxin_store_writable", "{{instance}}")], "none", 8),
        ("磁盘剩余 Disk free vs reserve", "timeseries",
         [("rongxin_disk_free_bytes", "free {{instance}}"),
          ("rongxin_disk_reserve_bytes", "reserve {{instance}}")], "bytes", 8),
    ]),
    ("复制 Replication", [
        ("复制滞后（条） Replication lag, entries", "timeseries",
         [("max by (instance, origin) (rongxin_replication_lag_entries)", "{{instance}} ← {{origin}}")],
         "none", 12),
        ("拒收条目 Entries refused per peer", "timeseries",
         [("increase(rongxin_replication_refused_total[15m])", "{{instance}} ← {{peer}}")], "none", 6),
        ("暂停的来源 Halted origins", "stat",
         [("sum by (origin) (rongxin_origin_halted)", "{{origin}}"),
          ("sum(increase(rongxin_equivocations_total[24h]))", "equivocations 24h")], "none", 6),
        ("日志规模 Entries held per origin", "timeseries",
         [("max by (origin) (rongxin_log_size)", "{{origin}}")], "none", 12),
        ("复制速率 Entries replicated per second", "timeseries",
         [("rate(rongxin_replicated_entries_total[5m])", "{{instance}}")], "ops", 12),
    ]),
    ("归集 Ingest", [
        ("归集 Records submitted per second", "timeseries",
         [("sum by (instance, result) (rate(rongxin_ingest_records_total[5m]))", "{{instance}} {{result}}")],
         "ops", 12),
        ("提交耗时 Commit p99", "timeseries",
         [("histogram_quantile(0.99, sum by (instance, le) (rate(rongxin_commit_seconds_bucket[5m])))", "{{instance}}")],
         "s", 12),
    ]),
    ("报送省平台 Forwarding to the province", [
        ("待报送（条） Waiting for the province", "timeseries",
         [("rongxin_forward_lag_entries", "{{origin}}")], "none", 12),
        ("报送速率与错误 Forwarded and errors", "timeseries",
         [("rate(rongxin_forwarded_entries_total[5m])", "forwarded/s"),
          ("sum by (origin) (increase(rongxin_forward_errors_total[15m]))", "errors {{origin}}")], "none", 12),
    ]),
    ("信用业务 Credit work", [
        ("异议 Objections open / overdue", "timeseries",
         [("sum by (origin) (rongxin_objections_open)", "open {{origin}}"),
          ("sum by (origin) (rongxin_objections_overdue)", "overdue {{origin}}")], "none", 8),
        ("信用修复 Repairs open / overdue", "timeseries",
         [("sum by (origin) (rongxin_repairs_open)", "open {{origin}}"),
          ("sum by (origin) (rongxin_repairs_overdue)", "overdue {{origin}}")], "none", 8),
        ("双公示按时率 On-time rate by authority", "table",
         [("max by (origin, authority, kind) (rongxin_publication_on_time) / "
           "(max by (origin, authority, kind) (rongxin_publication_on_time) + "
           "max by (origin, authority, kind) (rongxin_publication_late))", "")], "percentunit", 8),
    ]),
]


def panel(pid, title, kind, exprs, unit, width, x, y):
    p = {
        "id": pid,
        "title": title,
        "type": kind,
        "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                **({"format": "table", "instant": True} if kind == "table" else {}),
            }
            for i, (expr, legend) in enumerate(exprs)
        ],
    }
    if kind == "stat":
        p["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}],
        }
        if title.startswith("暂停"):
            p["fieldConfig"]["defaults"]["thresholds"]["steps"] = [
                {"color": "green", "value": None}, {"color": "red", "value": 1}]
    return p


def dashboard():
    panels, pid, y = [], 1, 0
    for row_title, row_panels in ROWS:
        panels.append({"id": pid, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid += 1
        y += 1
        x = 0
        for title, kind, exprs, unit, width in row_panels:
            if x + width > 24:
                x, y = 0, y + 8
            panels.append(panel(pid, title, kind, exprs, unit, width, x, y))
            pid += 1
            x += width
        y += 8
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "title": "榕信 Rongxin federation",
        "uid": "rongxin-federation",
        "tags": ["rongxin"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    out = pathlib.Path(__file__).with_name("rongxin-dashboard.json")
    out.write_text(json.dumps(dashboard(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
