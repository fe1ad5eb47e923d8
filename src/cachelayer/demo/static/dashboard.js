/* The cachelayer dashboard: polls /dashboard/data once a second and redraws. */
"use strict";

const charts = [
  ["hit-ratio-chart", {title: "Hit ratio per tier", unit: " %", scale: 100, max: 1, series: [
    {key: "ratio_total", label: "both tiers", color: "#2b7a0b"},
    {key: "ratio_l1", label: "L1 (in-process)", color: "#1f6feb"},
    {key: "ratio_redis", label: "Redis", color: "#d4a72c"}]}],
  ["latency-chart", {title: "Lesson page latency (server side)", unit: " ms", series: [
    {key: "cached_p50_ms", label: "p50 from the cache", color: "#1f6feb"},
    {key: "cached_p99_ms", label: "p99 from the cache", color: "#8957e5"},
    {key: "loader_p50_ms", label: "p50 with the SQLite loader", color: "#cf222e"}]}],
  ["l1-chart", {title: "L1 fill and compression saving", unit: " %", scale: 100, max: 1, series: [
    {key: "l1_fill", label: "L1 fill", color: "#1f6feb"},
    {key: "compression_saving", label: "bytes saved in Redis", color: "#2b7a0b"}]}],
  ["activity-chart", {title: "Requests, invalidations and sessions", series: [
    {key: "requests_per_s", label: "requests/s", color: "#1f6feb"},
    {key: "invalidations", label: "invalidations/s", color: "#cf222e"},
    {key: "sessions_active", label: "active sessions", color: "#2b7a0b"}]}],
].map(([id, options]) => new LineChart(document.getElementById(id), options));

function pct(x) { return (100 * x).toFixed(1) + " %"; }

async function refresh() {
  try {
    const response = await fetch("/dashboard/data", {cache: "no-store"});
    const data = await response.json();
    for (const chart of charts) chart.update(data.series);
    const ratio = document.getElementById("hit-ratio");
    ratio.textContent = pct(data.hit_ratio);
    ratio.setAttribute("data-value", String(data.hit_ratio));
    document.getElementById("saving").textContent = pct(data.compression_saving);
    document.getElementById("sessions").textContent = String(data.active_sessions);
    document.getElementById("uptime").textContent = `${Math.round(data.uptime_s)} s`;
    const reads = data.reads;
    document.getElementById("reads").textContent =
      `${reads.l1.toLocaleString()} L1 · ${reads.redis.toLocaleString()} Redis · ${reads.miss.toLocaleString()} misses`;
    document.body.setAttribute("data-refreshed", String(Date.now()));
  } catch (err) {
    document.getElementById("status").textContent = "no data: " + err;
  }
}

refresh();
setInterval(refresh, 1000);
