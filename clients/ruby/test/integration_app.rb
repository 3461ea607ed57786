# frozen_string_literal: true

# An app for tests/clients.test.mjs: sends what MODE says to URL with KEY, tagged RUN.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "edge_logger"

mode, url, key, run = ARGV
# Quick retries so a dropped answer or a down worker is retried soon; a long interval so only
# full batches, flushes and the exit send anything.
options = { flush_interval: 600, retry_base: 0.2, retry_max: 2.0, max_attempts: 20, exit_timeout: 30 }

def charge_card(amount)
  raise ArgumentError, "amount must be positive" if amount <= 0
end

case mode
when "batch", "down"
  logger = EdgeLogger.new(endpoint: url, key: key, service: "rb-worker", **options)
  500.times { |i| EdgeLogger.log("item.processed", { n: i }, event_id: "#{run}-#{i}", tags: { "workflow_id" => run }) }
  if mode == "down"
    puts "queued"
    $stdout.flush
    ok = logger.flush(120) # the app keeps running while the worker is away
    puts "flushed #{ok} #{logger.stats}"
  end
when "exception"
  logger = EdgeLogger.new(endpoint: url, key: key, service: "rb-api", environment: "production", **options)
  3.times do |attempt|
    charge_card(-attempt)
  rescue ArgumentError => e
    logger.capture_exception(e, tags: { "run" => run }, context: { "attempt" => attempt })
  end
when "exit"
  logger = EdgeLogger.new(endpoint: url, key: key, service: "rb-exit", **options)
  3.times { |i| logger.event("on the way out #{i}", {}, tags: { "run" => run }, level: "warn") }
end
# No flush: what is queued leaves at exit.
