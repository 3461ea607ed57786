// Alert rules (list, create, edit, enable/disable, mute windows) and fired alerts with the
// status of every delivery. Changing rules needs an admin key; the API's 403 is shown as such.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Time, ErrorNote, Empty, LevelSelect, Choice, Field } from "../ui.jsx";
import { ChannelsEditor, channelSchemas, channelsOf, toForm } from "./channels.jsx";

const TRIGGERS = [
  ["threshold", "events reach a count within a window"],
  ["new_group", "a new error group appears"],
  ["regression", "a resolved group occurs again"],
  ["spike", "the hourly rate spikes against its baseline"],
  ["quiet", "the hourly rate drops far below its baseline (went quiet)"],
];

const blank = () => ({
  name: "",
  trigger: "threshold",
  match: { min_level: "error" },
  threshold: { count: 5, window_seconds: 300 },
  group_by: "",
  throttle_seconds: 300,
  mute: [],
  channels: [],
  enabled: true,
});

function RuleForm({ initial, onSaved, onCancel }) {
  const [rule, setRule] = useState(() => ({ ...blank(), ...initial, group_by: initial?.group_by || "" }));
  // A new rule starts with one (empty) webhook row; rows left empty are no channel.
  const [channelRows, setChannelRows] = useState(() => (initial?.channels?.length ? initial.channels.map(toForm) : [{ type: "webhook" }]));
  const [schemas, setSchemas] = useState(null);
  useEffect(() => {
    channelSchemas().then(setSchemas, () => {});
  }, []);
  const [error, setError] = useState(null);
  const m = rule.match || {};
  const setMatch = (k) => (e) => setRule({ ...rule, match: { ...m, [k]: e.currentTarget.value || undefined } });
  const mute = rule.mute[0] || null;

  async function save(e) {
    e.preventDefault();
    const body = { ...rule, group_by: rule.group_by || null };
    delete body.id;
    delete body.builtin;
    delete body.created_at;
    delete body.updated_at;
    body.channels = channelsOf(channelRows, schemas);
    if (!["threshold"].includes(body.trigger)) delete body.threshold;
    try {
      const saved = await api(initial?.id ? `/v1/alert-rules/${initial.id}` : "/v1/alert-rules", { method: initial?.id ? "PUT" : "POST", body });
      onSaved(saved);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <form class="rule-form" onSubmit={save} aria-label={initial?.id ? "Edit alert rule" : "New alert rule"}>
      <Field label="Name" name="name" required value={rule.name} onInput={(e) => setRule({ ...rule, name: e.currentTarget.value })} />
      <Choice label="Fires when" name="trigger" value={rule.trigger} onChange={(e) => setRule({ ...rule, trigger: e.currentTarget.value })} options={TRIGGERS} />
      <fieldset>
        <legend>Matching events</legend>
        <LevelSelect label="Min level" name="min_level" value={m.min_level} onChange={setMatch("min_level")} />
        {["environment", "component", "route", "fingerprint"].map((k) => (
          <Field label={k[0].toUpperCase() + k.slice(1)} name={k} value={m[k] || ""} onInput={setMatch(k)} />
        ))}
        {rule.trigger !== "spike" && rule.trigger !== "quiet" && (
          <Field label="Text" name="q" value={m.q || ""} onInput={setMatch("q")} />
        )}
      </fieldset>
      {rule.trigger === "threshold" && (
        <fieldset>
          <legend>Threshold</legend>
          <Field label="Count" name="count" type="number" min="1" value={rule.threshold.count} onInput={(e) => setRule({ ...rule, threshold: { ...rule.threshold, count: Number(e.currentTarget.value) } })} />
          <Field label="Window (seconds)" name="window_seconds" type="number" min="1" max="86400" value={rule.threshold.window_seconds} onInput={(e) => setRule({ ...rule, threshold: { ...rule.threshold, window_seconds: Number(e.currentTarget.value) } })} />
          <Choice label="Per" name="group_by" value={rule.group_by} onChange={(e) => setRule({ ...rule, group_by: e.currentTarget.value })} options={[["", "all matching events"], ["fingerprint", "group"], "component"]} />
        </fieldset>
      )}
      <fieldset>
        <legend>Notify</legend>
        <ChannelsEditor rows={channelRows} setRows={setChannelRows} ruleId={initial?.id} />
        <Field label="Throttle (seconds)" name="throttle_seconds" type="number" min="0" value={rule.throttle_seconds} onInput={(e) => setRule({ ...rule, throttle_seconds: Number(e.currentTarget.value) })} />
      </fieldset>
      <fieldset>
        <legend>Mute window (daily)</legend>
        <label class="check">
          <input type="checkbox" name="muted" checked={Boolean(mute)} onChange={(e) => setRule({ ...rule, mute: e.currentTarget.checked ? [{ start: "22:00", end: "07:00", tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", days: [] }] : [] })} />
          Hold notifications back in a window
        </label>
        {mute && (
          <span class="inline">
            <Field label="From" name="mute_start" type="time" value={mute.start} onInput={(e) => setRule({ ...rule, mute: [{ ...mute, start: e.currentTarget.value }] })} />
            <Field label="To" name="mute_end" type="time" value={mute.end} onInput={(e) => setRule({ ...rule, mute: [{ ...mute, end: e.currentTarget.value }] })} />
            <Field label="Time zone" name="mute_tz" value={mute.tz} onInput={(e) => setRule({ ...rule, mute: [{ ...mute, tz: e.currentTarget.value }] })} />
          </span>
        )}
      </fieldset>
      <label class="check">
        <input type="checkbox" name="enabled" checked={rule.enabled} onChange={(e) => setRule({ ...rule, enabled: e.currentTarget.checked })} />
        Enabled
      </label>
      <ErrorNote error={error} />
      <div class="submit">
        <button type="submit">{initial?.id ? "Save rule" : "Create rule"}</button>
        <button type="button" class="ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function describe(rule) {
  const m = rule.match || {};
  const what = [m.min_level && `≥ ${m.min_level}`, m.environment, m.component, m.route, m.q && `“${m.q}”`].filter(Boolean).join(", ") || "any event";
  if (rule.trigger === "threshold") return `${rule.threshold.count} × ${what} in ${rule.threshold.window_seconds}s${rule.group_by ? ` per ${rule.group_by}` : ""}`;
  return `${rule.trigger.replace("_", " ")}: ${what}`;
}

export function Alerts() {
  const [rules, setRules] = useState(null);
  const [alerts, setAlerts] = useState(null);
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const load = () => {
    api("/v1/alert-rules").then((r) => setRules(r.rules)).catch(setError);
    api("/v1/alerts?limit=50").then((r) => setAlerts(r.alerts)).catch(setError);
  };
  useEffect(load, []);
  async function toggle(rule) {
    try {
      const body = { ...rule, enabled: !rule.enabled };
      for (const k of ["id", "builtin", "created_at", "updated_at"]) delete body[k];
      await api(`/v1/alert-rules/${rule.id}`, { method: "PUT", body });
      load();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section aria-labelledby="alerts-title">
      <div class="bar">
        <h1 id="alerts-title">Alert rules</h1>
        {!editing && (
          <button type="button" onClick={() => setEditing({})}>
            New rule
          </button>
        )}
      </div>
      <ErrorNote error={error} />
      {editing && (
        <RuleForm
          initial={editing.id ? editing : null}
          onCancel={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            setError(null);
            load();
          }}
        />
      )}
      {rules && rules.length === 0 && <Empty>No rules yet.</Empty>}
      {rules && rules.length > 0 && (
        <table class="rules">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Fires when</th>
              <th scope="col">Channels</th>
              <th scope="col">Muted</th>
              <th scope="col">State</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.id}>
                <td>
                  {r.name}
                  {r.builtin && <span class="badge">built-in</span>}
                </td>
                <td>{describe(r)}</td>
                <td>{r.channels.map((c) => c.type).join(", ") || "—"}</td>
                <td>{r.mute.length ? r.mute.map((w) => `${w.start}–${w.end} ${w.tz}`).join("; ") : "—"}</td>
                <td>{r.enabled ? "enabled" : "disabled"}</td>
                <td class="actions">
                  {!r.builtin && (
                    <button type="button" class="ghost" onClick={() => setEditing(r)}>
                      Edit
                    </button>
                  )}
                  {!r.builtin && (
                    <button type="button" class="ghost" onClick={() => toggle(r)}>
                      {r.enabled ? "Disable" : "Enable"}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Fired alerts</h2>
      {alerts && alerts.length === 0 && <Empty>No alert has fired.</Empty>}
      {alerts && alerts.length > 0 && (
        <table class="fired">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Rule</th>
              <th scope="col">Group key</th>
              <th scope="col" class="num">Count</th>
              <th scope="col">Status</th>
              <th scope="col">Deliveries</th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((a) => (
              <tr key={a.id}>
                <td>
                  <Time iso={a.created_at} />
                </td>
                <td>
                  {a.rule.name} <span class="meta">{a.trigger}</span>
                </td>
                <td class="mono">{a.group_key}</td>
                <td class="num">{a.count}</td>
                <td>
                  {a.status}
                  {a.suppressed ? ` (+${a.suppressed} suppressed)` : ""}
                  {a.resolved_at && (
                    <span class="meta">
                      {" "}resolved <Time iso={a.resolved_at} />
                    </span>
                  )}
                </td>
                <td>
                  {a.deliveries.length === 0
                    ? "—"
                    : a.deliveries.map((d) => (
                        <span class={`delivery delivery-${d.status}`} title={d.last_error || d.target}>
                          {d.channel_type}
                          {d.action && d.action !== "trigger" ? ` ${d.action}` : ""}: {d.status}
                          {d.attempts > 1 ? ` (${d.attempts} attempts)` : ""}
                        </span>
                      ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
