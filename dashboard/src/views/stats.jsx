// Counts over time by one dimension, drawn with uPlot, and each key's trend and anomaly from
// the API's `analysis`. The chart box has a fixed height, so nothing jumps when data arrives.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, query } from "../api.js";
import { TrendArrow, AnomalyBadge, ErrorNote, Empty, Choice, Field } from "../ui.jsx";
import { navigate } from "../route.js";

const RANGES = { "1h": [3600, "1m"], "24h": [86400, "1h"], "7d": [7 * 86400, "1h"], "30d": [30 * 86400, "1d"] };
const COLORS = ["#3b82f6", "#ef4444", "#f59e0b", "#10b981", "#8b5cf6", "#ec4899", "#14b8a6", "#64748b", "#a3e635", "#f97316"];

export function Stats({ params }) {
  const by = params.get("by") || "level";
  const range = params.get("range") || "24h";
  const environment = params.get("environment") || "";
  const [seconds, bucket] = RANGES[range] || RANGES["24h"];
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const box = useRef(null);
  const plot = useRef(null);
  // Redraw when the theme changes (the system's or the Theme button's): axis colours are drawn.
  const [themeTick, setThemeTick] = useState(0);
  useEffect(() => {
    const redraw = () => setThemeTick((n) => n + 1);
    const media = matchMedia("(prefers-color-scheme: dark)");
    addEventListener("edge-logger:theme", redraw);
    media.addEventListener("change", redraw);
    return () => {
      removeEventListener("edge-logger:theme", redraw);
      media.removeEventListener("change", redraw);
    };
  }, []);

  useEffect(() => {
    let live = true;
    const from = new Date(Date.now() - seconds * 1000).toISOString();
    api(`/v1/stats?${query({ by, bucket, from, environment })}`)
      .then((d) => live && (setData(d), setError(null)))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, [by, range, environment]);

  useEffect(() => {
    if (!data || !box.current) return undefined;
    const keys = Object.keys(data.totals).sort((a, b) => data.totals[b] - data.totals[a]).slice(0, 10);
    const xs = data.buckets.map((b) => Date.parse(b.start) / 1000);
    const series = keys.map((k) => data.buckets.map((b) => b.counts[k] || 0));
    const forced = document.documentElement.dataset.theme;
    const dark = forced === "dark" || (forced !== "light" && matchMedia("(prefers-color-scheme: dark)").matches);
    const axis = { stroke: dark ? "#cbd5e1" : "#334155", grid: { stroke: dark ? "#1e293b" : "#e2e8f0" } };
    const opts = {
      width: box.current.clientWidth,
      height: 300,
      series: [{}, ...keys.map((k, i) => ({ label: k, stroke: COLORS[i % COLORS.length], width: 2 }))],
      axes: [axis, axis],
      scales: { x: { time: true } },
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, [xs, ...series], box.current);
    box.current.dataset.drawn = dark ? "dark" : "light";
    const resize = () => plot.current?.setSize({ width: box.current.clientWidth, height: 300 });
    addEventListener("resize", resize);
    return () => removeEventListener("resize", resize);
  }, [data, themeTick]);
  useEffect(() => () => plot.current?.destroy(), []);

  const go = (changes) => navigate("stats", null, new URLSearchParams(query({ by, range, environment, ...changes })));
  const keys = data ? Object.keys(data.totals).sort((a, b) => data.totals[b] - data.totals[a]) : [];
  return (
    <section aria-labelledby="stats-title">
      <div class="bar">
        <h1 id="stats-title">Stats</h1>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Chart settings">
        <Choice label="By" value={by} onChange={(e) => go({ by: e.currentTarget.value })} options={["level", "environment", "component", "route", "source_type"]} />
        <Choice label="Range" value={range} onChange={(e) => go({ range: e.currentTarget.value })} options={Object.keys(RANGES).map((r) => [r, `last ${r} (${RANGES[r][1]} buckets)`])} />
        <Field label="Environment" value={environment} onChange={(e) => go({ environment: e.currentTarget.value })} placeholder="any" />
      </form>
      <ErrorNote error={error} />
      <div class="chart" ref={box} role="img" aria-label={`Events per ${bucket} by ${by}`} />
      {data && keys.length === 0 && <Empty>No events in this range.</Empty>}
      {keys.length > 0 && (
        <table class="totals">
          <thead>
            <tr>
              <th scope="col">{by}</th>
              <th scope="col" class="num">Events</th>
              <th scope="col">Last bucket vs the one before</th>
              <th scope="col">Anomaly</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => {
              const a = data.analysis && data.analysis[k];
              return (
                <tr key={k}>
                  <td>{k}</td>
                  <td class="num">{data.totals[k]}</td>
                  <td>
                    <TrendArrow trend={a && a.trend} />
                  </td>
                  <td>
                    <AnomalyBadge anomaly={a && a.anomaly} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
