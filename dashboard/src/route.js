// The dashboard's place is the URL's hash (`#/groups?query=…`): views move with `navigate`,
// the shell follows with `useRoute`. Its own module, so that views and the shell both import it
// and neither imports the other.
import { useEffect, useState } from "preact/hooks";

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] || "live", arg: parts[1], params: new URLSearchParams(qs) };
}

export function navigate(view, arg, params) {
  const qs = params && params.toString();
  location.hash = `#/${view}${arg ? `/${encodeURIComponent(arg)}` : ""}${qs ? `?${qs}` : ""}`;
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

