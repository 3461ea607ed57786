// Search with every filter of the contract and full text, paged by the API's cursor. The form
// lives in the URL, so a search can be bookmarked and shared.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { Level, Time, ErrorNote, Empty, LevelSelect, Pager, Choice, Field } from "../ui.jsx";
import { navigate } from "../route.js";
import { GroupByChart } from "./groupby.jsx";

const TEXT_FIELDS = [
  ["query", "Search", "level:>=error service:checkout !env:staging"],
  ["q", "Text", "timeout"],
  ["environment", "Environment", "production"],
  ["service", "Service", ""],
  ["component", "Component", "AuthValidator"],
  ["endpoint", "Endpoint", "/api/users/42"],
  ["route", "Route", "/api/users/:id"],
  ["fingerprint", "Fingerprint", ""],
  ["trace_id", "Trace id", ""],
  ["request_id", "Request id", ""],
  ["user_id", "User id", ""],
];

/** An ISO instant (or a local datetime-local value) as a local `YYYY-MM-DDTHH:MM`. */
function toLocalInput(value) {
  const t = value ? new Date(value) : null;
  if (!t || Number.isNaN(t.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

export function Search({ params }) {
  const [form, setForm] = useState(() => Object.fromEntries(params));
  const [tag, setTag] = useState(() => {
    const entry = [...params].find(([k]) => k.startsWith("tag."));
    return entry ? `${entry[0].slice(4)}=${entry[1]}` : "";
  });
  const [cursors, setCursors] = useState([null]);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(null);
  const searched = params.toString();

  useEffect(() => setCursors([null]), [searched]);
  useEffect(() => {
    if (!searched) {
      setPage(null);
      return undefined;
    }
    let live = true;
    const cursor = cursors[cursors.length - 1];
    const p = new URLSearchParams(params);
    if (cursor) p.set("cursor", cursor);
    api(`/v1/logs?${p}`)
      .then((r) => live && (setPage(r), setError(null)))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, [searched, cursors]);

  function submit(e) {
    e.preventDefault();
    const p = new URLSearchParams(query({ ...form, from: form.from && new Date(form.from).toISOString(), to: form.to && new Date(form.to).toISOString() }));
    for (const k of [...p.keys()]) if (k.startsWith("tag.")) p.delete(k);
    const [tk, ...tv] = tag.split("=");
    if (tk && tv.length) p.set(`tag.${tk.trim()}`, tv.join("=").trim());
    navigate("search", null, p);
  }
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });

  return (
    <section aria-labelledby="search-title">
      <div class="bar">
        <h1 id="search-title">Search</h1>
      </div>
      <form class="filters search" onSubmit={submit} aria-label="Search filters">
        {TEXT_FIELDS.map(([k, label, placeholder]) => (
          <Field label={label} name={k} type={k === "q" || k === "query" ? "search" : "text"} value={form[k] || ""} onInput={set(k)} placeholder={placeholder} />
        ))}
        <LevelSelect label="Level" name="level" value={form.level} onChange={set("level")} />
        <LevelSelect label="Min level" name="min_level" value={form.min_level} onChange={set("min_level")} />
        <Choice label="Source" name="source_type" value={form.source_type} onChange={set("source_type")} options={[["", "any"], "ui", "logic", "backend"]} />
        <Choice label="Error kind" name="error_kind" value={form.error_kind} onChange={set("error_kind")} options={[["", "any"], "exception", "error"]} />
        <Field label="Tag (name=value)" name="tag" value={tag} onInput={(e) => setTag(e.currentTarget.value)} placeholder="region=eu" />
        <Field label="From" name="from" type="datetime-local" value={toLocalInput(form.from)} onInput={set("from")} />
        <Field label="To" name="to" type="datetime-local" value={toLocalInput(form.to)} onInput={set("to")} />
        <Choice label="Per page" name="limit" value={form.limit || "50"} onChange={set("limit")} options={["25", "50", "100", "500"]} />
        <div class="submit">
          <button type="submit">Search</button>
          <button
            type="button"
            class="ghost"
            onClick={() => {
              setForm({});
              setTag("");
              navigate("search");
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <ErrorNote error={error} />
      {page && page.logs.length > 0 && <GroupByChart params={params} />}
      {page && page.logs.length === 0 && <Empty>Nothing matches.</Empty>}
      {page && page.logs.length > 0 && (
        <table class="results">
          <thead>
            <tr>
              <th scope="col">Level</th>
              <th scope="col">Received</th>
              <th scope="col">Message</th>
              <th scope="col">Where</th>
            </tr>
          </thead>
          <tbody>
            {page.logs.map((e) => [
              <tr key={e.id}>
                <td>
                  <Level level={e.level} />
                </td>
                <td>
                  <Time iso={e.received_at} />
                </td>
                <td class="msg">
                  <button type="button" class="link" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                    {e.message}
                  </button>
                </td>
                <td class="meta">{[e.environment, e.service, e.component, e.route].filter(Boolean).join(" · ")}</td>
              </tr>,
              open === e.id && (
                <tr class="detail">
                  <td colSpan={4}>
                    <p>
                      <a href={`#/groups/${encodeURIComponent(e.fingerprint)}`}>Open its group</a>
                    </p>
                    <pre>{JSON.stringify(e, null, 2)}</pre>
                  </td>
                </tr>
              ),
            ])}
          </tbody>
        </table>
      )}
      <Pager cursors={cursors} setCursors={setCursors} next={page && page.next_cursor} />
    </section>
  );
}
