// The console page of a Rongxin node (docs/console.md). Reads two JSON
// endpoints every REFRESH_MS with the token kept in this tab's session
// storage, and redraws the tables in place; builds the DOM with
// textContent only, so no text from the network is ever parsed as HTML.
"use strict";

const REFRESH_MS = 5000;
const TOKEN_KEY = "rongxin-console-token";
const ROLES = { district: "区县", ftz: "自贸区", city: "市级" };
// Kind code -> Chinese name, from the node's catalog (GET /v1/catalog).
let kindNames = {};

const $ = (sel) => document.querySelector(sel);

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? "" : String(c)));
  }
  return e;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJson(url) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const r = await fetch(url, { headers, cache: "no-store" });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : r.statusText;
    throw new HttpError(r.status, msg);
  }
  return body;
}

function localTime(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toLocaleString("zh-CN", { hour12: false });
}

function ago(ms, now) {
  if (ms === null || ms === undefined) return "从未";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return s + " 秒前";
  if (s < 3600) return Math.floor(s / 60) + " 分钟前";
  if (s < 86400) return Math.floor(s / 3600) + " 小时前";
  return Math.floor(s / 86400) + " 天前";
}

// Replaces the rows of `section`'s table (or `table`), showing the
// section's "empty" paragraph when there are none.
function fill(section, rows, table) {
  const t = table || section.querySelector("table");
  const body = t.querySelector("tbody");
  body.replaceChildren(...rows);
  t.hidden = rows.length === 0;
}

function showEmpty(section, empty) {
  const p = section.querySelector(".empty");
  if (p) p.hidden = !empty;
}

function drawNode(fed, con) {
  $("#node").textContent =
    `本节点：${con.name}（${con.member}，${ROLES[con.role] || con.role}）· 版本 ${con.version}` +
    ` · 失联判定：${Math.round(fed.stale_after_ms / 1000)} 秒未收到报告`;
}

function drawMembers(fed) {
  const rows = fed.nodes.map((n) => {
    let state = "正常";
    let cls = "ok";
    if (n.stale) {
      state = n.heard === null ? "从未报告" : "失联";
      cls = "stale";
    } else if (n.health === "unwritable") {
      state = "存储不可写";
      cls = "bad";
    }
    return h("tr", { "data-member": n.member, "data-stale": n.stale, class: cls },
      h("td", {}, n.member), h("td", {}, n.name), h("td", {}, ROLES[n.role] || n.role),
      h("td", { class: "state" }, state), h("td", {}, n.version || "—"),
      h("td", { title: localTime(n.heard) }, ago(n.heard, fed.now_ms)));
  });
  fill($("#members"), rows);
}

/** A lag in seconds as the staff read it: 45秒, 12分5秒, 3小时20分, 2天4小时. */
function span(s) {
  if (s < 60) return `${s}秒`;
  if (s < 3600) return `${Math.floor(s / 60)}分${s % 60}秒`;
  if (s < 86400) return `${Math.floor(s / 3600)}小时${Math.floor((s % 3600) / 60)}分`;
  return `${Math.floor(s / 86400)}天${Math.floor((s % 86400) / 3600)}小时`;
}

function drawMatrix(fed) {
  const origins = [...new Set(fed.nodes.flatMap((n) => n.origins.map((o) => o.origin)))].sort();
  const names = Object.fromEntries(fed.nodes.map((n) => [n.member, n.name]));
  const head = $("#matrix thead tr");
  head.replaceChildren(h("th", {}, "节点 \\ 来源"), ...origins.map((o) => h("th", { title: o }, names[o] || o)));
  const rows = fed.nodes.filter((n) => n.heard !== null).map((n) => {
    const held = Object.fromEntries(n.origins.map((o) => [o.origin, o]));
    const cells = origins.map((origin) => {
      const o = held[origin];
      if (!o) return h("td", { class: n.stale ? "stale" : "none", "data-origin": origin }, "—");
      const secs = o.lag_seconds;
      const late = o.lag > 1000 || (secs !== null && secs !== undefined && secs > 300);
      const cls = n.stale ? "stale" : o.lag === 0 ? "lag0" : late ? "lag2" : "lag1";
      const behind = secs === null || secs === undefined ? "时长未知" : span(secs);
      const text = o.lag === 0 ? String(o.held) : `${o.held}（${o.lag}，${behind}）`;
      return h("td", {
        class: cls, "data-origin": origin, "data-held": o.held, "data-lag": o.lag,
        "data-lag-seconds": secs === null || secs === undefined ? "" : secs,
        title: `${n.name} 持有 ${names[origin] || origin} ${o.held} 条，滞后 ${o.lag} 条（${behind}：所缺最早一条的签名时间至今）；见过的最大检查点 ${o.checkpoint}`,
      }, text);
    });
    return h("tr", { "data-member": n.member, "data-stale": n.stale },
      h("th", { title: n.stale ? `失联：最后报告 ${localTime(n.heard)}` : "" }, n.name), ...cells);
  });
  fill($("#matrix"), rows);
}

function drawForwarding(con) {
  const rows = con.forwarding.map((f) =>
    h("tr", { "data-origin": f.origin, class: f.last_error ? "bad" : f.held > f.forwarded ? "lag1" : "" },
      h("td", {}, f.origin), h("td", {}, f.held), h("td", {}, f.forwarded),
      h("td", {}, Math.max(0, f.held - f.forwarded)), h("td", {}, f.last_error || "")));
  fill($("#forwarding"), rows);
  showEmpty($("#forwarding"), rows.length === 0);
}

function drawRefused(con) {
  const section = $("#refused");
  const refusals = con.refusals.map((r) =>
    h("tr", { "data-peer": r.peer, "data-origin": r.origin },
      h("td", {}, localTime(r.time_ms)),
      h("td", { title: `首次 ${localTime(r.first_ms)}` }, r.count), h("td", {}, r.peer), h("td", {}, r.origin), h("td", { class: "why" }, r.reason)));
  fill(section, refusals, $("#refusals"));
  const evidence = con.evidence.map((e) =>
    h("tr", { "data-origin": e.origin, class: "bad" },
      h("td", {}, localTime(e.detected_ms)), h("td", {}, e.origin), h("td", {}, e.kind), h("td", { class: "why" }, e.why)));
  fill(section, evidence, $("#evidence"));
  const halted = $("#halted");
  halted.hidden = con.halted.length === 0;
  halted.textContent = `已暂停复制的来源（发现分叉签名，需人工处置）：${con.halted.join("、")}`;
  showEmpty(section, refusals.length + evidence.length + con.halted.length === 0);
}

function drawCases(con) {
  const rows = con.cases.filter((c) => c.objections_open + c.repairs_open > 0).map((c) =>
    h("tr", { "data-origin": c.origin, class: c.objections_overdue + c.repairs_overdue > 0 ? "bad" : "" },
      h("td", {}, c.origin), h("td", {}, c.objections_open), h("td", {}, c.objections_overdue),
      h("td", {}, c.repairs_open), h("td", {}, c.repairs_overdue)));
  fill($("#cases"), rows);
  showEmpty($("#cases"), rows.length === 0);
}

function drawSubmissions(con) {
  const rows = (con.submissions || []).map((t) => {
    const top = t.reasons.slice().sort((a, b) => b.count - a.count)[0];
    return h("tr", { "data-origin": t.origin, "data-department": t.department, class: t.refused > 0 ? "lag1" : "" },
      h("td", {}, t.origin), h("td", {}, t.department), h("td", {}, t.submitted), h("td", {}, t.accepted),
      h("td", {}, t.duplicates), h("td", {}, t.refused),
      h("td", { class: "why" }, top ? `${top.field}（${top.count}）：${top.example}` : ""));
  });
  fill($("#submissions"), rows);
  showEmpty($("#submissions"), rows.length === 0);
}

function drawTimeliness(con) {
  const rows = con.timeliness.map((t) => {
    const total = t.on_time + t.late;
    const rate = total === 0 ? "—" : (100 * t.on_time / total).toFixed(1) + "%";
    return h("tr", { "data-origin": t.origin, class: t.late > 0 ? "lag1" : "" },
      h("td", {}, t.origin), h("td", {}, t.authority), h("td", {}, kindNames[t.kind] ? `${kindNames[t.kind]}（${t.kind}）` : t.kind),
      h("td", {}, t.on_time), h("td", {}, t.late), h("td", {}, rate));
  });
  fill($("#timeliness"), rows);
  showEmpty($("#timeliness"), rows.length === 0);
  $("#timeliness-meta").textContent = con.summarized_ms === null
    ? "统计中……"
    : `期限 ${con.deadline_working_days} 个工作日；统计于 ${localTime(con.summarized_ms)}（后台定期汇总）；显示最差的 ${con.timeliness.length} 行，共 ${con.timeliness_rows} 行（全部及超期记录：JSON 链接）`;
}

function askToken(why) {
  $("#main").hidden = true;
  $("#token-form").hidden = false;
  $("#token-why").textContent = why;
}

async function loadKinds() {
  try {
    const c = await getJson("/v1/catalog");
    kindNames = Object.fromEntries(c.kinds.map((k) => [k.code, k.name]));
  } catch (e) {
    // The codes are shown instead.
  }
}

let refreshes = 0;
let timer = null;
let running = false;

async function refresh() {
  clearTimeout(timer);
  if (running) return;
  running = true;
  try {
    const [fed, con] = await Promise.all([getJson("/v1/admin/federation"), getJson("/v1/admin/console")]);
    $("#token-form").hidden = true;
    $("#error").hidden = true;
    $("#main").hidden = false;
    drawNode(fed, con);
    drawMembers(fed);
    drawMatrix(fed);
    drawForwarding(con);
    drawRefused(con);
    drawCases(con);
    drawSubmissions(con);
    drawTimeliness(con);
    refreshes += 1;
    const r = $("#refreshed");
    r.dataset.refreshes = refreshes;
    r.textContent = `更新于 ${localTime(con.now_ms)}，每 ${REFRESH_MS / 1000} 秒自动刷新`;
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) {
      const had = token() !== null;
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(had
        ? `令牌无效或已过期（${e.message}）：请输入有效的 admin 或 monitor 令牌。`
        : "此页面的数据需要管理员（admin）或监控（monitor）令牌：请输入令牌。");
    } else if (e instanceof HttpError && e.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(`此令牌无权查看（${e.message}）：需要 admin 或 monitor 角色的令牌。`);
    } else {
      const err = $("#error");
      err.hidden = false;
      err.textContent = `无法从本节点读取数据（${e.message}），${REFRESH_MS / 1000} 秒后重试；下方为上次读到的数据。`;
    }
  } finally {
    running = false;
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

async function showJson(event) {
  event.preventDefault();
  const url = event.currentTarget.getAttribute("href");
  $("#json-url").textContent = url;
  try {
    $("#json-body").textContent = JSON.stringify(await getJson(url), null, 2);
  } catch (e) {
    $("#json-body").textContent = `读取失败：${e.message}`;
  }
  $("#json").showModal();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    $("#token-form").hidden = true;
    refresh();
  });
  for (const a of document.querySelectorAll("a.src")) a.addEventListener("click", showJson);
  loadKinds().finally(refresh);
});
