import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, session } from "./api.js";
import { useRoute } from "./route.js";
import { ErrorNote } from "./ui.jsx";
import { LiveFeed } from "./views/live.jsx";
import { Groups } from "./views/groups.jsx";
import { GroupPage } from "./views/group.jsx";
import { Search } from "./views/search.jsx";
import { Stats } from "./views/stats.jsx";
import { Alerts } from "./views/alerts.jsx";
import { Releases, ReleasePage } from "./views/releases.jsx";
import { Usage } from "./views/usage.jsx";
import "./style.css";

const NAV = [
  ["live", "Live"],
  ["groups", "Groups"],
  ["releases", "Releases"],
  ["search", "Search"],
  ["stats", "Stats"],
  ["alerts", "Alerts"],
  ["usage", "Usage"],
];

function useTheme() {
  const [theme, setTheme] = useState(() => localStorage.getItem("edge-logger:theme") || "auto");
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("edge-logger:theme", theme);
    // Canvas charts cannot follow CSS variables: they redraw on this.
    dispatchEvent(new Event("edge-logger:theme"));
  }, [theme]);
  return [theme, () => setTheme({ auto: "dark", dark: "light", light: "auto" }[theme])];
}

function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api("/v1/logs?limit=1", { key: key.trim() });
      session.set(key.trim());
      onSignedIn();
    } catch (err) {
      setError(err.status === 401 ? { message: "That key is not known to this logger." } : err.status === 403 ? { message: "That key cannot read (it needs the read scope)." } : err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin">
      <h1>edge-logger</h1>
      <form onSubmit={submit}>
        <label for="key">API key with the read scope</label>
        <input id="key" name="key" type="password" autocomplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} required autofocus />
        <p class="hint">Kept in this tab only (sessionStorage); closing the tab signs you out.</p>
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(() => Boolean(session.key));
  const route = useRoute();
  const [theme, nextTheme] = useTheme();
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const current = route.view === "group" ? "groups" : route.view;
  let view;
  switch (route.view) {
    case "groups":
      view = route.arg ? <GroupPage fingerprint={route.arg} /> : <Groups params={route.params} />;
      break;
    case "releases":
      view = route.arg ? <ReleasePage release={route.arg} /> : <Releases />;
      break;
    case "search":
      view = <Search params={route.params} />;
      break;
    case "stats":
      view = <Stats params={route.params} />;
      break;
    case "alerts":
      view = <Alerts />;
      break;
    case "usage":
      view = <Usage />;
      break;
    default:
      view = <LiveFeed params={route.params} />;
  }
  return (
    <div class="shell">
      <header>
        <a class="brand" href="#/live">
          edge-logger
        </a>
        <nav aria-label="Views">
          {NAV.map(([id, label]) => (
            <a href={`#/${id}`} aria-current={current === id ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="tools">
          <button type="button" class="ghost" onClick={nextTheme} title="Theme: auto follows the system">
            Theme: {theme}
          </button>
          <button
            type="button"
            class="ghost"
            onClick={() => {
              session.clear();
              setSignedIn(false);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{view}</main>
    </div>
  );
}

render(<App />, document.getElementById("app"));
