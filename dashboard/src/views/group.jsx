// One group: what it is, why events were grouped (fingerprint_reason), the parsed stack of the
// latest event, the triage hints and suggestions, tags, and the recent events.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Level, Time, Sparkline, TrendArrow, AnomalyBadge, ErrorNote } from "../ui.jsx";
import { StatusButtons } from "./groups.jsx";
import { EventRow } from "./live.jsx";
import { StatusMenus, Assignee, Merged, History, untilProgress } from "./workflow.jsx";

export function GroupPage({ fingerprint }) {
  const [group, setGroup] = useState(null);
  const [error, setError] = useState(null);
  // Bumped after each change, so that the history reloads.
  const [version, setVersion] = useState(0);
  const update = (patch) => {
    setGroup((g) => ({ ...g, ...patch }));
    setError(null);
    setVersion((v) => v + 1);
  };
  useEffect(() => {
    let live = true;
    api(`/v1/groups/${encodeURIComponent(fingerprint)}`)
      .then((g) => live && setGroup(g))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, [fingerprint]);
  if (error && !group) return <ErrorNote error={error} />;
  if (!group) return <p class="loading">Loading…</p>;
  const latest = group.events[0];
  const hints = (latest && latest.triage && latest.triage.hints) || [];
  const tags = {};
  for (const e of group.events) for (const [k, v] of Object.entries(e.tags || {})) (tags[k] ??= new Set()).add(String(v));
  return (
    <article aria-labelledby="group-title">
      <p>
        <a href="#/groups">← Groups</a>
      </p>
      <div class="bar">
        <h1 id="group-title">
          <Level level={group.level} /> {group.title}
        </h1>
        <AnomalyBadge anomaly={group.anomaly} />
      </div>
      {group.merged_into && (
        <p class="notice">
          Merged into <a href={`#/groups/${encodeURIComponent(group.merged_into)}`}>{group.merged_into}</a>: its events count there until it is unmerged.
        </p>
      )}
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`status status-${group.status}`}>{group.status}</span>
          {group.resolved_in_release && <span class="meta">in {group.resolved_in_release}</span>}
          {group.status === "ignored" && group.ignored_until && <span class="meta">{untilProgress(group.ignored_until)}</span>}{" "}
          {!group.merged_into && <StatusButtons group={group} onChange={(status) => update({ status, resolved_in_release: null, ignored_until: null })} onError={setError} />}
          {!group.merged_into && <StatusMenus group={group} onChange={update} onError={setError} />}
        </dd>
        <dt>Assignee</dt>
        <dd>{group.merged_into ? group.assignee || "—" : <Assignee group={group} onChange={update} onError={setError} />}</dd>
        {group.tickets?.length > 0 && (
          <>
            <dt>Tickets</dt>
            <dd>
              {group.tickets.map((t) => (
                <span class="ticket">
                  {t.url ? <a href={t.url} rel="noopener" target="_blank">{t.number || t.key}</a> : t.number || t.key} <span class="meta">{t.tracker.split(":")[0]}, {t.state}</span>{" "}
                </span>
              ))}
            </dd>
          </>
        )}
        <dt>Releases</dt>
        <dd>
          {group.first_release ? (
            <span>
              first in <a href={`#/releases/${encodeURIComponent(group.first_release)}`}>{group.first_release}</a>
              {group.last_release && group.last_release !== group.first_release && (
                <span>
                  , latest in <a href={`#/releases/${encodeURIComponent(group.last_release)}`}>{group.last_release}</a>
                </span>
              )}
            </span>
          ) : (
            "—"
          )}
        </dd>
        <dt>Events</dt>
        <dd>
          {group.count} <TrendArrow trend={group.trend} /> <Sparkline values={group.sparkline} width={160} />
        </dd>
        <dt>First seen</dt>
        <dd>
          <Time iso={group.first_seen} />
        </dd>
        <dt>Last seen</dt>
        <dd>
          <Time iso={group.last_seen} />
        </dd>
        <dt>Where</dt>
        <dd>{[group.environment, group.component, group.route, group.source_type].filter(Boolean).join(" · ") || "—"}</dd>
        <dt>Grouped by</dt>
        <dd class="reason">{group.fingerprint_reason || "—"}</dd>
      </dl>
      <ErrorNote error={error} />
      {hints.length > 0 && (
        <section aria-labelledby="hints-title">
          <h2 id="hints-title">Likely causes</h2>
          <ul class="hints">
            {hints.map((hint) => (
              <li>
                <strong>{hint.cause}</strong>
                <p>{hint.suggestion}</p>
              </li>
            ))}
          </ul>
        </section>
      )}
      {latest && latest.error && latest.error.frames && latest.error.frames.length > 0 && <SourceFrames error={latest.error} />}
      {latest && latest.stack_frames && latest.stack_frames.length > 0 && !(latest.error && latest.error.frames && latest.error.frames.length) && (
        <section aria-labelledby="stack-title">
          <h2 id="stack-title">
            Stack of the latest event {latest.error && latest.error.type ? `(${latest.error.type})` : ""}
          </h2>
          <ol class="frames">
            {latest.stack_frames.map((f) => (
              <li class={f.in_app ? "in-app" : "lib"}>
                <code>{f.function || "(anonymous)"}</code> <span class="module">{f.module}</span>
                {!f.in_app && <span class="badge">library</span>}
              </li>
            ))}
          </ol>
          <details>
            <summary>Raw stack</summary>
            <pre>{latest.error && latest.error.stack}</pre>
          </details>
        </section>
      )}
      {Object.keys(tags).length > 0 && (
        <section aria-labelledby="tags-title">
          <h2 id="tags-title">Tags</h2>
          <ul class="tags">
            {Object.entries(tags).map(([k, values]) => (
              <li>
                <code>{k}</code>: {[...values].join(", ")}
              </li>
            ))}
          </ul>
        </section>
      )}
      <Merged group={group} onChange={update} onError={setError} />
      <section aria-labelledby="recent-title">
        <h2 id="recent-title">Recent events</h2>
        <ul class="events">
          {group.events.map((e) => (
            <EventRow key={e.id} e={e} />
          ))}
        </ul>
      </section>
      <History fingerprint={group.fingerprint} version={version} onError={setError} />
    </article>
  );
}

/** JavaScript frames after source maps: the original file, line and function with a few lines
 *  of source around it; the minified frame on demand; why a frame kept its minified place. */
function SourceFrames({ error }) {
  const [raw, setRaw] = useState(false);
  const status = error.symbolication ? error.symbolication.status : "unsymbolicated";
  return (
    <section aria-labelledby="source-title">
      <h2 id="source-title">
        Stack of the latest event {error.type ? `(${error.type})` : ""} <span class={`badge symbolication-${status}`}>{status}</span>
      </h2>
      <label class="inline">
        <input type="checkbox" checked={raw} onChange={(e) => setRaw(e.currentTarget.checked)} /> Show minified frames
      </label>
      <ol class="frames source">
        {error.frames.map((f) => (
          <li class={f.in_app ? "in-app" : "lib"}>
            <code>{f.function || "(anonymous)"}</code>{" "}
            <span class="module">
              {f.file}:{f.line}:{f.column}
            </span>
            {!f.in_app && <span class="badge">library</span>}
            {f.context_line !== undefined && f.context_line !== null && (
              <pre class="context">
                {(f.pre_context || []).map((l, i) => (
                  <span class="ctx">{`${f.line - f.pre_context.length + i}  ${l}\n`}</span>
                ))}
                <mark>{`${f.line}  ${f.context_line}\n`}</mark>
                {(f.post_context || []).map((l, i) => (
                  <span class="ctx">{`${f.line + 1 + i}  ${l}\n`}</span>
                ))}
              </pre>
            )}
            {raw && f.minified && (
              <p class="minified">
                minified: <code>{f.minified.function || "(anonymous)"}</code> {f.minified.url}:{f.minified.line}:{f.minified.column}
              </p>
            )}
            {f.unmapped && <p class="unmapped">{f.unmapped}</p>}
          </li>
        ))}
      </ol>
      {error.symbolication && error.symbolication.reasons && error.symbolication.reasons.length > 0 && (
        <details>
          <summary>Why some frames are not mapped</summary>
          <ul>
            {error.symbolication.reasons.map((r) => (
              <li>{r}</li>
            ))}
          </ul>
        </details>
      )}
      <details>
        <summary>Raw stack</summary>
        <pre>{error.raw_stack || error.stack}</pre>
      </details>
    </section>
  );
}
