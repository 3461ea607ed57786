// What people decide about a group, on its page: resolve now, in this release or in the next
// one; ignore for good or until a time, a number of events or users; who works on it; what is
// merged into it; and its history with notes.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Time } from "../ui.jsx";

const groupPath = (fp) => `/v1/groups/${encodeURIComponent(fp)}`;

/** PUT /v1/groups/{fp} with `body`; then `done(answer)` or `onError(e)`. */
async function change(fp, body, done, onError) {
  try {
    done(await api(groupPath(fp), { method: "PUT", body }));
  } catch (e) {
    onError(e);
  }
}

const HOUR = 3600 * 1000;
const IGNORE_CHOICES = [
  ["for an hour", () => ({ at: new Date(Date.now() + HOUR).toISOString() })],
  ["for a day", () => ({ at: new Date(Date.now() + 24 * HOUR).toISOString() })],
  ["until 100 more events", () => ({ count: 100 })],
  ["until 10 events in an hour", () => ({ count: 10, window_seconds: 3600 })],
  ["until 10 users are affected", () => ({ users: 10 })],
  ["until 10 users in a day", () => ({ users: 10, window_seconds: 24 * 3600 })],
];

/** The resolve and ignore menus (a closed <details> each: keyboard reachable, no layout jump). */
export function StatusMenus({ group, onChange, onError }) {
  const close = (e) => e.currentTarget.closest("details").removeAttribute("open");
  const resolve = (e, extra) => {
    close(e);
    change(group.fingerprint, { status: "resolved", ...extra }, (g) => onChange({ ...g, status: "resolved" }), onError);
  };
  const ignore = (e, until) => {
    close(e);
    change(group.fingerprint, { status: "ignored", until }, (g) => onChange({ ...g, status: "ignored" }), onError);
  };
  return (
    <span class="menus">
      <details class="menu">
        <summary>Resolve…</summary>
        <div class="menu-items" role="group" aria-label="Resolve">
          <button type="button" class="ghost" onClick={(e) => resolve(e, {})}>
            Resolve now
          </button>
          {group.last_release && (
            <button type="button" class="ghost" onClick={(e) => resolve(e, { in_release: group.last_release })}>
              Resolve in this release ({group.last_release})
            </button>
          )}
          <button type="button" class="ghost" onClick={(e) => resolve(e, { in_next_release: true })}>
            Resolve in the next release
          </button>
        </div>
      </details>
      <details class="menu">
        <summary>Ignore…</summary>
        <div class="menu-items" role="group" aria-label="Ignore">
          <button type="button" class="ghost" onClick={(e) => ignore(e, undefined)}>
            Ignore for good
          </button>
          {IGNORE_CHOICES.map(([label, until]) => (
            <button type="button" class="ghost" onClick={(e) => ignore(e, until())}>
              Ignore {label}
            </button>
          ))}
        </div>
      </details>
    </span>
  );
}

/** Who works on it: a name or e-mail address; empty unassigns. */
export function Assignee({ group, onChange, onError }) {
  const [value, setValue] = useState(group.assignee || "");
  useEffect(() => setValue(group.assignee || ""), [group.assignee]);
  const submit = (e) => {
    e.preventDefault();
    const assignee = value.trim() || null;
    change(group.fingerprint, { assignee }, () => onChange({ ...group, assignee }), onError);
  };
  return (
    <form class="inline-form" onSubmit={submit}>
      <input aria-label="Assignee" placeholder="name or e-mail" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit" class="ghost">
        {value.trim() ? "Assign" : "Unassign"}
      </button>
    </form>
  );
}

/** The fingerprints merged into this group, each with an Unmerge button. */
export function Merged({ group, onChange, onError }) {
  if (!group.merged || group.merged.length === 0) return null;
  const unmerge = async (fp) => {
    try {
      const answer = await api(`${groupPath(group.fingerprint)}/merge/${encodeURIComponent(fp)}`, { method: "DELETE" });
      onChange({ ...group, count: answer.group.count, merged: answer.merged });
    } catch (e) {
      onError(e);
    }
  };
  return (
    <section aria-labelledby="merged-title">
      <h2 id="merged-title">Merged into this group</h2>
      <ul class="merged">
        {group.merged.map((m) => (
          <li>
            <code>{m.fingerprint}</code> · {m.events} events · merged <Time iso={m.merged_at} />{" "}
            <button type="button" class="ghost small" onClick={() => unmerge(m.fingerprint)}>
              Unmerge
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function untilText(u) {
  if (u.at) return `until ${new Date(u.at).toLocaleString()}`;
  const within = u.window_seconds ? ` within ${u.window_seconds % 3600 ? `${Math.round(u.window_seconds / 60)} minutes` : `${u.window_seconds / 3600} hours`}` : "";
  if (u.users) return `until ${u.users} users are affected${within}`;
  if (u.count && u.window_seconds) return `until ${u.count} events${within}`;
  if (u.count) return `until ${u.count} more events`;
  return "";
}

/** What an ignored group waits for, and how far it has got (`ignored_until` of a group). */
export function untilProgress(u) {
  const text = untilText(u);
  if (u.users) return `${text} (${u.users_so_far ?? 0} so far)`;
  if (u.count) return `${text} (${u.events_so_far ?? 0} so far)`;
  return text;
}

function describe(a) {
  const d = a.detail || {};
  switch (a.kind) {
    case "first_seen":
      return `First seen${d.release ? ` in ${d.release}` : ""}`;
    case "regression":
      return d.ignored_until_met ? `Came back: its ignore condition was met${d.release ? ` (${d.release})` : ""}` : `Regressed${d.release ? ` in ${d.release}` : ""}${d.resolved_in_release ? ` (resolved in ${d.resolved_in_release})` : ""}`;
    case "status": {
      const how = d.in_release ? ` in ${d.in_release}` : d.in_next_release ? " in the next release" : d.until ? ` ${untilText(d.until)}` : "";
      return `Status ${d.from} → ${d.to}${how}`;
    }
    case "assigned":
      return d.to ? `Assigned to ${d.to}${d.rule ? ` by a rule (${d.field} ${d.pattern})` : ""}` : "Unassigned";
    case "merged":
      return d.into ? `Merged into ${d.into}` : `Merged ${(d.fingerprints || []).join(", ")} into this group`;
    case "unmerged":
      return d.from ? `Unmerged from ${d.from}` : `Unmerged ${(d.fingerprints || []).join(", ")}`;
    case "note":
      return d.text;
    default:
      return a.kind;
  }
}

/** The group's history, newest first, and a note form. */
export function History({ fingerprint, version, onError }) {
  const [entries, setEntries] = useState(null);
  const [text, setText] = useState("");
  const load = () =>
    api(`${groupPath(fingerprint)}/activity`)
      .then((a) => setEntries(a.activity))
      .catch(onError);
  useEffect(() => {
    load();
  }, [fingerprint, version]);
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api(`${groupPath(fingerprint)}/notes`, { method: "POST", body: { text: text.trim() } });
      setText("");
      load();
    } catch (err) {
      onError(err);
    }
  };
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <form class="inline-form" onSubmit={submit}>
        <input aria-label="Note" placeholder="Add a note" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit" class="ghost" disabled={!text.trim()}>
          Add note
        </button>
      </form>
      <ol class="history">
        {(entries || []).map((a) => (
          <li class={`activity activity-${a.kind}`}>
            <Time iso={a.at} /> <span class="what">{describe(a)}</span> {a.actor && <span class="meta">by {a.actor}</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}
