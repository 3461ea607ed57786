// What each project sends and costs: a stacked daily chart of events stored by project (SVG,
// one bar a day), the month's estimate against the previous month, and a table of what became
// of each project's events (received, accepted, dropped and sampled out by rules, refused by a
// quota, stored) with its estimated dollars. From GET /v1/usage?by=project.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { ErrorNote, Empty } from "../ui.jsx";

const COLORS = ["#3b82f6", "#ef4444", "#f59e0b", "#10b981", "#8b5cf6", "#ec4899", "#14b8a6", "#64748b", "#a3e635", "#f97316"];

const day = (d) => d.toISOString().slice(0, 10);
const usd = (n) => (n >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`);

/** The first day of this month and of the month before, and how far this month has gone. */
export function monthBounds(now = new Date()) {
  const thisMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const previous = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const daysInMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0)).getUTCDate();
  return { thisMonth: day(thisMonth), previous: day(previous), elapsed: now.getUTCDate(), daysInMonth };
}

/** This month's dollars so far, projected over the month, and the previous month's. */
export function monthEstimate(groups, bounds) {
  let soFar = 0;
  let previous = 0;
  for (const g of groups) {
    for (const d of g.days) {
      if (d.day >= bounds.thisMonth) soFar += d.usd;
      else if (d.day >= bounds.previous) previous += d.usd;
    }
  }
  return { soFar, projected: (soFar / bounds.elapsed) * bounds.daysInMonth, previous };
}

function StackedDays({ groups, days }) {
  const totals = days.map((d) => groups.reduce((n, g) => n + (g.days.find((x) => x.day === d)?.stored || 0), 0));
  const top = Math.max(1, ...totals);
  const width = 720;
  const height = 220;
  const bar = width / Math.max(days.length, 1);
  return (
    <svg class="usage-chart" viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-label="Events stored per day, stacked by project">
      {days.map((d, i) => {
        let y = height;
        return (
          <g key={d}>
            {groups.map((g, j) => {
              const n = g.days.find((x) => x.day === d)?.stored || 0;
              const h2 = (n / top) * height;
              y -= h2;
              return n > 0 ? (
                <rect x={i * bar + 1} y={y} width={Math.max(bar - 2, 1)} height={h2} fill={COLORS[j % COLORS.length]}>
                  <title>{`${d} ${g.key || "(no project)"}: ${n} events`}</title>
                </rect>
              ) : null;
            })}
            {i % Math.ceil(days.length / 8) === 0 && (
              <text x={i * bar} y={height + 14} class="axis">
                {d.slice(5)}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

export function Usage() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const bounds = monthBounds();
  useEffect(() => {
    let live = true;
    api(`/v1/usage?${query({ by: "project", from: bounds.previous })}`)
      .then((d) => live && (setData(d), setError(null)))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, []);
  const groups = data ? [...data.groups].sort((a, b) => b.stored - a.stored) : [];
  // Every day since the previous month began, so that a bar is a day wide whatever was sent.
  const days = [];
  for (let t = Date.parse(`${bounds.previous}T00:00:00Z`); t <= Date.now(); t += 86400000) days.push(day(new Date(t)));
  const estimate = monthEstimate(groups, bounds);
  return (
    <section aria-labelledby="usage-title">
      <div class="bar">
        <h1 id="usage-title">Usage</h1>
      </div>
      <ErrorNote error={error} />
      {data && groups.length === 0 && <Empty>No events counted since {bounds.previous}.</Empty>}
      {groups.length > 0 && (
        <>
          <p class="estimate" aria-label="This month's estimate">
            This month: <strong>{usd(estimate.soFar)}</strong> so far, about <strong>{usd(estimate.projected)}</strong> by its end; last month {usd(estimate.previous)}.
          </p>
          <StackedDays groups={groups} days={days} />
          <ul class="legend">
            {groups.map((g, j) => (
              <li key={g.key}>
                <span class="swatch" style={{ background: COLORS[j % COLORS.length] }} /> {g.key || "(no project)"}
              </li>
            ))}
          </ul>
          <table class="totals">
            <thead>
              <tr>
                <th scope="col">Project</th>
                {["Received", "Accepted", "Dropped", "Sampled out", "Refused (quota)", "Stored", "Bytes", "Estimated $"].map((c) => (
                  <th scope="col" class="num">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={g.key}>
                  <td>{g.key || "(no project)"}</td>
                  {[g.received, g.accepted, g.dropped, g.sampled_out, g.refused_quota, g.stored, g.bytes].map((n) => (
                    <td class="num">{n}</td>
                  ))}
                  <td class="num">{usd(g.usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="hint">Since {bounds.previous}. Dollars are estimates at Cloudflare's list prices: each day's bill shared by the events each project stored, storage by its bytes for 30 days.</p>
        </>
      )}
    </section>
  );
}
