// The live feed: polls the newest page with the chosen filters every two seconds and prepends
// what is new (by id), so events posted after load appear without a reload. Pausable.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { Level, Time, ErrorNote, Empty, LevelSelect, Field } from "../ui.jsx";

const POLL_MS = 2000;
const KEEP = 200;
/** Row height in px (style.css .event): live rows are placed by transform, not by flow. */
const ROW_PX = 36;

export function EventRow({ e, fresh, index }) {
  // In the live feed each row sits at its index by transform: a new event at the top moves
  // the others down without a layout shift, and they glide rather than jump.
  const style = index === undefined ? undefined : { transform: `translateY(${index * ROW_PX}px)` };
  return (
    <li class={`event${fresh ? " fresh" : ""}`} style={style}>
      <Level level={e.level} />
      <span class="when">
        <Time iso={e.received_at} />
      </span>
      <a class="msg" href={e.fingerprint ? `#/groups/${encodeURIComponent(e.fingerprint)}` : undefined} title={e.message}>
        {e.message}
      </a>
      <span class="meta">
        {[e.environment, e.service, e.component, e.route].filter(Boolean).join(" · ")}
      </span>
    </li>
  );
}

export function LiveFeed() {
  const [filters, setFilters] = useState({ min_level: "", environment: "", service: "", q: "" });
  const [events, setEvents] = useState([]);
  const [fresh, setFresh] = useState(new Set());
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState(null);
  const [loaded, setLoaded] = useState(false);
  // More new events than one poll holds: the feed skipped some (Search has them all).
  const [skipped, setSkipped] = useState(false);
  const known = useRef(new Set());

  useEffect(() => {
    known.current = new Set();
    setEvents([]);
    setLoaded(false);
    setSkipped(false);
  }, [filters]);

  useEffect(() => {
    if (paused) return undefined;
    let stop = false;
    let timer;
    const controller = new AbortController();
    async function poll() {
      try {
        const page = await api(`/v1/logs?${query({ ...filters, limit: 50 })}`, { signal: controller.signal });
        if (stop) return;
        const first = known.current.size === 0;
        const incoming = page.logs.filter((e) => !known.current.has(e.id));
        if (!first && incoming.length === page.logs.length && page.next_cursor) setSkipped(true);
        incoming.forEach((e) => known.current.add(e.id));
        if (incoming.length) {
          setEvents((old) => [...incoming, ...old].slice(0, KEEP));
          setFresh(first ? new Set() : new Set(incoming.map((e) => e.id)));
        }
        setError(null);
        setLoaded(true);
      } catch (e) {
        if (e.name !== "AbortError" && !stop) setError(e);
      }
      if (!stop) timer = setTimeout(poll, POLL_MS);
    }
    poll();
    return () => {
      stop = true;
      controller.abort();
      clearTimeout(timer);
    };
  }, [filters, paused]);

  const set = (k) => (e) => setFilters({ ...filters, [k]: e.currentTarget.value });
  return (
    <section aria-labelledby="live-title">
      <div class="bar">
        <h1 id="live-title">Live feed</h1>
        <span class={`status-dot ${paused ? "paused" : "on"}`} aria-live="polite">
          {paused ? "paused" : "live"}
        </span>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Feed filters">
        <LevelSelect label="Min level" name="min_level" value={filters.min_level} onChange={set("min_level")} />
        <Field label="Environment" value={filters.environment} onChange={set("environment")} placeholder="production" />
        <Field label="Service" value={filters.service} onChange={set("service")} />
        <Field label="Text" type="search" value={filters.q} onChange={set("q")} placeholder="timeout" />
      </form>
      <ErrorNote error={error} />
      <p class="hint" aria-live="polite">
        {skipped ? (
          <span>
            Events arrived faster than the feed shows; <a href="#/search">Search</a> has every one.
          </span>
        ) : (
          "\u00a0"
        )}
      </p>
      {loaded && events.length === 0 ? <Empty>No events yet for these filters.</Empty> : null}
      <ul class="events live" style={{ height: `${Math.max(events.length, 10) * ROW_PX}px` }} aria-label="Events, newest first" aria-live={paused ? "off" : "polite"}>
        {events.map((e, i) => (
          <EventRow key={e.id} e={e} fresh={fresh.has(e.id)} index={i} />
        ))}
      </ul>
    </section>
  );
}
