// The live feed: the newest page on load, then every matching event as it is accepted, over
// the live tail's WebSocket (a ticket from POST /v1/tail/ticket opens it: a browser cannot
// set headers on a socket). If the socket cannot open or drops, the feed polls the newest
// page every two seconds and tries the socket again, resuming from the last cursor so no event
// is missed. Pause holds new events back (counted); Clear empties the list; a tail over its
// rate reports what it dropped.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { Level, Time, ErrorNote, Empty, Field } from "../ui.jsx";

const POLL_MS = 2000;
const RETRY_SOCKET_MS = 15000;
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

/** The page order of /v1/logs, whichever way an event came (page or socket). */
const order = (e) => `${e.received_at}_${e.id}`;
const newestFirst = (list) => list.sort((a, b) => (order(a) < order(b) ? 1 : -1)).slice(0, KEEP);

export function LiveFeed({ params }) {
  const initial = (params && params.get("query")) || "";
  const [draft, setDraft] = useState(initial);
  const [search, setSearch] = useState(initial);
  const [events, setEvents] = useState([]);
  const [fresh, setFresh] = useState(new Set());
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [dropped, setDropped] = useState(0);
  const [mode, setMode] = useState("connecting");
  const [error, setError] = useState(null);
  const [loaded, setLoaded] = useState(false);
  const known = useRef(new Set());
  const pausedRef = useRef(false);
  const holding = useRef([]);

  /** New events at the top (deduplicated by id), or held while paused. */
  function add(incoming, first = false) {
    incoming = incoming.filter((e) => !known.current.has(e.id));
    if (!incoming.length) return;
    incoming.forEach((e) => known.current.add(e.id));
    if (pausedRef.current) {
      holding.current = [...incoming, ...holding.current].slice(0, KEEP);
      setHeld(holding.current.length);
      return;
    }
    setEvents((old) => newestFirst([...incoming, ...old]));
    setFresh(first ? new Set() : new Set(incoming.map((e) => e.id)));
  }

  useEffect(() => {
    pausedRef.current = paused;
    if (!paused && holding.current.length) {
      const back = holding.current;
      holding.current = [];
      setHeld(0);
      setEvents((old) => newestFirst([...back, ...old]));
      setFresh(new Set(back.map((e) => e.id)));
    }
  }, [paused]);

  useEffect(() => {
    known.current = new Set();
    holding.current = [];
    setEvents([]);
    setHeld(0);
    setDropped(0);
    setLoaded(false);
    let stop = false;
    let socket = null;
    let timer = null;
    let retry = null;
    let cursor = "";
    let streaming = false;
    const controller = new AbortController();
    const newest = () => api(`/v1/logs?${query({ query: search, limit: 50 })}`, { signal: controller.signal });

    async function poll() {
      try {
        const page = await newest();
        if (stop) return;
        add(page.logs, known.current.size === 0);
        setError(null);
        setLoaded(true);
      } catch (e) {
        if (e.name !== "AbortError" && !stop) setError(e);
      }
      if (!stop && !streaming) timer = setTimeout(poll, POLL_MS);
    }

    function fallBack() {
      if (stop) return;
      streaming = false;
      setMode("polling");
      clearTimeout(timer);
      timer = setTimeout(poll, POLL_MS);
      clearTimeout(retry);
      retry = setTimeout(open, RETRY_SOCKET_MS);
    }

    async function open() {
      try {
        const { ticket } = await api("/v1/tail/ticket", { method: "POST", body: {}, signal: controller.signal });
        if (stop) return;
        const url = new URL("/v1/tail", location.href);
        url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
        url.search = query({ ticket, query: search, cursor });
        socket = new WebSocket(url);
      } catch (e) {
        if (e.name !== "AbortError" && !stop) fallBack();
        return;
      }
      socket.onmessage = (m) => {
        const frame = JSON.parse(m.data);
        if (frame.cursor) cursor = frame.cursor;
        if (frame.type === "hello") {
          streaming = true;
          clearTimeout(timer);
          setMode("streaming");
          setError(null);
        } else if (frame.type === "events") {
          add(frame.events.slice().reverse());
          if (frame.dropped) setDropped((d) => d + frame.dropped);
        }
      };
      socket.onclose = (c) => {
        socket = null;
        if (stop) return;
        if (c.code === 4001) setError({ message: "This key was revoked: the live feed stopped." });
        else fallBack();
      };
    }

    // The stream first, then the newest page beside it (events in both are shown once), so
    // nothing accepted between the two is missed.
    setMode("connecting");
    open();
    newest()
      .then((page) => {
        if (stop) return;
        add(page.logs, known.current.size === 0);
        setLoaded(true);
      })
      .catch((e) => {
        if (e.name !== "AbortError" && !stop) setError(e);
      });
    return () => {
      stop = true;
      controller.abort();
      clearTimeout(timer);
      clearTimeout(retry);
      if (socket) socket.close(1000, "left the view");
    };
  }, [search]);

  function apply(e) {
    e.preventDefault();
    // In the same render as the new search: "streaming" is never shown for the old socket.
    if (draft.trim() !== search) setMode("connecting");
    setSearch(draft.trim());
    history.replaceState(null, "", `#/live${draft.trim() ? `?${query({ query: draft.trim() })}` : ""}`);
  }

  return (
    <section aria-labelledby="live-title">
      <div class="bar">
        <h1 id="live-title">Live feed</h1>
        <span class={`status-dot ${paused ? "paused" : "on"}`} aria-live="polite">
          {paused ? "paused" : "live"}
        </span>
        <span class="mode" title={mode === "streaming" ? "Events arrive over the live tail's WebSocket" : "The socket is not open: the newest page is fetched every two seconds"}>
          {mode}
        </span>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
        <button
          type="button"
          class="ghost"
          onClick={() => {
            setEvents([]);
            holding.current = [];
            setHeld(0);
            setDropped(0);
          }}
        >
          Clear
        </button>
      </div>
      <form class="filters" onSubmit={apply} aria-label="Feed filter">
        <Field label="Search" name="query" type="search" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} placeholder="level:>=error service:checkout !env:staging" />
      </form>
      <ErrorNote error={error} />
      <p class="hint" aria-live="polite">
        <span class="counter">{held ? `${held} new while paused` : "\u00a0"}</span>{" "}
        <span class="counter dropped">{dropped ? `${dropped} dropped (more than the tail's rate; Search has every one)` : ""}</span>
      </p>
      {loaded && events.length === 0 ? <Empty>No events yet for this search.</Empty> : null}
      <ul class="events live" style={{ height: `${Math.max(events.length, 10) * ROW_PX}px` }} aria-label="Events, newest first" aria-live={paused ? "off" : "polite"}>
        {events.map((e, i) => (
          <EventRow key={e.id} e={e} fresh={fresh.has(e.id)} index={i} />
        ))}
      </ul>
    </section>
  );
}
