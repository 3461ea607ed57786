// Compiled by `tsc --noEmit --strict` in `npm test` (never run): the published types must accept
// what the README shows and refuse what is wrong.
import createLoggerDefault, { createLogger, type Logger, type LoggerStats } from "../src/index.js";

const log: Logger = createLogger({
  endpoint: "https://logger.example.com",
  key: "elk_x",
  environment: "production",
  service: "web",
  release: "1.2.3",
  component: "Checkout",
  sampleRate: { debug: 0.1 },
  beforeSend: (e) => (e.level === "debug" ? null : e),
  breadcrumbs: { fetch: false },
});
const id: string | undefined = log.info("hello", { user_id: "u1", tags: { plan: "pro" }, cart_items: 3 });
log.captureException(new Error("x"), { level: "critical", component: "Pay" });
log.captureException("anything can be thrown");
log.child({ request_id: "r" }).warn("slow");
const stats: LoggerStats = log.stats();
const dropped: number = stats.dropped;
void log.flush({ timeoutMs: 5000 }).then((r) => r.pending + r.sent);
void createLoggerDefault;
void id;
void dropped;

// @ts-expect-error: the key is required
createLogger({ endpoint: "https://x" });
// @ts-expect-error: not a level
log.captureException(new Error("x"), { level: "fatal" });
// @ts-expect-error: messages are strings
log.info(42);
