// Small shared pieces: level badges, relative times, sparklines, trend arrows, anomaly badges.
import { h } from "preact";

export const LEVELS = ["trace", "debug", "info", "notice", "warn", "error", "critical", "fatal", "alert", "emergency"];

export function Level({ level }) {
  return <span class={`level level-${level}`}>{level}</span>;
}

export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function Time({ iso }) {
  return (
    <time datetime={iso} title={iso}>
      {ago(iso)}
    </time>
  );
}

/** A fixed-size SVG sparkline: no layout shift while data loads. */
export function Sparkline({ values = [], width = 120, height = 28, label }) {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" ");
  return (
    <svg class="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label || `hourly counts: ${values.join(", ")}`}>
      {values.length > 1 && <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />}
    </svg>
  );
}

export function TrendArrow({ trend }) {
  if (!trend) return <span class="trend" />;
  const { direction, change_pct: pct } = trend;
  const text = { up: "↑", down: "↓", flat: "→", new: "new", none: "" }[direction] ?? "";
  const detail = pct === null || pct === undefined ? "" : ` ${pct > 0 ? "+" : ""}${Math.round(pct)}%`;
  return (
    <span class={`trend trend-${direction}`} title={`${trend.current} in the last ${trend.window_hours}h, ${trend.previous} in the ${trend.window_hours}h before`}>
      {text}
      {detail}
    </span>
  );
}

export function AnomalyBadge({ anomaly }) {
  if (!anomaly || !anomaly.kind) return null;
  return (
    <span class={`badge anomaly-${anomaly.kind}`} title={`z = ${anomaly.score} against a median of ${anomaly.baseline_median}/h`}>
      {anomaly.kind === "spike" ? "spike" : "went quiet"}
    </span>
  );
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return (
    <p class="error-note" role="alert">
      {error.status === 403 ? "Your key cannot do this (it needs the admin scope). " : ""}
      {error.message}
    </p>
  );
}

export function Empty({ children }) {
  return <p class="empty">{children}</p>;
}

/** A labelled select. `options`: values, or [value, text] pairs. */
export function Choice({ label, name, value, onChange, options }) {
  return (
    <label>
      {label}
      <select aria-label={label} name={name} value={value ?? ""} onChange={onChange}>
        {options.map((o) => {
          const [v, text] = Array.isArray(o) ? o : [o, o];
          return <option value={v}>{text}</option>;
        })}
      </select>
    </label>
  );
}

/** A labelled input; every prop but `label` goes to the input. */
export function Field({ label, ...input }) {
  return (
    <label>
      {label}
      <input {...input} />
    </label>
  );
}

/** A labelled level picker; "" means any level. */
export function LevelSelect({ label, name, value, onChange }) {
  return <Choice label={label} name={name} value={value} onChange={onChange} options={[["", "any"], ...LEVELS]} />;
}

/** Newer/Older over the API's cursors: `cursors` is the stack of pages seen, `null` first. */
export function Pager({ cursors, setCursors, next }) {
  return (
    <div class="pager">
      <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
        Newer
      </button>
      <button type="button" disabled={!next} onClick={() => setCursors([...cursors, next])}>
        Older
      </button>
    </div>
  );
}
