// Error groups: counts, a 24-hour sparkline, the trend against the previous window, anomaly
// badges, and status changes (resolve, ignore, reopen) in place.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { Level, Time, Sparkline, TrendArrow, AnomalyBadge, ErrorNote, Empty, Pager, Choice, Field } from "../ui.jsx";
import { navigate } from "../route.js";

export async function setStatus(fingerprint, status) {
  return api(`/v1/groups/${encodeURIComponent(fingerprint)}`, { method: "PUT", body: { status } });
}

export function StatusButtons({ group, onChange, onError }) {
  const change = async (status) => {
    try {
      await setStatus(group.fingerprint, status);
      onChange(status);
    } catch (e) {
      onError(e);
    }
  };
  return (
    <span class="actions">
      {group.status !== "resolved" && (
        <button type="button" onClick={() => change("resolved")}>
          Resolve
        </button>
      )}
      {group.status !== "ignored" && (
        <button type="button" class="ghost" onClick={() => change("ignored")}>
          Ignore
        </button>
      )}
      {group.status !== "open" && (
        <button type="button" class="ghost" onClick={() => change("open")}>
          Reopen
        </button>
      )}
    </span>
  );
}

export function Groups({ params }) {
  const sort = params.get("sort") || "last_seen";
  const status = params.get("status") ?? "open";
  const environment = params.get("environment") || "";
  const [page, setPage] = useState(null);
  const [cursors, setCursors] = useState([null]);
  const [error, setError] = useState(null);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => setCursors([null]), [sort, status, environment]);
  useEffect(() => {
    let live = true;
    api(`/v1/groups?${query({ sort, status, environment, limit: 50, cursor })}`)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, [sort, status, environment, cursor]);

  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) v === "" || v === null ? next.delete(k) : next.set(k, v);
    navigate("groups", null, next);
  };
  const update = (fp, s) => setPage({ ...page, groups: page.groups.map((g) => (g.fingerprint === fp ? { ...g, status: s } : g)) });
  // Merge from a selection: the first selected (in list order) takes the others.
  const [selected, setSelected] = useState([]);
  const [merged, setMerged] = useState(null);
  useEffect(() => setSelected([]), [page]);
  const toggle = (fp, on) => setSelected((list) => (on ? [...list, fp] : list.filter((f) => f !== fp)));
  const inOrder = (page ? page.groups : []).map((g) => g.fingerprint).filter((fp) => selected.includes(fp));
  const merge = async () => {
    const [target, ...sources] = inOrder;
    try {
      const answer = await api(`/v1/groups/${encodeURIComponent(target)}/merge`, { method: "POST", body: { fingerprints: sources } });
      setMerged(`Merged ${sources.length} into “${answer.group.title}” (${answer.group.count} events).`);
      setPage({ ...page, groups: page.groups.filter((g) => !sources.includes(g.fingerprint)).map((g) => (g.fingerprint === target ? { ...g, count: answer.group.count } : g)) });
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="groups-title">
      <div class="bar">
        <h1 id="groups-title">Error groups</h1>
        <button type="button" class="ghost" disabled={inOrder.length < 2} onClick={merge} title="The first selected group takes the others' events, past and future">
          Merge selected{inOrder.length ? ` (${inOrder.length})` : ""}
        </button>
        {merged && (
          <span class="meta" role="status">
            {merged}
          </span>
        )}
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Group filters">
        <Choice label="Sort" value={sort} onChange={(e) => go({ sort: e.currentTarget.value })} options={[["last_seen", "last seen"], "count"]} />
        <Choice label="Status" value={status} onChange={(e) => go({ status: e.currentTarget.value })} options={["open", "resolved", "ignored", ["", "all"]]} />
        <Field label="Environment" value={environment} onChange={(e) => go({ environment: e.currentTarget.value })} placeholder="any" />
      </form>
      <ErrorNote error={error} />
      {page && page.groups.length === 0 && <Empty>No groups match.</Empty>}
      <table class="groups">
        <thead>
          <tr>
            <th scope="col" class="pick">
              <span class="visually-hidden">Select</span>
            </th>
            <th scope="col">Group</th>
            <th scope="col" class="num">Events</th>
            <th scope="col">Last 24 h</th>
            <th scope="col">Trend</th>
            <th scope="col">Last seen</th>
            <th scope="col">Assignee</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {(page ? page.groups : []).map((g) => (
            <tr key={g.fingerprint}>
              <td class="pick">
                <input type="checkbox" aria-label={`Select ${g.title}`} checked={selected.includes(g.fingerprint)} onChange={(e) => toggle(g.fingerprint, e.currentTarget.checked)} />
              </td>
              <td class="title">
                <Level level={g.level} /> <a href={`#/groups/${encodeURIComponent(g.fingerprint)}`}>{g.title}</a> <AnomalyBadge anomaly={g.anomaly} />
                <div class="meta">{[g.environment, g.component, g.route].filter(Boolean).join(" · ")}</div>
              </td>
              <td class="num">{g.count}</td>
              <td>
                <Sparkline values={g.sparkline} />
              </td>
              <td>
                <TrendArrow trend={g.trend} />
              </td>
              <td>
                <Time iso={g.last_seen} />
              </td>
              <td class="assignee">{g.assignee || <span class="meta">—</span>}</td>
              <td>
                <span class={`status status-${g.status}`}>{g.status}</span> <StatusButtons group={g} onChange={(s) => update(g.fingerprint, s)} onError={setError} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager cursors={cursors} setCursors={setCursors} next={page && page.next_cursor} />
    </section>
  );
}
