// Releases: each with its events, error rate, new groups and environments; a release's page
// shows the groups it introduced, those that regressed in it, and the release before it.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Level, Time, ErrorNote, Empty } from "../ui.jsx";

const percent = (rate) => `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)}%`;

export function Releases() {
  const [releases, setReleases] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api("/v1/releases")
      .then((r) => setReleases(r.releases))
      .catch(setError);
  }, []);
  return (
    <section aria-labelledby="releases-title">
      <div class="bar">
        <h1 id="releases-title">Releases</h1>
      </div>
      <ErrorNote error={error} />
      {releases && releases.length === 0 && <Empty>No event has named a release yet (send `release` with your events).</Empty>}
      <table class="releases">
        <thead>
          <tr>
            <th scope="col">Release</th>
            <th scope="col" class="num">Events</th>
            <th scope="col" class="num">Errors</th>
            <th scope="col" class="num">Error rate</th>
            <th scope="col" class="num">New groups</th>
            <th scope="col">Environments</th>
            <th scope="col">First event</th>
            <th scope="col">Last event</th>
          </tr>
        </thead>
        <tbody>
          {(releases || []).map((r) => (
            <tr key={r.release}>
              <td class="title">
                <a href={`#/releases/${encodeURIComponent(r.release)}`}>{r.release}</a>
              </td>
              <td class="num">{r.events}</td>
              <td class="num">{r.errors}</td>
              <td class="num">{percent(r.error_rate)}</td>
              <td class="num">{r.new_groups}</td>
              <td>{r.environments.join(", ") || "—"}</td>
              <td>
                <Time iso={r.first_event} />
              </td>
              <td>
                <Time iso={r.last_event} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function GroupList({ groups, empty }) {
  if (groups.length === 0) return <Empty>{empty}</Empty>;
  return (
    <ul class="group-list">
      {groups.map((g) => (
        <li>
          <Level level={g.level} /> <a href={`#/groups/${encodeURIComponent(g.fingerprint)}`}>{g.title}</a> <span class="meta">{g.count} events · {g.status}</span>
        </li>
      ))}
    </ul>
  );
}

export function ReleasePage({ release }) {
  const [detail, setDetail] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(`/v1/releases/${encodeURIComponent(release)}`)
      .then(setDetail)
      .catch(setError);
  }, [release]);
  if (error && !detail) return <ErrorNote error={error} />;
  if (!detail) return <p class="loading">Loading…</p>;
  const before = detail.previous;
  const change = before ? detail.error_rate - before.error_rate : null;
  return (
    <article aria-labelledby="release-title">
      <p>
        <a href="#/releases">← Releases</a>
      </p>
      <div class="bar">
        <h1 id="release-title">Release {detail.release}</h1>
      </div>
      <dl class="facts">
        <dt>Events</dt>
        <dd>
          {detail.events} ({detail.errors} errors)
        </dd>
        <dt>Error rate</dt>
        <dd>
          {percent(detail.error_rate)}
          {before && (
            <span class={change > 0 ? "trend trend-up" : "trend trend-down"}>
              {change > 0 ? "↑" : change < 0 ? "↓" : "→"} against {percent(before.error_rate)} in{" "}
              <a href={`#/releases/${encodeURIComponent(before.release)}`}>{before.release}</a>
            </span>
          )}
        </dd>
        <dt>Environments</dt>
        <dd>{detail.environments.join(", ") || "—"}</dd>
        <dt>Seen</dt>
        <dd>
          <Time iso={detail.first_event} /> – <Time iso={detail.last_event} />
        </dd>
      </dl>
      <section aria-labelledby="introduced-title">
        <h2 id="introduced-title">New in this release ({detail.new_groups})</h2>
        <GroupList groups={detail.introduced_groups} empty="No group was first seen in this release." />
      </section>
      <section aria-labelledby="regressed-title">
        <h2 id="regressed-title">Regressed in this release</h2>
        <GroupList groups={detail.regressed_groups} empty="Nothing came back in this release." />
      </section>
    </article>
  );
}
