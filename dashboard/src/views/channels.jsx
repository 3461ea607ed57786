// The channels of an alert rule: every channel type with its fields, read from the API's own
// document (/openapi.json, components.schemas.Channel), so a type added to the API appears here
// with nothing to change. Credentials come back masked (********); sending the mask keeps the
// stored value. "Test channels" sends a test notification and shows each receiver's answer.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Choice, Field, ErrorNote } from "../ui.jsx";

let schemaPromise;
/** Channel types and their fields, from the document: {type: {fields: [[name, schema]], required}}. */
export function channelSchemas() {
  schemaPromise ??= fetch("/openapi.json")
    .then((r) => r.json())
    .then((doc) =>
      Object.fromEntries(
        doc.components.schemas.Channel.oneOf.map((s) => [
          s.properties.type.const,
          { fields: Object.entries(s.properties).filter(([k]) => k !== "type"), required: s.required || [] },
        ]),
      ),
    );
  return schemaPromise;
}

const LABELS = { url: "URL", api_url: "API URL", instance_url: "Instance URL", to: "To", account_sid: "Account SID" };
const label = (name) => LABELS[name] || name[0].toUpperCase() + name.slice(1).replaceAll("_", " ");
const NAMES = { google_chat: "Google Chat", pagerduty: "PagerDuty", opsgenie: "Opsgenie", github: "GitHub", servicenow: "ServiceNow", sms: "SMS (Twilio)", email: "e-mail" };
const isSecret = (schema) => /Stored sealed|credential/.test(schema.description || "");

/** One channel's form values: arrays as comma-separated text. */
const toForm = (channel) => Object.fromEntries(Object.entries(channel).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v]));

/** The channel as the API takes it: empty fields left out, lists split. */
function fromForm(values, spec) {
  const out = { type: values.type };
  for (const [name, schema] of spec?.fields || []) {
    const v = values[name];
    if (v === undefined || v === "" || v === null) continue;
    if (schema.type === "array") out[name] = String(v).split(",").map((s) => s.trim()).filter(Boolean);
    else out[name] = v;
  }
  return out;
}

/** The channels of the form that say something (a row left blank is no channel). */
export function channelsOf(rows, schemas) {
  return rows.map((r) => fromForm(r, schemas?.[r.type])).filter((c) => Object.keys(c).length > 1);
}

export function ChannelsEditor({ rows, setRows, ruleId }) {
  const [schemas, setSchemas] = useState(null);
  const [results, setResults] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    channelSchemas().then(setSchemas, setError);
  }, []);
  const update = (i, patch) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  async function test() {
    setResults(null);
    setError(null);
    try {
      const body = { channels: channelsOf(rows, schemas), ...(ruleId ? { rule_id: ruleId } : {}) };
      setResults((await api("/v1/alert-rules/test", { method: "POST", body })).results);
    } catch (err) {
      setError(err);
    }
  }

  const types = schemas ? Object.keys(schemas) : ["webhook"];
  return (
    <div class="channels">
      {rows.map((row, i) => {
        const spec = schemas?.[row.type];
        return (
          <div class="channel" role="group" aria-label={`Channel ${i + 1}`}>
            <Choice label="Channel" name={`channel_type_${i}`} value={row.type} onChange={(e) => update(i, { type: e.currentTarget.value })} options={types.map((t) => [t, NAMES[t] || t])} />
            {(spec?.fields || [["url", { type: "string" }]]).map(([name, schema]) =>
              schema.type === "boolean" ? (
                <label class="check">
                  <input type="checkbox" name={`${name}_${i}`} checked={Boolean(row[name])} onChange={(e) => update(i, { [name]: e.currentTarget.checked })} />
                  {label(name)}
                </label>
              ) : schema.enum ? (
                <Choice label={label(name)} name={`${name}_${i}`} value={row[name] ?? schema.default ?? ""} onChange={(e) => update(i, { [name]: e.currentTarget.value })} options={schema.enum} />
              ) : (
                <Field
                  label={label(name) + (!spec || spec.required.includes(name) ? "" : " (optional)")}
                  name={`${name}_${i}`}
                  type={isSecret(schema) && name !== "url" ? "password" : "text"}
                  autocomplete="off"
                  value={row[name] ?? ""}
                  title={schema.description || ""}
                  onInput={(e) => update(i, { [name]: e.currentTarget.value })}
                />
              ),
            )}
            <button type="button" class="ghost" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
              Remove channel
            </button>
          </div>
        );
      })}
      <div class="submit">
        <button type="button" class="ghost" onClick={() => setRows([...rows, { type: "webhook" }])}>
          Add channel
        </button>
        <button type="button" class="ghost" onClick={test} disabled={!channelsOf(rows, schemas).length}>
          Test channels
        </button>
      </div>
      <ErrorNote error={error} />
      {results && (
        <table class="test-results" aria-label="Test results">
          <tbody>
            {results.map((r) => (
              <tr>
                <td>{NAMES[r.type] || r.type}</td>
                <td>{r.target}</td>
                <td>{r.ok ? `✓ ${r.status ?? ""}` : `✗ ${r.status ?? ""} ${r.error || ""}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export { toForm };
