// The search view's chart: the events the search matches, grouped by any column (a field or
// tag.<name>), a function over a field (count, percentiles of a context value…), in hourly
// buckets — GET /v1/aggregate. Each group is a bar of its value and a sparkline of its buckets.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Choice, Field, ErrorNote, Sparkline } from "../ui.jsx";

const COLUMNS = ["level", "service", "environment", "component", "route", "release", "source_type", "project", "error_type", "user_id"];
const FNS = ["count", "count_distinct", "sum", "avg", "min", "max", "p50", "p90", "p95", "p99"];
// The search parameters the aggregate route takes (not the page's own).
const SEARCH_KEYS = ["query", "q", "environment", "service", "component", "endpoint", "route", "fingerprint", "trace_id", "request_id", "user_id", "level", "min_level", "source_type", "error_kind", "from", "to", "project"];

export function GroupByChart({ params }) {
  const [by, setBy] = useState("level");
  const [custom, setCustom] = useState("");
  const [fn, setFn] = useState("count");
  const [field, setField] = useState("");
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const key = custom.trim() || by;
  const searched = params.toString();

  useEffect(() => {
    if (fn !== "count" && !field.trim()) return undefined;
    let live = true;
    const p = new URLSearchParams();
    for (const [k, v] of params) if (SEARCH_KEYS.includes(k) || k.startsWith("tag.")) p.set(k, v);
    p.set("by", key);
    p.set("fn", fn);
    if (field.trim()) p.set("field", field.trim());
    p.set("bucket", "1h");
    api(`/v1/aggregate?${p}`)
      .then((r) => live && (setAnswer(r), setError(null)))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, [searched, key, fn, field]);

  const groups = answer?.groups || [];
  const top = Math.max(1, ...groups.map((g) => Math.abs(g.value ?? 0)));
  return (
    <div class="groupby">
      <form class="filters" aria-label="Group the results" onSubmit={(e) => e.preventDefault()}>
        <Choice label="Group by" name="group_by" value={by} onChange={(e) => setBy(e.currentTarget.value)} options={COLUMNS} />
        <Field label="…or any column" name="group_by_custom" value={custom} onInput={(e) => setCustom(e.currentTarget.value)} placeholder="tag.region, context.plan" />
        <Choice label="Function" name="group_fn" value={fn} onChange={(e) => setFn(e.currentTarget.value)} options={FNS} />
        {fn !== "count" && <Field label="Of field" name="group_field" value={field} onInput={(e) => setField(e.currentTarget.value)} placeholder="context.duration_ms" />}
      </form>
      <ErrorNote error={error} />
      {groups.length > 0 && (
        <table class="groupby-chart" aria-label={`${answer.fn} by ${answer.by.join(", ")}`}>
          <tbody>
            {groups.slice(0, 20).map((g) => (
              <tr>
                <th scope="row">{Object.values(g.key).map((v) => v ?? "—").join(" · ")}</th>
                <td class="bar-cell">
                  <span class="hbar" style={{ width: `${(100 * Math.abs(g.value ?? 0)) / top}%` }} />
                </td>
                <td class="num">{g.value === null ? "—" : Number(g.value.toFixed(3))}</td>
                <td>
                  <Sparkline values={g.points.map((p) => p.value ?? 0)} width={120} label={`${key} ${Object.values(g.key).join(" ")} by hour`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {answer?.truncated && <p class="meta">Read the newest {answer.events_read} matching events only.</p>}
    </div>
  );
}
